"""Who may talk to the streamable-HTTP server: loopback by default, bearer tokens beyond it, Host/Origin checked.

Why: the HTTP transport puts a paid API behind a port. On loopback, the SDK's DNS-rebinding protection (Host and
Origin must name this machine) stops web pages from reaching it through a browser. On any other address anyone on
the network could spend the user's credit, so some authentication is required: VEO_MCP_HTTP_TOKEN, a users file or
an OAuth issuer (checked by the SDK's bearer middleware with `veo_mcp.mcp.auth.PrincipalVerifier`).
"""

from __future__ import annotations

from mcp.server.transport_security import TransportSecuritySettings

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
