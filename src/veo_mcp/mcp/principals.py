"""Whom a request acts for: the principal of its accepted token, else the local user (stdio, an open loopback).

Apart from `veo_mcp.mcp.auth` (which checks tokens with PyJWT and cryptography, over HTTP only) so that a stdio
server never imports what it never uses.
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from veo_mcp.context import LOCAL_PRINCIPAL, about_task, acting_as


class PrincipalToken(AccessToken):
    """An accepted token and the principal it acts for (the SDK keeps extra fields of an AccessToken subclass)."""

    principal: str


def principal_of(ctx: ServerRequestContext[Any, Any]) -> str:
    """The principal an MCP request acts for: its accepted token's, else the local user (stdio, open loopback)."""
    scope = getattr(ctx.request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    token = user.access_token if isinstance(user, AuthenticatedUser) else get_access_token()
    return token.principal if isinstance(token, PrincipalToken) else LOCAL_PRINCIPAL


def task_of(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The generation a tool call names (its `task_id` argument), for log lines."""
    params = ctx.params if ctx.method == "tools/call" and isinstance(ctx.params, dict) else {}
    arguments = params.get("arguments")
    task_id = arguments.get("task_id") if isinstance(arguments, dict) else None
    return task_id if isinstance(task_id, str) else None


class PrincipalScope:
    """Server middleware (first in the chain): the whole request, tools, resources, tasks and subscriptions alike,
    runs as its principal (and, for a tool call naming a generation, about that generation)."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        with acting_as(principal_of(ctx)), about_task(task_of(ctx)):
            return await call_next(ctx)
