"""Everything `veo-mcp serve` serves over streamable HTTP, built in one place: the SDK's app with the per-user session
cap, health, readiness and metrics, signed file links, the Host and Origin check on every route and EvoLink's
callbacks. The command adds only what a process needs (signals, its announcement); the tests serve this same stack
in their own process, so what they prove is what runs."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import anyio
import uvicorn
from starlette.middleware import Middleware

from veo_mcp.delivery import FILES_PATH
from veo_mcp.delivery.links import listening_base
from veo_mcp.mcp.callbacks import with_callbacks
from veo_mcp.mcp.connections import ACCEPT_BATCH, ConnectionLimits
from veo_mcp.mcp.files import with_files
from veo_mcp.mcp.http_security import HostCheck, is_loopback, transport_security
from veo_mcp.mcp.http_sessions import PrincipalSessions, SessionGate
from veo_mcp.mcp.operations import PROBE_PATHS, Metrics, MetricsAccess, metrics_endpoint, with_operations

if TYPE_CHECKING:
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer
    from starlette.types import ASGIApp, Receive, Scope, Send

    from veo_mcp.app import App
    from veo_mcp.mcp.auth import PrincipalVerifier
    from veo_mcp.settings import Settings

# On a stop, requests under way get this long to finish (an open event stream is cut then).
GRACEFUL_S = 5


class HttpStack:
    """The served app of one server on one listening socket, and the uvicorn configuration that serves it."""

    def __init__(
        self,
        server: MCPServer,
        app: App,
        settings: Settings,
        host: str,
        listener: socket.socket,
        auth: tuple[AuthSettings, PrincipalVerifier] | None,
    ) -> None:
        security = transport_security(host, settings)
        http_app = server.streamable_http_app(
            host=host,
            transport_security=security,
            max_sessions=settings.http_max_sessions,
            session_idle_timeout=settings.http_session_idle_s,
        )
        # Inside the SDK's bearer middleware (it names the principal): the per-user session cap, and what `cut` ends.
        self.sessions = PrincipalSessions(server, settings.sessions_per_user)
        http_app.user_middleware.append(Middleware(SessionGate, sessions=self.sessions))
        # /metrics behind the same tokens as /mcp (unless VEO_MCP_METRICS_PUBLIC); health, readiness and signed video
        # links need none.
        metrics = metrics_endpoint(Metrics(app, server), MetricsAccess(app, auth[1] if auth is not None else None))
        # Host and Origin on every route (the SDK checks /mcp only); EvoLink's callbacks come from outside, and are
        # admitted by the secret in their path.
        checked = HostCheck(
            with_files(with_operations(http_app, app, metrics), app.links),
            security,
            (FILES_PATH,),
            PROBE_PATHS,
            probes_by_address=not is_loopback(host),
        )
        asgi = with_callbacks(checked, app)

        async def served(scope: Scope, receive: Receive, send: Send) -> None:
            """What uvicorn serves: a plain function that needs its three arguments. uvicorn first calls an app with
            none to see whether it is a factory; an object or method whose call takes any arguments (as a wrapped
            one does under a mutation run) would pass for one."""
            await asgi(scope, receive, send)

        self.served: ASGIApp = served
        self._app = app
        if app.links is not None:
            app.links.serve_at(listening_base(host, listener.getsockname()[1]))
            checked.allow(app.links.base)
        checked.allow(settings.public_url)
        limits = ConnectionLimits(
            settings.http_header_timeout_s, settings.http_body_timeout_s, settings.http_max_connections_per_client
        )
        # In JSON mode uvicorn logs through our handlers (its own config would print text lines).
        log_config = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG
        self.config = uvicorn.Config(
            served,
            interface="asgi3",
            host=host,
            log_level="warning",
            lifespan="on",
            log_config=log_config,
            http=limits.protocol(),
            backlog=ACCEPT_BATCH,
            timeout_graceful_shutdown=GRACEFUL_S,
        )

    async def serve(self, http: uvicorn.Server, listener: socket.socket) -> None:
        """Serve on `listener` until `http` is asked to exit (`should_exit`); the session reaper runs alongside. The
        listener is closed when it returns."""
        with listener:
            async with anyio.create_task_group() as group:
                group.start_soon(self.sessions.run, self._app.users)
                await http.serve(sockets=[listener])
                group.cancel_scope.cancel()
