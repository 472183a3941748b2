"""The HTTP face of `veo-mcp serve --transport streamable-http`, served in this test process: the very stack the
command serves (`HttpStack`: the SDK's app with the per-user session cap, health, readiness and metrics, signed video
links, the Host and Origin check, EvoLink's callbacks, uvicorn with the connection bounds) on a loopback port, driven
with httpx, raw sockets and the SDK's streamable-HTTP client.

Why in process: the subprocess tests (tests/helpers.py `serving_http`) prove the command end to end, but code run in a
child cannot be attributed to a test, so mutation testing counted none of this code as tested. `serving_stack` builds
the App, auth, listener and stack as `veo_mcp.cli.serve.run_server` does (`_endpoint`, `_http_auth`, `HttpStack`) and
serves it in the test's event loop."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from prometheus_client import CONTENT_TYPE_LATEST

from tests.helpers import TEST_KEY, finish, no_dns, service_settings, text_of
from tests.mcp.team_server import add_user, client_of
from tests.test_callbacks import HeldCreates
from veo_mcp.app import App
from veo_mcp.background.callbacks import CALLBACK_PATH
from veo_mcp.cli.serve import _endpoint, _http_auth
from veo_mcp.delivery import FILES_PATH
from veo_mcp.evolink import EvoLinkClient, estimate_cost, parse_video_request
from veo_mcp.mcp.failures import local_failure
from veo_mcp.mcp.http_stack import HttpStack
from veo_mcp.mcp.sdk_seams import open_http_session_ids
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig
from veo_mcp.storage.database import DatabaseWriteError
from veo_mcp.users import read_users, write_users

LOCAL_TOKEN = "the-operators-own-http-token-0123456789"  # VEO_MCP_HTTP_TOKEN: the server's local user
SCRAPER_TOKEN = "the-prometheus-scrapers-token-0123456789"  # VEO_MCP_METRICS_TOKEN
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
ONE_VIDEO_USD = estimate_cost(parse_video_request({"prompt": "x"})).usd
# Written out, not imported: a changed value in the code must show here.
MAX_CALLBACK_BODY = 256 * 1024
STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
LEAST_TASK_TTL_MS = 10 * 60 * 1000


class _InThisProcess(uvicorn.Server):
    """uvicorn as `veo-mcp serve` runs it, but the process's signals stay pytest's (the command leaves them to
    `cli.stopping` the same way)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Served:
    """The served stack: where it listens, and the App behind it."""

    base: str  # http://127.0.0.1:<port>
    url: str  # the MCP endpoint
    port: int
    app: App
    stack: HttpStack
    server: MCPServer

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@asynccontextmanager
async def serving_stack(
    tmp_path: Path, *, public_path: str | None = None, client: EvoLinkClient | None = None, **settings: Any
) -> AsyncIterator[Served]:
    """`veo-mcp serve --transport streamable-http --port 0 --simulate` in this process, until the block ends.

    `settings` are Settings fields (simulate=True unless given); `public_path` sets VEO_MCP_PUBLIC_URL to this
    server's own loopback address with that path (known once the port is bound, as the command binds it first);
    `client` is the upstream (by default the embedded simulator the App builds, whose requests the metrics count)."""
    listener, url = _endpoint("127.0.0.1", 0)
    port = int(listener.getsockname()[1])
    if public_path is not None:
        settings["public_url"] = f"http://127.0.0.1:{port}{public_path}"
    config = service_settings(tmp_path, **{"simulate": True, **settings})
    if client is None:
        app = App(config, serves_http=True)
    else:
        app = App(config, client=client, simulated=True, resolver=no_dns, serves_http=True)
    auth = _http_auth(app, url)
    server = create_server(app, auth)
    stack = HttpStack(server, app, config, "127.0.0.1", listener, auth)
    http = _InThisProcess(stack.config)
    ended = anyio.Event()

    async def serve() -> None:
        try:
            await stack.serve(http, listener)
        finally:
            ended.set()

    async with app.running(), anyio.create_task_group() as group:
        group.start_soon(serve)
        with anyio.fail_after(10):
            while not http.started:  # uvicorn says it is serving by this flag only
                # A server that could not start says so at once (its error, or uvicorn's exit), not in 10 s.
                assert not ended.is_set(), "the served stack ended before it started (see the log)"
                await anyio.sleep(0.005)
        try:
            yield Served(url.removesuffix("/mcp"), url, port, app, stack, server)
        finally:
            http.should_exit = True


# --- talking to it ---------------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def samples(exposition: str) -> dict[str, float]:
    """The samples of a Prometheus text exposition by name and labels (the `_created` timestamps left out)."""
    found: dict[str, float] = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            if "_created" not in name:
                found[name] = float(value)
    return found


def described(exposition: str) -> list[str]:
    """The HELP and TYPE lines of an exposition, in order."""
    return [line for line in exposition.splitlines() if line.startswith("#")]


def sse_messages(text: str) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data: ")) for line in text.splitlines() if line.startswith("data: ")]


