"""`veo-mcp serve`: build the service and MCP server, then run it over stdio or streamable HTTP (which says on stderr
where it listens and whether a token is required)."""

from __future__ import annotations

import logging
import socket
import warnings

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

from veo_mcp.app import App
from veo_mcp.cli.logs import configure_logging, say
from veo_mcp.cli.output import CommandFailed
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings, load_settings

logger = logging.getLogger("veo_mcp")


def _announce(app: App, settings: Settings) -> None:
    """One line on stderr (stdout belongs to the protocol) saying what this server talks to."""
    if app.simulated:
        where = "the built-in simulator" if settings.base_url.endswith("api.evolink.ai") else settings.base_url
        say(f"veo-mcp: SIMULATED mode, upstream is {where}; videos are test patterns, nothing is billed.")
    elif not app.configured:
        say("veo-mcp: no EVOLINK_API_KEY set; tools will explain how to set it (or run with --simulate).")
    else:
        say(f"veo-mcp: using EvoLink at {settings.base_url}; videos go to {settings.output_dir}.")


def run_server(*, transport: str, host: str, port: int, simulate: bool) -> None:
    # Most clients in use speak 2025-era MCP; serving them (legacy subscriptions, logging) is deliberate.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    settings = load_settings({"simulate": "--simulate"}, simulate=True if simulate else None)
    configure_logging(settings)
    if transport != "stdio":
        from veo_mcp.mcp.http_security import HttpSecurityError, require_safe_binding

        try:
            require_safe_binding(host, settings)
        except HttpSecurityError as error:
            say(f"veo-mcp: {error}")
            raise SystemExit(2) from None
    app = App(settings, serves_http=transport != "stdio")
    server = create_server(app)
    _announce(app, settings)
    if app.callback_base is not None:
        say(f"veo-mcp: EvoLink calls back at {app.callback_base} (VEO_MCP_PUBLIC_URL).")
    elif settings.public_url is not None:
        say("veo-mcp: VEO_MCP_PUBLIC_URL is ignored over stdio (callbacks need the HTTP transport).")

    async def main() -> None:
        async with app.running():
            if transport == "stdio":
                await server.run_stdio_async()
            else:
                await _serve_http(server, app, settings, host, port)

    anyio.run(main)


def endpoint_line(url: str, settings: Settings, host: str) -> str:
    """Where the HTTP server listens and what a client must send."""
    if settings.http_token is not None:
        access = "clients must send 'Authorization: Bearer <VEO_MCP_HTTP_TOKEN>'"
    else:
        access = "no token required (loopback only)"
    where = " (all interfaces: use this machine's name or address)" if host in ("0.0.0.0", "::") else ""  # noqa: S104
    return f"veo-mcp: MCP endpoint {url}{where}; {access}."


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bound here, not by uvicorn, so the endpoint (port 0 included) is known before the first request."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(2048)  # connections queue from now on: the endpoint line it prints is already true
    except OSError as error:
        listener.close()
        raise CommandFailed(f"cannot listen on {host}:{port}: {error.strerror or error}; use another --port.") from None
    return listener


async def _serve_http(server: MCPServer, app: App, settings: Settings, host: str, port: int) -> None:
    import uvicorn  # only the HTTP transport needs it

    from veo_mcp.delivery.links import listening_base
    from veo_mcp.mcp.callbacks import with_callbacks
    from veo_mcp.mcp.files import with_files
    from veo_mcp.mcp.http_security import secured_app, transport_security
    from veo_mcp.mcp.operations import Metrics, metrics_endpoint, with_operations

    http_app = server.streamable_http_app(
        host=host,
        transport_security=transport_security(host, settings),
        max_sessions=settings.http_max_sessions,
        session_idle_timeout=settings.http_session_idle_s,
    )
    # /metrics behind the same check as /mcp (unless VEO_MCP_METRICS_PUBLIC); health, readiness and signed video
    # links need none.
    metrics = metrics_endpoint(Metrics(app, server))
    operated = with_operations(
        secured_app(http_app, settings), app, metrics if settings.metrics_public else secured_app(metrics, settings)
    )
    asgi = with_callbacks(with_files(operated, app.links), app)
    # In JSON mode uvicorn logs through our handlers (its own config would print text lines).
    log_config = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", lifespan="on", log_config=log_config)
    listener = _listening_socket(host, port)
    if app.links is not None:
        app.links.serve_at(listening_base(host, listener.getsockname()[1]))
    address = f"[{host}]" if ":" in host else host
    url = f"http://{address}:{listener.getsockname()[1]}/mcp"
    say(endpoint_line(url, settings, host))
    with listener:
        await uvicorn.Server(config).serve(sockets=[listener])
