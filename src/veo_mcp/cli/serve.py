"""`veo-mcp serve`: build the service and MCP server, then run it over stdio or streamable HTTP (which says on stderr
where it listens and whether a token is required)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

from veo_mcp.app import App
from veo_mcp.cli.logs import configure_logging, say
from veo_mcp.cli.output import CommandFailed
from veo_mcp.cli.stopping import stop_on_signals
from veo_mcp.mcp.server import create_server
from veo_mcp.mcp.stdio import serve_stdio
from veo_mcp.settings import Settings, load_settings
from veo_mcp.users import UsersFileError

if TYPE_CHECKING:
    import uvicorn
    from mcp.server.auth.settings import AuthSettings

    from veo_mcp.mcp.auth import PrincipalVerifier

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
    if settings.users_file is not None and not settings.users_file.expanduser().is_file():
        say(
            f"veo-mcp: VEO_MCP_USERS_FILE names {settings.users_file}, which does not exist, so nobody could sign in "
            f"with a users-file token. Create it (`veo-mcp users add NAME --file {settings.users_file}`) or fix the "
            "path."
        )
        raise SystemExit(2)
    try:
        app = App(settings, serves_http=transport != "stdio")
    except UsersFileError as error:
        say(f"veo-mcp: {error}")
        raise SystemExit(2) from None
    listener, url = (None, "") if transport == "stdio" else _endpoint(host, port)
    auth = None if listener is None else _http_auth(app, url)
    server = create_server(app, auth)
    _announce(app, settings)
    if listener is None and sys.stdin.isatty():
        say(
            "veo-mcp: serving MCP over stdio: an MCP client starts this command itself and talks to it through "
            "stdin and stdout. Ctrl-C stops it."
        )
    if app.callback_base is not None:
        say(f"veo-mcp: EvoLink calls back at {app.callback_base} (VEO_MCP_PUBLIC_URL).")
    elif settings.public_url is not None:
        say("veo-mcp: VEO_MCP_PUBLIC_URL is ignored over stdio (callbacks need the HTTP transport).")

    stop = Stop()

    async def main() -> None:
        async with app.running(), anyio.create_task_group() as group:
            stop.scope = group.cancel_scope
            await group.start(stop_on_signals, stop.request)
            if listener is None:
                await serve_stdio(server)
            else:
                await _serve_http(server, app, settings, host, listener, url, auth, stop)
            group.cancel_scope.cancel()

    anyio.run(main)
    if stop.signal == signal.SIGINT:
        raise KeyboardInterrupt  # stopped cleanly; Ctrl-C still ends as interrupted (exit 130, "stopped.")


class Stop:
    """How a signal stops the transport: stdio is cancelled; uvicorn is asked to shut down (it answers the requests
    under way, for at most `http_stack.GRACEFUL_S`), then returns. `App.running` then stops cleanly either way."""

    def __init__(self) -> None:
        self.scope: anyio.CancelScope | None = None
        self.http: uvicorn.Server | None = None
        self.signal: int | None = None  # the signal that asked for the stop

    def request(self, received: int) -> None:
        self.signal = received
        if self.http is not None:
            self.http.should_exit = True
        elif self.scope is not None:
            self.scope.cancel()


def _endpoint(host: str, port: int) -> tuple[socket.socket, str]:
    listener = _listening_socket(host, port)
    address = f"[{host}]" if ":" in host else host
    return listener, f"http://{address}:{listener.getsockname()[1]}/mcp"


def _http_auth(app: App, url: str) -> tuple[AuthSettings, PrincipalVerifier] | None:
    """Bearer tokens for the HTTP server; the resource it protects is VEO_MCP_PUBLIC_URL's /mcp, else `url`."""
    from veo_mcp.mcp.auth import http_auth

    public = app.settings.public_url
    return http_auth(app, f"{public}/mcp" if public else url)


def endpoint_line(url: str, settings: Settings, host: str) -> str:
    """Where the HTTP server listens and what a client must send."""
    kinds = [
        name
        for name, configured in (
            ("VEO_MCP_HTTP_TOKEN", settings.http_token is not None),
            ("a users-file token", settings.users_file is not None),
            ("an OAuth access token", settings.oauth_issuer is not None),
        )
        if configured
    ]
    if kinds:
        access = f"clients must send 'Authorization: Bearer <{' or '.join(kinds)}>'"
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


async def _serve_http(
    server: MCPServer,
    app: App,
    settings: Settings,
    host: str,
    listener: socket.socket,
    url: str,
    auth: tuple[AuthSettings, PrincipalVerifier] | None,
    stop: Stop,
) -> None:
    from veo_mcp.mcp.connections import OutOfDescriptorsFilter
    from veo_mcp.mcp.http_stack import HttpStack  # only the HTTP transport needs it (and uvicorn)

    stack = HttpStack(server, app, settings, host, listener, auth)
    logging.getLogger("asyncio").addFilter(OutOfDescriptorsFilter())
    logging.getLogger("uvicorn.error").addFilter(_not_an_interruption)
    stop.http = _announced(stack.config, lambda: say(endpoint_line(url, settings, host)))
    await stack.serve(stop.http, listener)


def _announced(config: uvicorn.Config, announce: Callable[[], None]) -> uvicorn.Server:
    """uvicorn that says where it listens once it serves (its start-up done), so a stop after that line is a clean
    one, and leaves SIGTERM and SIGINT to `cli.stopping` (uvicorn would re-raise the signal once shut down, killing
    the process before the app's clean stop)."""
    import uvicorn

    class Announced(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                announce()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Announced(config)


def _not_an_interruption(record: logging.LogRecord) -> bool:
    """uvicorn logs a start-up cut short by Ctrl-C as an error with a traceback; it is only the stop asked for."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, KeyboardInterrupt | asyncio.CancelledError)
