"""The HTTP guard on its own (the real `veo-mcp serve` over HTTP is in test_security.py): who may start a server where,
which Host and Origin headers pass, and the bearer check in front of every request, answered word for word."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from tests.helpers import service_settings
from veo_mcp.mcp.http_security import (
    LOOPBACK_HOSTS,
    BearerTokenMiddleware,
    HttpSecurityError,
    is_loopback,
    require_safe_binding,
    secured_app,
    transport_security,
)

pytestmark = pytest.mark.legacy_era  # no MCP session here: once is enough

TOKEN = "tok-" + "x" * 40
REFUSAL = {
    "error": "unauthorized",
    "error_description": "Send 'Authorization: Bearer <token>' with the token set in VEO_MCP_HTTP_TOKEN.",
}


async def inner_app(scope: Scope, receive: Receive, send: Send) -> None:
    """What sits behind the guard: reads the request and answers 200 with what it was asked."""
    request = await receive()
    body = json.dumps({"path": scope.get("path"), "type": scope["type"], "body": request["body"].decode()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def ask(app: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        return await http.post("/mcp", headers=headers or {}, content=b'{"jsonrpc": "2.0"}')


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"  Bearer   {TOKEN}  ", f"Bearer {TOKEN}\t"],
)
async def test_the_right_token_passes_in_any_scheme_case(authorization: str) -> None:
    answer = await ask(BearerTokenMiddleware(inner_app, TOKEN), {"Authorization": authorization})
    assert answer.status_code == 200 and answer.json() == {"path": "/mcp", "type": "http", "body": '{"jsonrpc": "2.0"}'}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer{TOKEN}"},
        {"X-Authorization": f"Bearer {TOKEN}"},
    ],
)
async def test_anything_else_is_refused_with_401_and_says_what_to_send(headers: dict[str, str]) -> None:
    answer = await ask(BearerTokenMiddleware(inner_app, TOKEN), headers)
    assert answer.status_code == 401
    assert answer.json() == REFUSAL
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["content-length"] == str(len(answer.content))
    assert answer.headers["www-authenticate"] == 'Bearer realm="veo-mcp"'
    assert TOKEN not in answer.text


async def test_non_http_traffic_is_passed_to_the_app() -> None:
    """Lifespan events carry no headers: the guard must let the server start and stop."""
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["type"], await receive()))
        await send({"type": "lifespan.startup.complete"})

    async def startup() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def sent(message: Any) -> None:
        seen.append(message)

    await BearerTokenMiddleware(app, TOKEN)({"type": "lifespan"}, startup, sent)
    assert seen == [("lifespan", {"type": "lifespan.startup"}), {"type": "lifespan.startup.complete"}]


async def test_the_guard_is_in_front_only_when_a_token_is_set(tmp_path: Path) -> None:
    open_app = secured_app(inner_app, service_settings(tmp_path))
    assert open_app is inner_app
    guarded = secured_app(inner_app, service_settings(tmp_path, http_token=TOKEN))
    assert isinstance(guarded, BearerTokenMiddleware)
    assert (await ask(guarded)).status_code == 401
    assert (await ask(guarded, {"Authorization": f"Bearer {TOKEN}"})).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),  # noqa: S104 - names, not a bind
        ("::", False),
        ("192.168.1.20", False),
        ("veo.example.lan", False),
    ],
)
def test_loopback_means_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_binding_needs_no_token_and_every_other_address_does(tmp_path: Path) -> None:
    for host in LOOPBACK_HOSTS:
        require_safe_binding(host, service_settings(tmp_path))
    for host in ("0.0.0.0", "::", "192.168.1.20"):  # noqa: S104 - names, not a bind
        with pytest.raises(HttpSecurityError) as refused:
            require_safe_binding(host, service_settings(tmp_path))
        assert str(refused.value) == (
            f"Refusing to serve on {host}: that address is reachable from other machines, and anyone reaching it "
            "could spend your EvoLink credit. Set VEO_MCP_HTTP_TOKEN to a long random secret (clients then send "
            "'Authorization: Bearer <token>'), or serve on 127.0.0.1."
        )
        require_safe_binding(host, service_settings(tmp_path, http_token=TOKEN))


def test_host_and_origin_name_this_machine_the_bound_address_and_the_allowed_hosts(tmp_path: Path) -> None:
    loopback = transport_security("127.0.0.1", service_settings(tmp_path))
    assert loopback.enable_dns_rebinding_protection is True
    assert loopback.allowed_hosts == ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    assert loopback.allowed_origins == ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    lan = transport_security("192.168.1.20", service_settings(tmp_path, allowed_hosts=["veo.example.lan:8000"]))
    assert lan.allowed_hosts == ["127.0.0.1:*", "localhost:*", "[::1]:*", "192.168.1.20:*", "veo.example.lan:8000"]
    assert lan.allowed_origins == [
        "http://127.0.0.1:*",
        "http://localhost:*",
        "http://[::1]:*",
        "http://192.168.1.20:*",
        "http://veo.example.lan:8000",
        "https://veo.example.lan:8000",
    ]
    assert transport_security("fd00::5", service_settings(tmp_path)).allowed_hosts[-1] == "[fd00::5]:*"
    for everywhere in ("0.0.0.0", "::"):  # noqa: S104 - names, not a bind
        assert transport_security(everywhere, service_settings(tmp_path)).allowed_hosts == loopback.allowed_hosts
    assert transport_security("localhost", service_settings(tmp_path)).allowed_hosts == loopback.allowed_hosts
