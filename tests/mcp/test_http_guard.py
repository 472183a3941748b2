"""The HTTP guard on its own (the real `veo-mcp serve` over HTTP is in test_security.py): who may start a server where,
which Host and Origin headers pass, and the bearer check (the SDK's middleware with our verifier) in front of every
request, answered word for word."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import service_settings
from veo_mcp.app import App
from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.mcp.auth import PrincipalToken, http_auth
from veo_mcp.mcp.http_security import (
    LOOPBACK_HOSTS,
    HttpSecurityError,
    is_loopback,
    require_safe_binding,
    transport_security,
)
from veo_mcp.mcp.server import create_server
from veo_mcp.users import User, new_token, token_hash, write_users

pytestmark = pytest.mark.legacy_era  # no MCP session here: once is enough

TOKEN = "tok-" + "x" * 40
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
REFUSAL = {"error": "invalid_token", "error_description": "Authentication required"}


@asynccontextmanager
async def guarded(tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real HTTP app of the MCP server (the SDK's bearer middleware with our verifier), its lifespan running."""
    app = App(service_settings(tmp_path, simulate=True, **settings))
    server = create_server(app, http_auth(app, "http://127.0.0.1:8000/mcp"))
    asgi = server.streamable_http_app()
    async with (
        asgi.router.lifespan_context(asgi),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://127.0.0.1:8000") as http,
    ):
        yield http


async def ask(http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.post("/mcp", headers={**MCP_HEADERS, **(headers or {})}, content=b'{"jsonrpc": "2.0"}')


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}  ", f"Bearer {TOKEN}\t"],
)
async def test_the_right_token_passes_in_any_scheme_case(tmp_path: Path, authorization: str) -> None:
    async with guarded(tmp_path, http_token=TOKEN) as http:
        answer = await ask(http, {"Authorization": authorization})
    assert answer.status_code == 400 and "jsonrpc" in answer.text  # past the guard: the MCP transport answers


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
async def test_anything_else_is_refused_with_401_and_a_bearer_challenge(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    async with guarded(tmp_path, http_token=TOKEN) as http:
        answer = await ask(http, headers)
    assert answer.status_code == 401
    assert answer.json() == REFUSAL
    assert (
        answer.headers["www-authenticate"]
        == 'Bearer error="invalid_token", error_description="Authentication required"'
    )
    assert TOKEN not in answer.text


async def test_a_users_file_token_is_its_user_and_the_single_token_the_local_user(tmp_path: Path) -> None:
    users = tmp_path / "team.toml"
    alice = new_token()
    write_users(users, {"alice": User(name="alice", token_sha256=token_hash(alice))})
    app = App(service_settings(tmp_path, simulate=True, http_token=TOKEN, users_file=users))
    found = http_auth(app, "http://127.0.0.1:8000/mcp")
    assert found is not None
    settings, verifier = found
    assert settings.resource_server_url is None  # no OAuth: no metadata published, no issuer named
    accepted = await verifier.verify_token(alice)
    assert isinstance(accepted, PrincipalToken) and accepted.principal == "alice"
    single = await verifier.verify_token(TOKEN)
    assert isinstance(single, PrincipalToken) and single.principal == LOCAL_PRINCIPAL
    for wrong in (alice[:-1], alice + "x", token_hash(alice), "", TOKEN.upper()):
        assert await verifier.verify_token(wrong) is None, wrong
    assert http_auth(App(service_settings(tmp_path, simulate=True)), "http://127.0.0.1:8000/mcp") is None


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
            "'Authorization: Bearer <token>'), give users their own tokens with VEO_MCP_USERS_FILE (`veo-mcp users "
            "add`) or accept an OAuth issuer's tokens (VEO_MCP_OAUTH_ISSUER); or serve on 127.0.0.1."
        )
        require_safe_binding(host, service_settings(tmp_path, http_token=TOKEN))
        require_safe_binding(host, service_settings(tmp_path, users_file=tmp_path / "team.toml"))
        require_safe_binding(host, service_settings(tmp_path, oauth_issuer="https://login.example.com"))


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