@dataclass
class RawSession:
    """A 2025-era MCP session spoken as plain JSON-RPC over HTTP (the SDK client cannot take a CreateTaskResult)."""

    http: httpx.AsyncClient
    url: str
    headers: dict[str, str]
    version: str = "2025-11-25"
    asked: int = 0
    session_id: str = ""

    async def open(self) -> RawSession:
        params = {"protocolVersion": self.version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
        opened = await self.http.post(self.url, json=_request(0, "initialize", params), headers=self.headers)
        assert opened.status_code == 200, opened.text
        self.session_id = opened.headers["mcp-session-id"]
        self.headers = {**self.headers, "mcp-session-id": self.session_id, "mcp-protocol-version": self.version}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await self.http.post(self.url, json=initialized, headers=self.headers)).status_code == 202
        return self

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The JSON-RPC answer (result or error) to one request."""
        self.asked += 1
        answer = await self.http.post(self.url, json=_request(self.asked, method, params), headers=self.headers)
        assert answer.status_code == 200, answer.text
        (message,) = [m for m in sse_messages(answer.text) if m.get("id") == self.asked]
        return message


def _request(number: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": number, "method": method, "params": params}


def initialize_body(version: str = "2025-06-18") -> dict[str, Any]:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    return _request(1, "initialize", params)


async def read_to_the_end(stream: anyio.abc.ByteStream) -> bytes:
    """Everything the server sends on a raw connection until it closes it (bounded: a server that never closes it
    fails the test)."""
    received = b""
    with anyio.fail_after(10):
        while True:
            try:
                received += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                return received


async def read_one_answer(stream: anyio.abc.ByteStream) -> tuple[int, dict[str, str], bytes]:
    """One response on a raw connection: its status, headers and body (up to its Content-Length; none for a stream)."""
    received = b""
    with anyio.fail_after(10):
        while b"\r\n\r\n" not in received:
            received += await stream.receive()
        top, _, body = received.partition(b"\r\n\r\n")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", "0")):
            body += await stream.receive()
    return int(status_line.split(" ")[1]), headers, body


async def answer_or_none(stream: anyio.abc.ByteStream) -> tuple[int, dict[str, str], bytes] | None:
    """One response, or None when the server closes the connection without any."""
    try:
        return await read_one_answer(stream)
    except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
        return None


def head(method: str, path: str, host: str | None, *lines: str) -> bytes:
    """A request head as bytes (HTTP/1.0 when no Host is given: no HTTP/1.1 client can leave it out)."""
    version = "HTTP/1.1" if host is not None else "HTTP/1.0"
    headers = ([f"Host: {host}"] if host is not None else []) + list(lines)
    return "\r\n".join([f"{method} {path} {version}", *headers, "", ""]).encode()


# --- probes and metrics ----------------------------------------------------------------------------------------

DESCRIBED = [
    "# HELP veo_mcp_generations Generations known, by status.",
    "# TYPE veo_mcp_generations gauge",
    "# HELP veo_mcp_estimated_spend_usd Estimated USD of every user's creates that may be billed (failed and "
    "cancelled generations are not).",
    "# TYPE veo_mcp_estimated_spend_usd gauge",
    "# HELP veo_mcp_upstream_requests_total Requests to EvoLink, by operation.",
    "# TYPE veo_mcp_upstream_requests_total counter",
    "# HELP veo_mcp_upstream_errors_total Failed requests to EvoLink, by operation and kind of error.",
    "# TYPE veo_mcp_upstream_errors_total counter",
    "# HELP veo_mcp_active_sessions Open MCP sessions (streamable HTTP).",
    "# TYPE veo_mcp_active_sessions gauge",
    "# HELP veo_mcp_queue_length Work waiting: batch items not sent yet (batch), creates being sent now (creates).",
    "# TYPE veo_mcp_queue_length gauge",
]
PER_PRINCIPAL = [
    "# HELP veo_mcp_estimated_spend_usd_by_principal Estimated USD that may be billed, per user (principal).",
    "# TYPE veo_mcp_estimated_spend_usd_by_principal gauge",
]
NOTHING_YET = {
    **{f'veo_mcp_generations{{status="{status}"}}': 0.0 for status in STATUSES},
    "veo_mcp_estimated_spend_usd": 0.0,
    "veo_mcp_active_sessions": 0.0,
    'veo_mcp_queue_length{queue="batch"}': 0.0,
    'veo_mcp_queue_length{queue="creates"}': 0.0,
}
ACCESS_REFUSED = {"error": "invalid_token", "error_description": "Send 'Authorization: Bearer <token>'."}
NOT_THE_OPERATOR = {"error": "insufficient_scope", "error_description": "/metrics is the server operator's."}


@pytest.mark.legacy_era
async def test_a_tokenless_loopback_server_answers_health_readiness_and_all_of_its_metrics(tmp_path: Path) -> None:
    async with serving_stack(tmp_path) as served, httpx.AsyncClient(base_url=served.base, timeout=10) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        scraped = await http.get("/metrics")
        callback = await http.post(f"{CALLBACK_PATH}{'a' * 43}", json={})
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert health.headers["content-type"] == "application/json"
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "upstream": "ok"}},
    )
    # Nobody authenticates on a loopback server without tokens: whoever scrapes is the operator.
    assert scraped.status_code == 200 and scraped.headers["content-type"] == CONTENT_TYPE_LATEST
    assert described(scraped.text) == DESCRIBED + PER_PRINCIPAL
    assert samples(scraped.text) == NOTHING_YET
    # Without VEO_MCP_PUBLIC_URL nothing receives callbacks: the path is the MCP app's like any unknown one.
    assert (callback.status_code, callback.text) == (404, "Not Found")


@pytest.mark.legacy_era
async def test_readiness_says_which_part_is_down_and_names_no_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An upstream nobody answers at (a loopback port nobody listens on), then a database that fails: /readyz says
    which, without where; /healthz stays alive."""
    with _refusing_port() as port:
        dead = f"http://127.0.0.1:{port}"
        async with (
            serving_stack(tmp_path, base_url=dead, files_base_url=dead) as served,
            httpx.AsyncClient(base_url=served.base, timeout=10) as http,
        ):
            down = await http.get("/readyz")
            where = tmp_path / "data" / "veo-mcp.sqlite3"

            async def failing(timeout_s: float | None = None) -> None:
                raise DatabaseWriteError(f"veo-mcp could not use its database {where}: disk I/O error.")

            monkeypatch.setattr(served.app.parts.store, "ping", failing)
            both = await http.get("/readyz")
            health = await http.get("/healthz")
    upstream = "unreachable: no answer (ConnectError)"
    assert (down.status_code, down.json()) == (
        503,
        {"status": "not ready", "checks": {"database": "ok", "upstream": upstream}},
    )
    assert (both.status_code, both.json()) == (
        503,
        {"status": "not ready", "checks": {"database": "unavailable", "upstream": upstream}},
    )
    assert str(tmp_path) not in both.text and dead not in both.text
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert f"readiness: the database cannot be used: veo-mcp could not use its database {where}" in caplog.text


