"""A shared server attacked the way one user could hurt the others or the operator, through one real `veo-mcp serve`
process: the one EvoLink key's server-wide budget, one user's sessions, a removed user's open streams, and a users
file that disappears, breaks or is left writable by others (the server then fails closed: no grace is set here)."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest

from tests.helpers import text_of
from tests.mcp.task_client import TaskExtension
from tests.mcp.team_server import LOCAL_TOKEN, Issuer, SigningKey, TeamServer, client_of, serving_jwks, serving_team
from veo_mcp.evolink import estimate_cost, parse_video_request
from veo_mcp.users import read_users, write_users

ONE_VIDEO_USD = estimate_cost(parse_video_request({"prompt": "x"})).usd or 0.0
PER_USER = 3
METRICS_TOKEN = "the-operators-scraper-token-0123456789"
LEGACY = "2025-06-18"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with serving_jwks() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def signing_key(issuer: Issuer) -> SigningKey:
    key = SigningKey("key-1")
    issuer.keys.append(key.jwk)
    return key


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer, signing_key: SigningKey) -> Iterator[TeamServer]:
    people: dict[str, dict[str, float]] = {name: {} for name in ("alice", "bob", "carl", "dora", "sam", "tia")}
    with serving_team(
        tmp_path_factory.mktemp("shared"),
        issuer,
        people,
        VEO_MCP_SERVER_HOURLY_BUDGET=f"{3 * ONE_VIDEO_USD + 0.001:.3f}",
        VEO_MCP_HTTP_MAX_SESSIONS="40",
        VEO_MCP_HTTP_MAX_SESSIONS_PER_USER=str(PER_USER),
        VEO_MCP_USERS_FILE_GRACE="0",
        VEO_MCP_CONFIRM_ABOVE="100",
        VEO_MCP_METRICS_TOKEN=METRICS_TOKEN,
    ) as server:
        yield server


def _bearer(token: str, session_id: str | None = None) -> dict[str, str]:
    headers = {**HEADERS, "Authorization": f"Bearer {token}", "MCP-Protocol-Version": LEGACY}
    return {**headers, "Mcp-Session-Id": session_id} if session_id else headers


def _initialize(url: str, token: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    return httpx.post(url, json=body, headers=headers, timeout=10)


def _session(url: str, token: str) -> str:
    opened = _initialize(url, token)
    assert opened.status_code == 200, opened.text
    session_id = opened.headers["mcp-session-id"]
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(url, json=ready, headers=_bearer(token, session_id), timeout=10).status_code == 202
    return session_id


def _ping(url: str, token: str, session_id: str) -> int:
    body = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    return httpx.post(url, json=body, headers=_bearer(token, session_id), timeout=10).status_code


async def test_the_server_budget_caps_every_user_together_through_tools_batches_and_tasks(
    shared: TeamServer, issuer: Issuer, signing_key: SigningKey, era: str
) -> None:
    """Five people, each well within budgets of their own (two users of the file, three OAuth subjects, every new
    `sub` a new principal), race two videos each: the server's hourly budget of three videos admits three."""
    if era != "legacy":
        pytest.skip("one server-wide budget per module server: spent once")
    tokens = [shared.tokens["alice"], shared.tokens["bob"]] + [
        signing_key.token(issuer.url, sub=f"sso-user-{n}-{time.monotonic_ns()}") for n in range(3)
    ]
    made: list[str] = []
    refused: list[str] = []

    async def two_videos(token: str, who: int) -> None:
        async with client_of(shared.url, token) as client:
            for take in range(2):
                result = await client.call_tool("generate_video", {"prompt": f"person {who}, take {take}"})
                (refused if result.is_error else made).append(text_of(result))

    async with anyio.create_task_group() as group:
        for who, token in enumerate(tokens):
            group.start_soon(two_videos, token, who)
    assert len(made) == 3 and len(refused) == 7, (made, refused)
    for text in refused:
        assert "VEO_MCP_SERVER_HOURLY_BUDGET" in text and "every user of the server shares" in text, text
        assert "Only the server's operator can raise" in text and "Nothing was sent" in text
    latecomer = signing_key.token(issuer.url, sub=f"latecomer-{time.monotonic_ns()}")
    async with client_of(shared.url, latecomer) as client:
        batch = await client.call_tool("generate_batch", {"items": [{"prompt": "a"}, {"prompt": "b"}]})
        assert batch.is_error and "VEO_MCP_SERVER_HOURLY_BUDGET" in text_of(batch)
    async with client_of(shared.url, latecomer, mode="auto", extensions=[TaskExtension()]) as client:
        as_task = await client.call_tool("generate_video", {"prompt": "a task, not a plain call"})
        assert as_task.is_error and "VEO_MCP_SERVER_HOURLY_BUDGET" in text_of(as_task)  # refused: no task opened
    metrics = shared.url.removesuffix("/mcp") + "/metrics"
    async with httpx.AsyncClient(timeout=10) as http:
        operator = await http.get(metrics, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        local = await http.get(metrics, headers={"Authorization": f"Bearer {LOCAL_TOKEN}"})
        user = await http.get(metrics, headers={"Authorization": f"Bearer {shared.tokens['alice']}"})
    assert user.status_code == 403  # a user's token reads none of the server's counters
    assert operator.status_code == local.status_code == 200
    spend = next(line for line in operator.text.splitlines() if line.startswith("veo_mcp_estimated_spend_usd "))
    assert float(spend.split()[-1]) == pytest.approx(3 * ONE_VIDEO_USD)  # every user's spending, not the local user's
    per_user = [
        line for line in operator.text.splitlines() if line.startswith("veo_mcp_estimated_spend_usd_by_principal{")
    ]
    assert sum(float(line.split()[-1]) for line in per_user) == pytest.approx(3 * ONE_VIDEO_USD)
    assert "veo_mcp_estimated_spend_usd_by_principal{" in local.text  # the local user is the operator too


def test_one_user_cannot_take_every_session(shared: TeamServer, era: str) -> None:
    if era != "legacy":
        pytest.skip("sessions are a 2025-era thing")
    sams = [_session(shared.url, shared.tokens["sam"]) for _ in range(PER_USER)]
    over = _initialize(shared.url, shared.tokens["sam"])
    assert over.status_code == 429, over.text
    assert "VEO_MCP_HTTP_MAX_SESSIONS_PER_USER" in over.json()["error"]["message"]
    tias = _session(shared.url, shared.tokens["tia"])  # another user is not locked out
    assert _ping(shared.url, shared.tokens["tia"], tias) == 200
    closed = httpx.delete(shared.url, headers=_bearer(shared.tokens["sam"], sams[0]), timeout=10)
    assert closed.status_code == 200
    assert _initialize(shared.url, shared.tokens["sam"]).status_code == 200  # one closed: one may open again


async def _legacy_stream_ends(url: str, token: str, session_id: str, opened: anyio.Event) -> None:
    headers = {**_bearer(token, session_id), "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http,
        http.stream("GET", url, headers=headers) as stream,
    ):
        assert stream.status_code == 200
        opened.set()
        async for _ in stream.aiter_bytes():
            pass  # until the server ends it


async def _listen_ends(url: str, token: str, opened: anyio.Event) -> None:
    async with client_of(url, token, mode="auto") as client, client.listen(resources_list_changed=True) as stream:
        opened.set()
        try:
            async for _ in stream:
                pass
        except Exception:  # an abrupt end (SubscriptionLost) is an end too
            return


async def test_a_removed_users_open_streams_and_sessions_end_at_the_next_reload(shared: TeamServer, era: str) -> None:
    if era != "legacy":
        pytest.skip("both eras' streams are opened here, side by side")
    doras, carls = shared.tokens["dora"], shared.tokens["carl"]
    dora_session, carl_session = _session(shared.url, doras), _session(shared.url, carls)
    before = read_users(shared.users_file)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            legacy_open, listen_open = anyio.Event(), anyio.Event()
            group.start_soon(_legacy_stream_ends, shared.url, doras, dora_session, legacy_open)
            group.start_soon(_listen_ends, shared.url, doras, listen_open)
            await legacy_open.wait()
            await listen_open.wait()
            write_users(shared.users_file, {n: u for n, u in before.items() if n != "dora"})
        # Both of Dora's streams ended (the task group returned): none waits for an idle timeout or a ping.
    write_users(shared.users_file, before)  # her token is valid again, yet her old session is gone
    assert _ping(shared.url, doras, dora_session) == 404
    assert _ping(shared.url, carls, carl_session) == 200  # the control: nobody else's session was touched


def test_a_users_file_that_disappears_breaks_or_is_writable_by_others_lets_nobody_in(
    shared: TeamServer, era: str
) -> None:
    if era != "legacy":
        pytest.skip("the users file, not the protocol: once is enough")
    alice = shared.tokens["alice"]
    text = shared.users_file.read_text()
    assert _initialize(shared.url, alice).status_code == 200
    shared.users_file.unlink()
    assert _initialize(shared.url, alice).status_code == 401
    shared.users_file.write_text(text)
    shared.users_file.chmod(0o600)
    assert _initialize(shared.url, alice).status_code == 200
    shared.users_file.chmod(0o666)
    assert _initialize(shared.url, alice).status_code == 401
    shared.users_file.chmod(0o600)
    assert _initialize(shared.url, alice).status_code == 200
    # An edit that removes bob but leaves one malformed hash: bob is not kept in by the last good file.
    bob = shared.tokens["bob"]
    without_bob = {n: u for n, u in read_users(shared.users_file).items() if n != "bob"}
    write_users(shared.users_file, without_bob)
    edited = shared.users_file.read_text().replace(without_bob["carl"].token_sha256, "not-a-hash", 1)
    shared.users_file.write_text(edited)
    assert _initialize(shared.url, bob).status_code == 401
    assert _initialize(shared.url, alice).status_code == 401  # nobody: the file does not parse
    shared.users_file.write_text(text)
    assert _initialize(shared.url, bob).status_code == 200
    assert stat.S_IMODE(shared.users_file.stat().st_mode) == 0o600
    deadline, logged = time.monotonic() + 10, ""
    while not all(words in logged for words in ("has disappeared", "chmod 600", "(carl): token_sha256")):
        line = shared.stderr.next_line(deadline)  # each refusal is in the operator's log, with its fix
        assert line is not None, logged
        logged += line
