"""Who may talk to the streamable-HTTP server: loopback by default, bearer tokens beyond it, Host/Origin checked.

Why: the HTTP transport puts a paid API behind a port. On loopback, the SDK's DNS-rebinding protection (Host and
Origin must name this machine) stops web pages from reaching it through a browser. On any other address anyone on
the network could spend the user's credit, so some authentication is required: VEO_MCP_HTTP_TOKEN, a users file or
an OAuth issuer (checked by the SDK's bearer middleware with `veo_mcp.mcp.auth.PrincipalVerifier`).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

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


def authenticates(settings: Settings) -> bool:
    """Whether HTTP clients must prove who they are: a token, a users file or an OAuth issuer is configured."""
    return settings.http_token is not None or settings.users_file is not None or settings.oauth_issuer is not None


def require_safe_binding(host: str, settings: Settings) -> None:
    if not is_loopback(host) and not authenticates(settings):
        raise HttpSecurityError(
            f"Refusing to serve on {host}: that address is reachable from other machines, and anyone reaching it "
            "could spend your EvoLink credit. Set VEO_MCP_HTTP_TOKEN to a long random secret (clients then send "
            "'Authorization: Bearer <token>'), give users their own tokens with VEO_MCP_USERS_FILE (`veo-mcp users "
            "add`) or accept an OAuth issuer's tokens (VEO_MCP_OAUTH_ISSUER); or serve on 127.0.0.1."
        )


def _matches(value: str, patterns: list[str]) -> bool:
    """`value` is one of `patterns`, where `name:*` stands for that name with any port (the SDK's rule)."""
    return any(value == pattern or (pattern.endswith(":*") and value.startswith(pattern[:-1])) for pattern in patterns)


class HostCheck:
    """ASGI middleware: the SDK checks Host and Origin on /mcp only; this checks them on every route the server
    answers itself (/healthz, /readyz, /metrics, /files/...), so a web page cannot reach them through a browser by
    DNS rebinding either. Video links (`open_paths`) are fetched cross-origin by players on purpose: only their Host is
    checked there.

    Health and readiness probes (`probe_paths`) come from load balancers and orchestrators, not browsers: HAProxy's
    check sends no Host at all (no browser can), and an orchestrator names the replica by its address, which a server
    bound beyond loopback does not know as a host name (`probes_by_address`). Their answers are public and say nothing
    secret, so those probes are answered; a foreign Host on a loopback server is still refused."""

    def __init__(
        self,
        app: ASGIApp,
        security: TransportSecuritySettings,
        open_paths: tuple[str, ...] = (),
        probe_paths: tuple[str, ...] = (),
        *,
        probes_by_address: bool = False,
    ) -> None:
        self._app = app
        self._hosts = list(security.allowed_hosts)
        self._origins = list(security.allowed_origins)
        self._open_paths = open_paths
        self._probe_paths = probe_paths
        self._probes_by_address = probes_by_address

    def allow(self, base_url: str | None) -> None:
        """Also accept the host (and origin) of `base_url`: VEO_MCP_PUBLIC_URL, or where links point."""
        parts = urlsplit(base_url or "")
        if parts.hostname:
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
            name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            self._hosts += [parts.netloc, f"{name}:{port}"]
            self._origins.append(f"{parts.scheme}://{parts.netloc}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {key: value.decode("latin-1") for key, value in scope["headers"] if key in (b"host", b"origin")}
            refusal = None
            path = str(scope.get("path", ""))
            origin_checked = b"origin" in headers and not path.startswith(self._open_paths)
            probe = path in self._probe_paths and b"origin" not in headers
            answered_as_probe = probe and (b"host" not in headers or self._probes_by_address)
            if not answered_as_probe and not _matches(headers.get(b"host", ""), self._hosts):
                refusal = (421, "Invalid Host header")
            elif origin_checked and not _matches(headers[b"origin"], self._origins):
                refusal = (403, "Invalid Origin header")
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        await self._app(scope, receive, send)


async def _refuse(send: Send, status: int, text: str) -> None:
    body = json.dumps({"status": status, "message": text}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