@contextlib.contextmanager
def _refusing_port() -> Iterator[int]:
    """A loopback port bound and never listened on, for as long as the block runs: a connection to it is refused,
    and no other process (an xdist worker) can take it meanwhile."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@pytest.mark.legacy_era
async def test_a_server_without_an_upstream_is_alive_not_ready_and_counts_only_its_sessions(tmp_path: Path) -> None:
    async with (
        serving_stack(tmp_path, simulate=False, api_key=None) as served,
        httpx.AsyncClient(base_url=served.base, timeout=10) as http,
    ):
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        scraped = await http.get("/metrics")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    checks = {"database": "not open", "upstream": "not configured (no EVOLINK_API_KEY)"}
    assert (ready.status_code, ready.json()) == (503, {"status": "not ready", "checks": checks})
    assert scraped.status_code == 200 and described(scraped.text) == DESCRIBED + PER_PRINCIPAL
    assert samples(scraped.text) == {"veo_mcp_estimated_spend_usd": 0.0, "veo_mcp_active_sessions": 0.0}


@pytest.mark.legacy_era
async def test_metrics_are_the_operators_and_refused_to_everyone_else_word_for_word(tmp_path: Path) -> None:
    users = tmp_path / "team.toml"
    alice = add_user(users, "alice")
    settings: dict[str, Any] = {"users_file": users, "http_token": LOCAL_TOKEN, "metrics_token": SCRAPER_TOKEN}
    async with (
        serving_stack(tmp_path, **settings) as served,
        httpx.AsyncClient(base_url=served.base, timeout=10) as http,
    ):
        refused = {
            "no token": await http.get("/metrics"),
            "a wrong token": await http.get("/metrics", headers=bearer("not-a-token-of-this-server")),
            "another scheme": await http.get("/metrics", headers={"Authorization": f"Basic {SCRAPER_TOKEN}"}),
            "the token alone": await http.get("/metrics", headers={"Authorization": SCRAPER_TOKEN}),
            "a scheme alone": await http.get("/metrics", headers={"Authorization": "Bearer"}),
        }
        users_own = await http.get("/metrics", headers=bearer(alice))
        by_scraper = await http.get("/metrics", headers=bearer(SCRAPER_TOKEN))
        in_any_case = await http.get("/metrics", headers={"Authorization": f"bEARER   {SCRAPER_TOKEN}"})
        by_local_user = await http.get("/metrics", headers=bearer(LOCAL_TOKEN))
    for why, answer in refused.items():
        assert (answer.status_code, answer.json()) == (401, ACCESS_REFUSED), why
        assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"', why
    # A user's own token is a valid one, but the counters are the whole server's.
    assert (users_own.status_code, users_own.json()) == (403, NOT_THE_OPERATOR)
    assert "www-authenticate" not in users_own.headers
    for operator in (by_scraper, in_any_case, by_local_user):
        assert operator.status_code == 200 and described(operator.text) == DESCRIBED + PER_PRINCIPAL
        assert samples(operator.text) == NOTHING_YET


@pytest.mark.legacy_era
async def test_public_metrics_are_anyones_but_the_spend_per_user_stays_the_operators(tmp_path: Path) -> None:
    users = tmp_path / "team.toml"
    alice = add_user(users, "alice")
    settings: dict[str, Any] = {"users_file": users, "http_token": LOCAL_TOKEN, "metrics_public": True}
    async with (
        serving_stack(tmp_path, **settings) as served,
        httpx.AsyncClient(base_url=served.base, timeout=10) as http,
    ):
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers=bearer("not-a-token-of-this-server"))
        users_own = await http.get("/metrics", headers=bearer(alice))
        operator = await http.get("/metrics", headers=bearer(LOCAL_TOKEN))
        mcp = await http.post("/mcp", json=initialize_body(), headers=MCP_HEADERS)
    for anyone in (anonymous, wrong, users_own):
        assert anyone.status_code == 200 and described(anyone.text) == DESCRIBED
        assert samples(anyone.text) == NOTHING_YET
    assert operator.status_code == 200 and described(operator.text) == DESCRIBED + PER_PRINCIPAL
    assert mcp.status_code == 401  # only /metrics is opened


async def test_metrics_move_with_a_generation_made_over_http(tmp_path: Path, era: str) -> None:
    """Alice (a users-file user) makes a video through her MCP session; the operator's scrapes count it, its cost
    (hers), the requests to EvoLink, her open session (a 2025-era one; 2026-07-28 keeps none) and the saved file's
    link serves it."""
    users = tmp_path / "team.toml"
    alice = add_user(users, "alice")
    settings: dict[str, Any] = {"users_file": users, "http_token": LOCAL_TOKEN, "simulator_speed": 100}
    async with (
        serving_stack(tmp_path, **settings) as served,
        httpx.AsyncClient(base_url=served.base, timeout=10) as http,
    ):
        before = samples((await http.get("/metrics", headers=bearer(LOCAL_TOKEN))).text)
        async with client_of(served.url, alice) as client:
            created = await client.call_tool("generate_video", {"prompt": "a heron at dawn"})
            assert not created.is_error, text_of(created)
            state = await finish(client, (created.structured_content or {})["task_id"])
            during = samples((await http.get("/metrics", headers=bearer(LOCAL_TOKEN))).text)
            video = await http.get(state["files"][0]["url"])
        async with client_of(served.url, LOCAL_TOKEN) as local:  # the local user may ask EvoLink about any id
            unknown = await local.call_tool("get_generation", {"task_id": "task-unified-1700000000-nothere1"})
        after = samples((await http.get("/metrics", headers=bearer(LOCAL_TOKEN))).text)
    assert before == NOTHING_YET
    gets = during['veo_mcp_upstream_requests_total{operation="get"}']
    assert gets >= 1
    assert during == {
        **NOTHING_YET,
        'veo_mcp_generations{status="completed"}': 1.0,
        "veo_mcp_estimated_spend_usd": ONE_VIDEO_USD,
        'veo_mcp_estimated_spend_usd_by_principal{principal="alice"}': ONE_VIDEO_USD,
        'veo_mcp_upstream_requests_total{operation="create"}': 1.0,
        'veo_mcp_upstream_requests_total{operation="get"}': gets,
        'veo_mcp_upstream_requests_total{operation="download"}': 1.0,
        "veo_mcp_active_sessions": 1.0 if era == "legacy" else 0.0,
    }
    assert state["status"] == "completed" and state["files"][0]["url"].startswith(f"{served.base}{FILES_PATH}")
    assert (
        video.status_code == 200
        and video.content == (tmp_path / "videos" / "alice" / state["files"][0]["path"]).read_bytes()
    )
    assert unknown.is_error
    errors = {name: value for name, value in after.items() if "error" in name}
    assert errors == {'veo_mcp_upstream_errors_total{kind="not_found",operation="get"}': 1.0}
    assert after["veo_mcp_active_sessions"] == 0.0  # the clients closed their sessions


# --- EvoLink's callbacks -----------------------------------------------------------------------------------------


async def _until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 - the server records in its own tasks
            await anyio.sleep(0.01)


async def _chunks(size: int) -> AsyncIterator[bytes]:
    """`size` bytes of a body, sent in 16 KiB pieces (the receiver gets several messages, not one)."""
    for start in range(0, size, 16 * 1024):
        yield b"x" * min(16 * 1024, size - start)


@pytest.mark.legacy_era
async def test_evolink_calls_back_through_the_public_path_and_is_answered_as_it_expects(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch's first create is held on its way back from EvoLink (the queue metrics show it): its callback is
    answered 503, so EvoLink retries; once the create is recorded, 200. The public URL has a path (a reverse proxy's)
    ending in X: the callback is taken there and where the proxy stripped it. Unknown secrets, other methods and
    bodies over the cap get their own answers."""
    simulator = Simulator(SimulatorConfig(speed=1, allow_private_callbacks=True))
    held = HeldCreates(simulator)
    upstream = EvoLinkClient(
        api_key=TEST_KEY, base_url=IN_PROCESS_BASE_URL, files_base_url=IN_PROCESS_BASE_URL, transport=held
    )
    caplog.set_level(logging.INFO, logger="veo_mcp")
    items = [{"prompt": f"take {n}"} for n in range(3)]
    async with (
        serving_stack(tmp_path, public_path="/media/BOX", client=upstream, max_concurrent=1) as served,
        httpx.AsyncClient(base_url=served.base, timeout=10) as http,
        client_of(served.url, None) as client,
    ):
        queued = await client.call_tool("generate_batch", {"items": items, "confirm_cost": True})
        assert not queued.is_error, text_of(queued)
        with anyio.fail_after(10):
            await held.made.wait()
        (task,) = simulator.service.tasks.values()
        callback_url = task.request.callback_url or ""
        secret = callback_url.rsplit("/", 1)[-1]
        public = urlsplit(callback_url).path
        while_sending = samples((await http.get("/metrics")).text)
        early = await http.post(public, json={"id": task.id, "status": "processing"})
        held.release.set()
        await _until(lambda: task.id in served.app.parts.registry.generations)
        hinted = await http.post(public, json={"id": task.id, "status": "processing"})
        stripped = await http.post(f"{CALLBACK_PATH}{secret}", json={}, headers={"Host": "evolink.example"})
        at_the_cap = await http.post(public, content=_chunks(MAX_CALLBACK_BODY))
        over_the_cap = await http.post(public, content=_chunks(MAX_CALLBACK_BODY + 1))
        unknown = await http.post(f"/media/BOX{CALLBACK_PATH}{'u' * 43}", json={"id": task.id})
        fetched = await http.get(public)
        elsewhere = await http.post(f"/media/BO{CALLBACK_PATH}{secret}", json={})
    assert callback_url == f"{served.base}/media/BOX{CALLBACK_PATH}{secret}" and len(secret) >= 40
    assert while_sending['veo_mcp_queue_length{queue="creates"}'] == 1.0  # the held create
    # The two items still waiting; the one under way is the create counted above, not counted twice.
    assert while_sending['veo_mcp_queue_length{queue="batch"}'] == 2.0
    # Not 2xx while the create's answer is not recorded: EvoLink retries (after 1, 2 and 4 s).
    assert (early.status_code, early.json()) == (503, {"status": 503, "message": "early"})
    assert early.headers["content-type"] == "application/json"
    for taken in (hinted, stripped, at_the_cap):  # EvoLink's own Host is no concern: the secret admits it
        assert (taken.status_code, taken.json()) == (200, {"status": 200, "message": "hinted"})
    too_large = "A callback body is a task object; this is too large."
    assert (over_the_cap.status_code, over_the_cap.json()) == (413, {"status": 413, "message": too_large})
    assert (unknown.status_code, unknown.json()) == (404, {"status": 404, "message": "unknown"})
    assert caplog.messages.count("a callback with an unknown secret was refused") == 1
    assert (fetched.status_code, fetched.json()) == (405, {"status": 405, "message": "Callbacks are POSTed."})
    assert (elsewhere.status_code, elsewhere.text) == (404, "Not Found")  # not the public path: the MCP app's 404


