"""The only places veo-mcp touches the MCP SDK's private attributes, each because no public seam exists (mcp 2.3).

Everything else goes through public API: tools via `MCPServer(tools=...)`, resource changes via the
`SubscriptionBus` passed as `subscriptions=`, argument checks and session tracking as `middleware=`,
questions to the client through resolver markers. `tests/mcp/test_sdk_seams.py` pins each touch below so an SDK
upgrade that moves one fails loudly there instead of silently dropping notifications.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.connection import Connection
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.session import ServerSession
from pydantic import BaseModel

LegacyHandler = Callable[[Any, Any], Awaitable[Any]]


def connection_of(session: ServerSession) -> Connection:
    """The client connection behind a request's session.

    `ServerSession` is a per-request proxy; change notifications to 2025-era clients must outlive the request, and
    one client must be recognised across its requests, so we keep its connection. The SDK has no public accessor
    for it on the request context (`Context.connection` exists only on the low-level context the runner does not
    build yet).
    """
    connection: Connection = session._connection  # private: ServerSession's connection (mcp 2.3)
    return connection


def add_legacy_method(server: MCPServer, method: str, params_type: type[BaseModel], handler: LegacyHandler) -> None:
    """Serve a spec method the 2026 revision removed (`resources/subscribe`, `logging/setLevel`) for 2025-era
    clients. The SDK's docs name the low-level `Server.add_request_handler` for exactly this; `MCPServer` keeps
    its low-level server private and extensions may not bind spec methods."""
    lowlevel = server._lowlevel_server  # private: MCPServer's low-level server (mcp 2.3)
    lowlevel.add_request_handler(method, params_type, handler)


def advertise_resource_list_changes(server: MCPServer) -> None:
    """Make every transport announce `resources.listChanged` to 2025-era clients.

    The low-level server takes this flag only as an argument of `create_initialization_options`, which
    `MCPServer`'s transports call without it; on 2026-07-28 the flag derives from `subscriptions/listen` anyway.
    """
    lowlevel = server._lowlevel_server  # private: MCPServer's low-level server (mcp 2.3)
    original: Callable[..., Any] = lowlevel.create_initialization_options

    def with_list_changes(notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any) -> Any:
        return original(notification_options or NotificationOptions(resources_changed=True), *args, **kwargs)

    lowlevel.create_initialization_options = with_list_changes  # type: ignore[method-assign]  # private (mcp 2.3)


def open_http_sessions(server: MCPServer) -> int:
    """How many streamable-HTTP sessions are open (the metrics' active sessions). The session manager keeps them in
    a private dict and offers no count."""
    return len(open_http_session_ids(server))


def open_http_session_ids(server: MCPServer) -> set[str]:
    """The ids of the open streamable-HTTP sessions (the session manager offers no public view of them)."""
    manager = server.session_manager
    return set(manager._server_instances)  # private: StreamableHTTPSessionManager's sessions (mcp 2.3)


async def end_http_session(server: MCPServer, session_id: str) -> None:
    """Close one streamable-HTTP session now, as the manager closes an idle one: its id answers 404 from then on and
    its streams end. The SDK ends a session only on the client's DELETE or its idle timeout."""
    manager = server.session_manager
    transport = manager._server_instances.get(session_id)  # private (mcp 2.3)
    if transport is not None:
        await manager._discard_session(session_id, transport)  # private (mcp 2.3)


async def run_on_streams(server: MCPServer, read_stream: Any, write_stream: Any) -> None:
    """Serve `server` on streams a transport opened: what `MCPServer.run_stdio_async` does after opening its own.

    veo-mcp opens stdio with a stdin reader Ctrl-C can interrupt (`veo_mcp.mcp.stdio`); `run_stdio_async` takes no
    streams, and the low-level server that runs on them is private.
    """
    lowlevel = server._lowlevel_server  # private: MCPServer's low-level server (mcp 2.3)
    await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
