"""Who may talk to the streamable-HTTP server: loopback by default, a bearer token beyond it, Host/Origin checked.

Why: the HTTP transport puts a paid API behind a port. On loopback, the SDK's DNS-rebinding protection (Host and
Origin must name this machine) stops web pages from reaching it through a browser. On any other address anyone on
the network could spend the user's credit, so a token is required and compared in constant time.
"""

from __future__ import annotations

import hmac
import json

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from veo_mcp.evolink.addresses import is_loopback_host
from veo_mcp.settings import Settings

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class HttpSecurityError(Exception):
    """The HTTP server must not start with this configuration."""


def is_loopback(host: str) -> bool:
    return is_loopback_host(host)


def transport_security(host: str, settings: Settings) -> TransportSecuritySettings:
    """Host/Origin allow-lists: this machine's loopback names, the bound host, and VEO_MCP_ALLOWED_HOSTS."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):  # noqa: S104 - names, not a bind
        hosts.append(f"[{host}]:*" if ":" in host else f"{host}:*")
    hosts.extend(settings.allowed_hosts)
    origins = [f"http://{pattern}" for pattern in hosts] + [f"https://{pattern}" for pattern in settings.allowed_hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def require_safe_binding(host: str, settings: Settings) -> None:
    if not is_loopback(host) and settings.http_token is None:
        raise HttpSecurityError(
            f"Refusing to serve on {host}: that address is reachable from other machines, and anyone reaching it "
            "could spend your EvoLink credit. Set VEO_MCP_HTTP_TOKEN to a long random secret (clients then send "
            "'Authorization: Bearer <token>'), or serve on 127.0.0.1."
        )


class BearerTokenMiddleware:
    """Refuses every HTTP request that lacks `Authorization: Bearer <token>` (401, constant-time comparison)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        provided = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        scheme, _, credentials = provided.strip().partition(b" ")
        # The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
        if scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._expected):
            await self._app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": "unauthorized",
                "error_description": "Send 'Authorization: Bearer <token>' with the token set in VEO_MCP_HTTP_TOKEN.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="veo-mcp"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def secured_app(app: ASGIApp, settings: Settings) -> ASGIApp:
    """`app` behind the bearer check when a token is configured (on any address)."""
    if settings.http_token is None:
        return app
    return BearerTokenMiddleware(app, settings.http_token.get_secret_value())
