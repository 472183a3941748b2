"""Middleware around every MCP request (the SDK's public `middleware=` seam).

- `SessionTracking` remembers every client connection it sees, so 2025-era clients hear list changes and logs.
- `UnknownArguments` refuses a `tools/call` whose arguments the tool does not declare. The SDK's argument models
  ignore extra keys, so a misspelt `durration: 8` would silently become the default 4 s video - and be paid for.
  Checked against each tool's published schema (which says `additionalProperties: false`), naming the closest real
  argument.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types import CallToolResult, TextContent

from veo_mcp.mcp.notifications import Watchers
from veo_mcp.mcp.sdk_seams import connection_of


class SessionTracking:
    def __init__(self, watchers: Watchers) -> None:
        self._watchers = watchers

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.request_id is not None:
            self._watchers.seen(connection_of(ctx.session))
        return await call_next(ctx)


def unknown_argument_message(tool: str, given: Mapping[str, Any], declared: list[str]) -> str | None:
    """The refusal for the first argument `tool` does not declare, or None when all are known."""
    for key in given:
        if key not in declared:
            close = difflib.get_close_matches(key, declared, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            return f"{tool} has no argument '{key}'.{hint} Its arguments are: {', '.join(declared)}. Nothing was sent."
    return None


class UnknownArguments:
    def __init__(self, declared: Mapping[str, list[str]]) -> None:
        self._declared = declared  # tool name → its argument names, sorted

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and isinstance(ctx.params, Mapping):
            name, arguments = ctx.params.get("name"), ctx.params.get("arguments")
            declared = self._declared.get(name) if isinstance(name, str) else None
            if declared is not None and isinstance(arguments, Mapping):
                message = unknown_argument_message(str(name), arguments, declared)
                if message is not None:
                    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)
        return await call_next(ctx)
