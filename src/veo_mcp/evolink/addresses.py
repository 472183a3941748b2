"""Rules for URLs that EvoLink's servers must fetch or call: image inputs and the completion callback.

EvoLink fetches image URLs and calls callback URLs from its own servers, so an internal address can never work
(and a callback to one is refused upstream). We refuse them before any money is at stake. These checks are lexical;
hostnames that *resolve* to internal addresses are checked where we resolve them.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import SplitResult, urlsplit

import anyio

from veo_mcp.evolink import catalog

logger = logging.getLogger(__name__)

# Host name → the addresses it resolves to (an empty list when it does not resolve).
Resolver = Callable[[str], Awaitable[list[str]]]

RESOLVE_TIMEOUT_S = 3.0


def is_loopback_host(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): this machine only."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def internal_address_reason(host: str) -> str | None:
    """Why `host` (a hostname or literal IP) is internal, or None when it may be public."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return "it has no host"
    if name in catalog.INTERNAL_HOSTNAMES or name.endswith(catalog.INTERNAL_HOST_SUFFIXES):
        return f"'{name}' is a local hostname"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return _numeric_host_reason(name)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for label, flag in (
        ("loopback", address.is_loopback),
        ("private", address.is_private),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        # fec0::/10, deprecated but still routed inside some networks; Python does not count it as private.
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
    ):
        if flag:
            return f"{address} is a {label} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _numeric_host_reason(name: str) -> str | None:
    """Hosts like `2130706433` or `0x7f.1` are IPs in disguise: browsers and curl read them as addresses."""
    labels = name.split(".")
    if all(label.isdigit() or label.startswith("0x") for label in labels if label):
        return f"'{name}' is a numeric address in a non-standard form"
    return None


def split_url(value: str) -> SplitResult | None:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a bad port
    except ValueError:
        return None
    return parts


def image_url_problem(value: str) -> str | None:
    """Why EvoLink could not fetch `value` as an input image, or None when it looks fetchable."""
    parts = split_url(value.strip())
    if parts is None:
        return "it is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "only public http:// or https:// URLs can be fetched by EvoLink"
    if parts.username or parts.password:
        return "URLs with credentials (user:password@) are not allowed"
    reason = internal_address_reason(parts.hostname or "")
    if reason:
        return f"EvoLink's servers cannot reach it ({reason}); upload the image somewhere public"
    if not parts.path.lower().endswith(catalog.IMAGE_EXTENSIONS):
        return f"the path must end in one of {', '.join(catalog.IMAGE_EXTENSIONS)}"
    return None


def callback_url_problem(value: str) -> str | None:
    """Why EvoLink would refuse `value` as a callback URL, or None when it is acceptable."""
    if len(value) > catalog.MAX_CALLBACK_URL_CHARS:
        return f"it is {len(value)} characters long; at most {catalog.MAX_CALLBACK_URL_CHARS} are allowed"
    parts = split_url(value.strip())
    if parts is None:
        return "it is not a valid URL"
    if parts.scheme.lower() != "https":
        return "only https:// callback URLs are accepted"
    if parts.username or parts.password:
        return "URLs with credentials (user:password@) are not allowed"
    reason = internal_address_reason(parts.hostname or "")
    if reason:
        return f"callbacks to internal addresses are refused ({reason})"
    return None


async def system_resolver(host: str) -> list[str]:
    """The host's addresses from the OS resolver; empty when it does not resolve within a few seconds."""
    with anyio.move_on_after(RESOLVE_TIMEOUT_S):
        try:
            answers = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return []
        return sorted({str(answer[4][0]) for answer in answers})
    logger.info("resolving %s took longer than %g s", host, RESOLVE_TIMEOUT_S)
    return []


async def resolved_internal_reason(url: str, resolver: Resolver) -> str | None:
    """Why `url`'s host is internal once resolved, or None (also when it does not resolve: we cannot tell)."""
    parts = split_url(url.strip())
    host = (parts.hostname if parts else None) or ""
    if not host:
        return "it has no host"
    if (reason := internal_address_reason(host)) is not None:
        return reason
    for address in await resolver(host):
        if (reason := internal_address_reason(address)) is not None:
            return f"'{host}' resolves to {address} ({reason})"
    return None