# --- signed video links --------------------------------------------------------------------------------------------

NO_VIDEO = {"status": 404, "message": "No video at this link (it may have expired); ask the MCP server for a new one."}


def _a_saved_video(served: Served, reference: str = "simulated/dawn-heron.mp4") -> tuple[Path, bytes]:
    """A file in the output folder, where saved videos are (its bytes only need to be known)."""
    path = served.app.settings.output_dir / reference
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bytes(range(256)) * 20
    path.write_bytes(data)
    return path, data


def _flipped(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.legacy_era
async def test_a_signed_link_serves_the_video_whole_in_ranges_and_to_head(tmp_path: Path) -> None:
    async with serving_stack(tmp_path) as served, httpx.AsyncClient(timeout=10) as http:
        path, data = _a_saved_video(served)
        url = await served.app.links.url_for(path) if served.app.links else None
        assert url is not None and url.startswith(f"{served.base}{FILES_PATH}")
        whole = await http.get(url)
        part = await http.get(url, headers={"Range": "bytes=100-1099"})
        tail = await http.get(url, headers={"Range": "bytes=-64"})
        beyond = await http.get(url, headers={"Range": f"bytes={len(data)}-"})
        headed = await http.head(url)
        posted = await http.post(url, content=b"")
        from_any_page = await http.get(url, headers={"Origin": "https://player.example"})
        foreign_host = await http.get(url, headers={"Host": "attacker.example"})
    assert whole.status_code == 200 and whole.content == data
    assert {name: whole.headers[name] for name in ("content-type", "content-length", "accept-ranges")} == {
        "content-type": "video/mp4",
        "content-length": str(len(data)),
        "accept-ranges": "bytes",
    }
    assert whole.headers["cache-control"] == "private, max-age=300"
    assert whole.headers["content-disposition"] == 'inline; filename="dawn-heron.mp4"'
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    assert tail.status_code == 206 and tail.content == data[-64:]
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert headed.status_code == 200 and headed.content == b"" and headed.headers["content-length"] == str(len(data))
    refusal = {"status": 405, "message": "Video links are fetched with GET."}
    assert (posted.status_code, posted.json(), posted.headers["allow"]) == (405, refusal, "GET, HEAD")
    assert from_any_page.status_code == 200 and from_any_page.content == data  # a player on any page may fetch it
    assert (foreign_host.status_code, foreign_host.json()) == (421, {"status": 421, "message": "Invalid Host header"})


@pytest.mark.legacy_era
async def test_a_tampered_expired_or_lengthened_link_is_one_plain_404(tmp_path: Path) -> None:
    async with serving_stack(tmp_path) as served, httpx.AsyncClient(base_url=served.base, timeout=10) as http:
        _, data = _a_saved_video(served)
        assert served.app.links is not None
        signer = served.app.links.signer
        token = signer.token("simulated/dawn-heron.mp4")
        payload, signature = token.split(".")
        links = {
            "signature": f"{payload}.{_flipped(signature, 3)}",
            "payload": f"{_flipped(payload, 2)}.{signature}",
            "expired": signer.token("simulated/dawn-heron.mp4", expires_at=time.time() - 1),
            "outside": signer.token("../data/veo-mcp.sqlite3"),
            "gone": signer.token("simulated/never-saved.mp4"),
            **{f"appended {junk!r}": token + junk for junk in ("!!", "%21", "=", ".x", "/x", "A", "%20")},
        }
        answers = {why: await http.get(f"{FILES_PATH}{link}") for why, link in links.items()}
        genuine = await http.get(f"{FILES_PATH}{token}")
    for why, answer in answers.items():
        assert (answer.status_code, answer.json()) == (404, NO_VIDEO), why
        assert answer.headers["content-type"] == "application/json", why
    assert genuine.status_code == 200 and genuine.content == data  # the control


@pytest.mark.legacy_era
async def test_behind_a_path_prefix_links_carry_it_and_are_served_whether_or_not_the_proxy_strips_it(
    tmp_path: Path,
) -> None:
    """VEO_MCP_PUBLIC_URL with a path (a reverse proxy at https://host/media/BOX, say; here the server's own address,
    the simulator allows no other): links a client gets go through it, and the server answers the link's path with
    the prefix and without. Only the trailing '/' of that path is cut, never the X it ends with."""
    async with serving_stack(tmp_path, public_path="/media/BOX") as served, httpx.AsyncClient(timeout=10) as http:
        path, data = _a_saved_video(served)
        url = await served.app.links.url_for(path) if served.app.links else None
        assert url is not None
        token = url.rsplit("/", 1)[1]
        prefixed = await http.get(url)
        stripped = await http.get(f"{served.base}{FILES_PATH}{token}")
        another_prefix = await http.get(f"{served.base}/media/BO{FILES_PATH}{token}")
    assert url == f"{served.base}/media/BOX{FILES_PATH}{token}"
    assert prefixed.status_code == 200 and prefixed.content == data
    assert stripped.status_code == 200 and stripped.content == data
    assert (another_prefix.status_code, another_prefix.text) == (404, "Not Found")  # not a link: the MCP app's 404


# --- sessions per user -------------------------------------------------------------------------------------------


def _at_the_cap(per_user: int) -> dict[str, Any]:
    message = (
        f"You already hold {per_user} MCP sessions, the most one user may keep open on this server "
        "(VEO_MCP_HTTP_MAX_SESSIONS_PER_USER). Close one of your clients' sessions, or wait until an idle one ends "
        "(VEO_MCP_HTTP_SESSION_IDLE); the server's operator sets the limit."
    )
    return {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": message}}


@pytest.mark.legacy_era
async def test_one_user_keeps_at_most_their_share_of_sessions(tmp_path: Path) -> None:
    """VEO_MCP_HTTP_MAX_SESSIONS_PER_USER=2: Alice's third opening is refused word for word (openings that failed
    and sessions she closed do not count), her open sessions and a 2026-07-28 client (which opens none) still work,
    and neither Bob nor the local user is held by her cap."""
    users = tmp_path / "team.toml"
    alice, bob = add_user(users, "alice"), add_user(users, "bob")
    settings: dict[str, Any] = {"users_file": users, "http_token": LOCAL_TOKEN, "http_max_sessions_per_user": 2}
    async with serving_stack(tmp_path, **settings) as served, httpx.AsyncClient(timeout=10) as http:

        async def opening(token: str) -> httpx.Response:
            return await http.post(served.url, json=initialize_body(), headers={**MCP_HEADERS, **bearer(token)})

        failed = [  # openings that fail (the SDK names a session in its answer all the same, and keeps none)
            await http.post(served.url, content=b"{", headers={**MCP_HEADERS, **bearer(alice)}),
            await http.post(served.url, json=initialize_body(), headers={**bearer(alice), "Accept": "text/html"}),
            await http.post(
                served.url,
                json=initialize_body(),
                headers={**MCP_HEADERS, **bearer(alice), "Content-Type": "text/plain"},
            ),
        ]
        first, second = await opening(alice), await opening(alice)
        refused = await opening(alice)
        in_her_session = await http.post(
            served.url,
            json=_request(2, "tools/list", {}),
            headers={**MCP_HEADERS, **bearer(alice), "mcp-session-id": first.headers["mcp-session-id"]},
        )
        async with client_of(served.url, alice, mode="auto") as modern:
            listed = await modern.list_tools()
        bobs = [await opening(bob), await opening(bob)]
        locals_ = [await opening(LOCAL_TOKEN) for _ in range(3)]
        closed = await http.delete(
            served.url, headers={**bearer(alice), "mcp-session-id": second.headers["mcp-session-id"]}
        )
        again = await opening(alice)
        still_refused = await opening(alice)
    assert [answer.status_code for answer in failed] == [400, 406, 400]
    assert (first.status_code, second.status_code) == (200, 200)
    assert (refused.status_code, refused.json()) == (429, _at_the_cap(2))
    assert refused.headers["retry-after"] == "30" and refused.headers["content-type"] == "application/json"
    assert refused.headers["content-length"] == str(len(refused.content))
    assert in_her_session.status_code == 200 and sse_messages(in_her_session.text)[0]["result"]["tools"]
    assert listed.tools  # 2026-07-28: no session opened, so no cap applies
    assert [answer.status_code for answer in bobs + locals_] == [200] * 5
    assert closed.status_code == 200 and again.status_code == 200
    assert (still_refused.status_code, still_refused.json()) == (429, _at_the_cap(2))


@pytest.mark.legacy_era
async def test_a_user_removed_from_the_users_file_loses_streams_requests_and_sessions_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Alice holds a session with its event stream open (an answer under way), another with nothing under way, and
    is sending a request she has not finished (no answer started). She is removed from the users file and nobody
    calls: at the server's next look at the file, the stream ends cleanly, the request is answered that her access
    ended, and both her sessions are closed. Bob's session goes on."""
    users = tmp_path / "team.toml"
    alice, bob = add_user(users, "alice"), add_user(users, "bob")
    async with (
        serving_stack(tmp_path, users_file=users, http_token=LOCAL_TOKEN) as served,
        httpx.AsyncClient(timeout=10) as http,
    ):
        hers = await RawSession(http, served.url, {**MCP_HEADERS, **bearer(alice)}).open()
        idle = await RawSession(http, served.url, {**MCP_HEADERS, **bearer(alice)}).open()
        his = await RawSession(http, served.url, {**MCP_HEADERS, **bearer(bob)}).open()
        sessions = served.stack.sessions
        async with (
            http.stream("GET", served.url, headers={**hers.headers, "Accept": "text/event-stream"}) as stream,
            await anyio.connect_tcp("127.0.0.1", served.port) as unfinished,
        ):
            assert stream.status_code == 200 and sessions.held("alice") == 2
            body = json.dumps(initialize_body()).encode()
            lines = ["Content-Type: application/json", "Accept: application/json, text/event-stream"]
            lines += [f"Authorization: Bearer {alice}", f"Content-Length: {len(body)}"]
            await unfinished.send(head("POST", "/mcp", served.host, *lines) + body[:10])
            await _until(lambda: sessions.held("alice") == 3)  # her third opening is under way: past the gate
            current = read_users(users)
            del current["alice"]
            write_users(users, current)
            ended = await stream.aread()  # the stream ends: cleanly, not cut mid-message
            answer = await read_one_answer(unfinished)
        still_open = open_http_session_ids(served.server)
        bobs = await his.ask("tools/list", {})
        held = sessions.held("alice")
        scraped = samples((await http.get(f"{served.base}/metrics", headers=bearer(LOCAL_TOKEN))).text)
    assert ended == b""
    status, headers, body = answer
    error = {"code": -32603, "message": "Your access to this server has ended."}
    assert (status, json.loads(body)) == (401, {"jsonrpc": "2.0", "id": None, "error": error})
    assert headers["content-type"] == "application/json"
    assert hers.session_id not in still_open and idle.session_id not in still_open  # closed, not only refused to her
    assert his.session_id in still_open  # (a positive control: the server's own list of its sessions)
    assert bobs["result"]["tools"] and held == 0 and scraped["veo_mcp_active_sessions"] == 1.0  # Bob's
    assert caplog.messages.count("access ended for alice: their open streams and sessions are closed") == 1


# --- Host and Origin -----------------------------------------------------------------------------------------------

WRONG_HOST = {"status": 421, "message": "Invalid Host header"}
WRONG_ORIGIN = {"status": 403, "message": "Invalid Origin header"}


@pytest.mark.legacy_era
async def test_every_route_checks_host_and_origin(tmp_path: Path) -> None:
    """A web page reaching this loopback server by DNS rebinding (a foreign Host) or from its own origin gets nothing
    from any route; a video link may be played from any page; a load balancer's probe without a Host (HTTP/1.0, as
    HAProxy's check sends it) is answered on /healthz and /readyz only; VEO_MCP_ALLOWED_HOSTS adds a name."""
    async with (
        serving_stack(tmp_path, allowed_hosts=["veo.example.lan:8000"]) as served,
        httpx.AsyncClient(base_url=served.base, timeout=10) as http,
    ):
        _, data = _a_saved_video(served)
        assert served.app.links is not None
        link = f"{FILES_PATH}{served.app.links.signer.token('simulated/dawn-heron.mp4')}"

        async def ask(path: str, headers: dict[str, str]) -> httpx.Response:
            if path == "/mcp":
                return await http.post(path, json=initialize_body(), headers={**MCP_HEADERS, **headers})
            return await http.get(path, headers=headers)

        routes = ("/healthz", "/readyz", "/metrics", "/mcp", link)
        foreign_host = {path: await ask(path, {"Host": "attacker.example"}) for path in routes}
        foreign_origin = {path: await ask(path, {"Origin": "http://attacker.example"}) for path in routes}
        own_origin = {path: await ask(path, {"Origin": served.base}) for path in routes}
        named = {path: await ask(path, {"Host": "veo.example.lan:8000"}) for path in routes}
        named_origin = await ask("/healthz", {"Host": "veo.example.lan:8000", "Origin": "https://veo.example.lan:8000"})
        without_host = {}
        for path in routes:
            async with await anyio.connect_tcp("127.0.0.1", served.port) as probe:
                await probe.send(head("GET", path, None))
                without_host[path] = await read_one_answer(probe)
        async with await anyio.connect_tcp("127.0.0.1", served.port) as page:  # a page's request, without a Host
            await page.send(head("GET", "/healthz", None, "Origin: http://attacker.example"))
            from_a_page = await read_one_answer(page)
    for path in routes:
        assert (foreign_host[path].status_code, foreign_host[path].json()) == (421, WRONG_HOST), path
        assert own_origin[path].status_code == 200, path
        assert named[path].status_code == 200, path
    for path in routes[:-1]:
        assert (foreign_origin[path].status_code, foreign_origin[path].json()) == (403, WRONG_ORIGIN), path
    assert foreign_origin[link].status_code == 200 and foreign_origin[link].content == data
    assert named_origin.status_code == 200
    assert {path: status for path, (status, _, _) in without_host.items()} == {
        "/healthz": 200,
        "/readyz": 200,
        "/metrics": 421,
        "/mcp": 421,
        link: 421,
    }
    assert json.loads(without_host["/healthz"][2]) == {"status": "ok"}
    assert json.loads(without_host["/metrics"][2]) == WRONG_HOST
    assert (from_a_page[0], json.loads(from_a_page[2])) == (421, WRONG_HOST)  # an Origin: no probe, whatever the path


# --- connections ---------------------------------------------------------------------------------------------------


@pytest.mark.legacy_era
async def test_a_request_head_that_does_not_arrive_in_time_is_cut_however_it_trickles(tmp_path: Path) -> None:
    """VEO_MCP_HTTP_HEADER_TIMEOUT: a head sent a byte at a time, steadily, is still one head that must arrive in
    time; the connection is closed without an answer. A client that sends its head at once is served."""
    async with serving_stack(tmp_path, http_header_timeout_s=0.3, http_body_timeout_s=30) as served:
        async with await anyio.connect_tcp("127.0.0.1", served.port) as slow:
            sent = head("GET", "/healthz", served.host)[:-2]  # the blank line that ends a head never comes
            await slow.send(sent + b"X-Slowly: ")
            with anyio.fail_after(10):  # the server cuts it well before: a head without deadline never ends
                with contextlib.suppress(anyio.BrokenResourceError, ConnectionResetError, BrokenPipeError):
                    while True:  # a byte every 20 ms, until the server's close makes a send fail
                        await slow.send(b"z")
                        await anyio.sleep(0.02)
            received = await read_to_the_end(slow)
        async with await anyio.connect_tcp("127.0.0.1", served.port) as prompt:
            await prompt.send(head("GET", "/healthz", served.host))
            status, _, body = await read_one_answer(prompt)
    assert received == b""
    assert (status, json.loads(body)) == (200, {"status": "ok"})


@pytest.mark.legacy_era
async def test_a_request_body_that_stops_half_way_is_cut(tmp_path: Path) -> None:
    """VEO_MCP_HTTP_BODY_TIMEOUT: the head came in time, the body stops; the connection is closed (the head's own,
    longer deadline would not have closed it yet)."""
    async with serving_stack(tmp_path, http_header_timeout_s=30, http_body_timeout_s=0.3) as served:
        body = json.dumps(initialize_body()).encode()
        lines = ["Content-Type: application/json", "Accept: application/json, text/event-stream"]
        async with await anyio.connect_tcp("127.0.0.1", served.port) as stalled:
            await stalled.send(head("POST", "/mcp", served.host, *lines, f"Content-Length: {len(body)}") + body[:20])
            received = await read_to_the_end(stalled)
        async with await anyio.connect_tcp("127.0.0.1", served.port) as whole:
            await whole.send(head("POST", "/mcp", served.host, *lines, f"Content-Length: {len(body)}") + body)
            status, headers, _ = await read_one_answer(whole)
    # Told why before the close: 408, and nothing more (the application never answers a request it did not get).
    assert received == b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    assert status == 200 and "mcp-session-id" in headers


@pytest.mark.legacy_era
async def test_one_address_holds_at_most_its_share_of_connections(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """VEO_MCP_HTTP_MAX_CONNECTIONS_PER_CLIENT=2: a third connection from the same address is closed unanswered and
    said once in the log; when one of the two ends, the next is served."""
    async with serving_stack(tmp_path, http_max_connections_per_client=2) as served:
        request = head("GET", "/healthz", served.host)
        held = [await anyio.connect_tcp("127.0.0.1", served.port) for _ in range(2)]
        for connection in held:  # each answered: both are counted by now
            await connection.send(request)
            assert (await read_one_answer(connection))[0] == 200
        async with await anyio.connect_tcp("127.0.0.1", served.port) as third:
            with contextlib.suppress(anyio.BrokenResourceError, ConnectionResetError, BrokenPipeError):
                await third.send(request)
            refused = await read_to_the_end(third)
        await held[0].aclose()
        with anyio.fail_after(10):
            while True:  # the server sees the close in its own time: until then a new connection is refused too
                async with await anyio.connect_tcp("127.0.0.1", served.port) as later:
                    with contextlib.suppress(anyio.BrokenResourceError, ConnectionResetError, BrokenPipeError):
                        await later.send(request)
                    answered = await answer_or_none(later)
                if answered is not None:
                    break
                await anyio.sleep(0.01)
        await held[1].aclose()
    assert refused == b""
    assert answered is not None and answered[0] == 200
    said = [m for m in caplog.messages if m.startswith("refused ")]
    assert (
        said[0] == "refused 1 connection(s) so far: 127.0.0.1 already holds 2 (VEO_MCP_HTTP_MAX_CONNECTIONS_PER_CLIENT)"
    )


# --- 2025-11-25 tasks --------------------------------------------------------------------------------------------

IMMEDIATE = "io.modelcontextprotocol/model-immediate-response"


@pytest.mark.legacy_era
async def test_a_2025_client_runs_tools_as_tasks_over_http_and_hears_their_status(tmp_path: Path) -> None:
    """A task-augmented tools/call on a 2025-11-25 session: a task is created, the tool's own first answer goes along
    word for word (as a plain call gives it), its status comes on the session's event stream; a refusal creates no
    task and says the refusal's words; a tool that cannot be a task says so."""
    async with (
        serving_stack(tmp_path, simulator_speed=100) as served,
        httpx.AsyncClient(timeout=10) as http,
    ):
        session = await RawSession(http, served.url, dict(MCP_HEADERS)).open()
        async with http.stream("GET", served.url, headers={**session.headers, "Accept": "text/event-stream"}) as events:
            plain = (await session.ask("tools/call", _call("generate_video", {"prompt": "a kite over dunes"})))[
                "result"
            ]
            task = {"ttl": 60_000}
            video = await session.ask(
                "tools/call", {**_call("generate_video", {"prompt": "a kite at noon"}), "task": task}
            )
            items = [{"prompt": "first shot"}, {"prompt": "second shot"}]
            batch = await session.ask("tools/call", {**_call("generate_batch", {"items": items}), "task": task})
            refused = await session.ask(
                "tools/call", {**_call("generate_video", {"prompt": "x", "quality": "8k"}), "task": task}
            )
            not_a_task = await session.ask("tools/call", {**_call("list_models", {}), "task": task})
            listed = (await session.ask("tasks/list", {}))["result"]["tasks"]
            created = video["result"]["task"]
            heard: dict[str, Any] = {}
            with anyio.fail_after(10):
                async for line in events.aiter_lines():
                    if line.startswith("data: "):
                        heard = json.loads(line.removeprefix("data: "))
                        if (
                            heard["method"] == "notifications/tasks/status"
                            and heard["params"]["taskId"] == created["taskId"]
                        ):
                            break
    plain_id = plain["structuredContent"]["task_id"]
    generation = re.match(r"Generation (task-unified-\S+) ", created["statusMessage"])
    assert generation is not None
    assert set(created) == {"taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt", "ttl", "pollInterval"}
    assert created["status"] == "working" and created["ttl"] == LEAST_TASK_TTL_MS  # 60 s asked; 10 minutes is the least
    said = video["result"]["_meta"][IMMEDIATE]
    assert said.replace(generation.group(1), "<id>") == plain["content"][0]["text"].replace(plain_id, "<id>")
    assert said.startswith("Started generation ") and said.endswith("[simulated: nothing billed]")
    queued = batch["result"]["_meta"][IMMEDIATE]
    assert queued.startswith("Queued 2 generations ($0.96 (69 credits): 2 requests, 8 s of video). Batch batch-")
    assert batch["result"]["task"]["status"] == "working"
    words = 'quality: "8k" is not allowed; use one of "720p", "1080p" or "4k". Nothing was sent.'
    assert (refused["error"]["code"], refused["error"]["message"]) == (-32602, words)
    assert refused["error"]["data"]["isError"] is True
    assert refused["error"]["data"]["content"] == [{"type": "text", "text": words}]
    assert not_a_task["error"] == {
        "code": -32601,
        "message": "list_models cannot run as a task (only generate_video and generate_batch can): call it without "
        "`task`.",
    }
    assert sorted(t["taskId"] for t in listed) == sorted([created["taskId"], batch["result"]["task"]["taskId"]])
    assert heard["params"]["taskId"] == created["taskId"]


def _call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": tool, "arguments": arguments}


# --- a local failure's words ----------------------------------------------------------------------------------------


def test_a_local_failure_names_the_setting_of_the_folder_it_happened_in_and_no_other(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)

    def said(where: Path) -> str:
        return local_failure(PermissionError(13, "Permission denied", str(where)), settings)

    advice = "Check that the folder exists, is a folder and is writable, and that the disk has room"
    assert said(settings.output_dir / "alice" / "a.mp4") == (
        f"veo-mcp could not use {settings.output_dir / 'alice' / 'a.mp4'}: Permission denied. {advice} "
        "(VEO_MCP_OUTPUT_DIR sets that folder); then call again."
    )
    assert said(settings.data_dir) == (
        f"veo-mcp could not use {settings.data_dir}: Permission denied. {advice} (VEO_MCP_DATA_DIR sets that "
        "folder); then call again."
    )
    elsewhere = tmp_path / "elsewhere" / "b.png"
    assert said(elsewhere) == f"veo-mcp could not use {elsewhere}: Permission denied. {advice}; then call again."


async def test_a_users_own_confirmation_threshold_from_the_users_file_holds_for_them_alone(tmp_path: Path) -> None:
    """Alice's line in the users file asks for confirmation above $0.10; Bob has no limit of his own, so the
    server's threshold ($2) lets the same $0.48 video go."""
    users = tmp_path / "team.toml"
    alice = add_user(users, "alice", confirm_threshold_usd=0.1)
    bob = add_user(users, "bob")
    async with serving_stack(tmp_path, users_file=users, http_token=LOCAL_TOKEN, confirm_threshold_usd=2.0) as served:
        async with client_of(served.url, alice) as client:
            held = await client.call_tool("generate_video", {"prompt": "a heron at dawn"})
        async with client_of(served.url, bob) as client:
            sent = await client.call_tool("generate_video", {"prompt": "a heron at dawn"})
    assert held.is_error and "above the $0.10 confirmation threshold" in text_of(held), text_of(held)
    assert not sent.is_error and (sent.structured_content or {})["task_id"].startswith("task-"), text_of(sent)
