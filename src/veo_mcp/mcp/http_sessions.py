"""What each principal holds on the HTTP server: its MCP sessions (2025 era) and its requests in flight.

Why: one user must not take every session the server keeps (`VEO_MCP_HTTP_MAX_SESSIONS_PER_USER`, by default a tenth
of `VEO_MCP_HTTP_MAX_SESSIONS`, beside it), and a user removed from the users file (or given a new token) must stop
hearing anything at that reload: the SDK checks the token at each request, but an open GET stream (2025) or listen
stream (2026) is one request that never ends. `SessionGate` is ASGI middleware inside the SDK's bearer middleware
(it reads the principal the token named); `PrincipalSessions.cut` ends every request of theirs in flight and closes
their sessions. The local user (the operator's own token, or an open loopback server) has no per-user cap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.mcp.principals import PrincipalToken
from veo_mcp.mcp.sdk_seams import end_http_session, open_http_session_ids
from veo_mcp.users import UsersFile

logger = logging.getLogger(__name__)

USERS_RECHECK_S = 1.0  # the users file is looked at this often even when nobody calls (revocation needs no request)
_SESSION_HEADER = MCP_SESSION_ID_HEADER.lower().encode()
_VERSION_HEADER = MCP_PROTOCOL_VERSION_HEADER.lower().encode()


def principal_of_scope(scope: Scope) -> str:
    """The principal the SDK's bearer middleware accepted for this HTTP request (the local user without one)."""
    user = scope.get("user")
    token = user.access_token if isinstance(user, AuthenticatedUser) else None
    return token.principal if isinstance(token, PrincipalToken) else LOCAL_PRINCIPAL


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in scope.get("headers", []) if key == name), None)


def opens_session(scope: Scope) -> bool:
    """Whether the SDK would open a new session for this request: a 2025-era request without a session id."""
    version = _header(scope, _VERSION_HEADER)
    return (version is None or version in HANDSHAKE_PROTOCOL_VERSIONS) and _header(scope, _SESSION_HEADER) is None


class PrincipalSessions:
    """Per principal: the sessions opened (ids from the opening answers), the openings under way and the cancel
    scopes of the requests in flight."""

    def __init__(self, server: MCPServer, per_user: int) -> None:
        self._server = server
        self.per_user = per_user
        self._sessions: dict[str, set[str]] = {}
        self._opening: dict[str, int] = {}
        self._requests: dict[str, set[anyio.CancelScope]] = {}
        self._ending: set[str] = set()
        self._wake = anyio.Event()

    def held(self, principal: str) -> int:
        """Sessions `principal` holds now, openings under way included."""
        alive = open_http_session_ids(self._server)
        mine = self._sessions.get(principal, set()) & alive
        self._sessions[principal] = mine
        return len(mine) + self._opening.get(principal, 0)

    def admit(self, principal: str) -> bool:
        """Whether `principal` may open one more session (counted at once, so racing openings cannot all pass)."""
        if principal != LOCAL_PRINCIPAL and self.held(principal) >= self.per_user:
            return False
        self._opening[principal] = self._opening.get(principal, 0) + 1
        return True

    def opened(self, principal: str, session_id: str | None) -> None:
        self._opening[principal] = max(0, self._opening.get(principal, 0) - 1)
        if session_id is not None:
            self._sessions.setdefault(principal, set()).add(session_id)

    @contextmanager
    def request(self, principal: str) -> Iterator[anyio.CancelScope]:
        """The scope one request of `principal` runs in, cancelled when their access ends."""
        scope = anyio.CancelScope()
        self._requests.setdefault(principal, set()).add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._requests.get(principal, set()).discard(scope)

    def cut(self, principals: set[str]) -> None:
        """Access ended for `principals`: their requests in flight end now, their sessions at once after."""
        for principal in principals:
            for scope in list(self._requests.get(principal, ())):
                scope.cancel()
            self._ending |= self._sessions.pop(principal, set())
        logger.warning("access ended for %s: their open streams and sessions are closed", ", ".join(sorted(principals)))
        self._wake.set()

    async def run(self, users: UsersFile | None) -> None:
        """Close the sessions of those whose access ended; look at the users file every `USERS_RECHECK_S`."""
        if users is not None:
            users.revoked.append(self.cut)
        while True:
            with anyio.move_on_after(USERS_RECHECK_S):
                await self._wake.wait()
            self._wake = anyio.Event()
            if users is not None:
                users.refresh()
            ending, self._ending = self._ending, set()
            for session_id in ending:
                await end_http_session(self._server, session_id)


async def _answer(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


class SessionGate:
    """ASGI middleware (inside the SDK's bearer middleware): the per-user session cap, and every request in flight
    kept where `PrincipalSessions.cut` can end it."""

    def __init__(self, app: ASGIApp, sessions: PrincipalSessions) -> None:
        self._app = app
        self._sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        principal = principal_of_scope(scope)
        opening = opens_session(scope)
        if opening and not self._sessions.admit(principal):
            await _answer(
                send,
                429,
                f"You already hold {self._sessions.per_user} MCP sessions, the most one user may keep open on this "
                "server (VEO_MCP_HTTP_MAX_SESSIONS_PER_USER). Close one of your clients' sessions, or wait until an "
                "idle one ends (VEO_MCP_HTTP_SESSION_IDLE); the server's operator sets the limit.",
                [(b"retry-after", b"30")],
            )
            return
        await self._serve(scope, receive, send, principal, opening)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, principal: str, opening: bool) -> None:
        started = finished = False
        session_id: str | None = None

        async def tracked(message: Message) -> None:
            nonlocal started, finished, session_id
            if message["type"] == "http.response.start":
                started = True
                if message["status"] < 400:
                    session_id = next(
                        (v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == _SESSION_HEADER),
                        None,
                    )
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            with self._sessions.request(principal) as cancelled:
                await self._app(scope, receive, tracked)
        finally:
            if opening:
                self._sessions.opened(principal, session_id)
        if cancelled.cancel_called and not finished:
            if started:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await _answer(send, 401, "Your access to this server has ended.")
