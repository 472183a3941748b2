"""Address rules at their edges: a reserved IPv6 address is named as such, a host is read exactly as written (only
brackets and one trailing dot set aside), a URL whose port is not a number is not a URL, and the OS resolver is
always asked under a deadline."""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest

from veo_mcp.evolink import addresses
from veo_mcp.evolink.addresses import (
    callback_url_problem,
    image_url_problem,
    internal_address_reason,
    is_loopback_host,
    system_resolver,
)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("f000::1", "f000::1 is a reserved address"),  # reserved, yet neither private nor link-local
        ("[4000::1]", "4000::1 is a reserved address"),
        ("Xbox.local", "'xbox.local' is a local hostname"),  # the name as written, lower-cased
        ("LOCALHOSTX", None),  # a public name that merely starts like a local one
        ("10.0.0.X", None),
    ],
)
def test_a_host_is_judged_exactly_as_written(host: str, reason: str | None) -> None:
    assert internal_address_reason(host) == reason


def test_only_this_machine_s_own_names_are_loopback() -> None:
    assert is_loopback_host("[127.0.0.1]") and is_loopback_host("localhost.")
    assert not is_loopback_host("Xlocalhost") and not is_loopback_host("localhostX")
    assert not is_loopback_host("X127.0.0.1")


def test_a_url_whose_port_is_not_a_port_is_not_a_valid_url() -> None:
    assert image_url_problem("https://a.example:99999/x.png") == "it is not a valid URL"
    assert image_url_problem("https://a.example:http/x.png") == "it is not a valid URL"
    assert callback_url_problem("https://hooks.example.com:70000/veo") == "it is not a valid URL"
    assert image_url_problem("https://a.example:8443/x.png") is None


async def test_the_os_resolver_is_asked_under_the_resolve_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    deadlines: list[float] = []

    async def answering(*arguments: Any, **options: Any) -> list[Any]:
        deadlines.append(anyio.current_effective_deadline())
        return [(0, 0, 0, "", ("93.184.216.34", 0)), (0, 0, 0, "", ("93.184.216.34", 0))]

    monkeypatch.setattr(anyio, "getaddrinfo", answering)
    before = anyio.current_time()
    assert await system_resolver("cdn.example.com") == ["93.184.216.34"]
    after = anyio.current_time()
    [deadline] = deadlines
    assert math.isfinite(deadline)
    assert before + addresses.RESOLVE_TIMEOUT_S <= deadline <= after + addresses.RESOLVE_TIMEOUT_S
