"""Over HTTP: signed links serve the saved MP4 (200, Range 206, HEAD, 416) and refuse tampered and expired ones;
/healthz, /readyz and /metrics; JSON log lines naming principal and task. All against the real server process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client import Client
from starlette.types import Receive, Scope, Send

from tests.delivery.conftest import (
    FAST,
    LINK_SECRET,
    Served,
    call,
    counting_upstream,
    free_port,
    generate_and_wait,
    http,
    metric,
    read_json_resource,
    serving,
)
from tests.helpers import running_harness
from tests.mcp.test_security import INITIALIZE, MCP_HEADERS
from veo_mcp.delivery import FILES_PATH, LinkSigner
from veo_mcp.mcp.operations import with_operations
from veo_mcp.storage.database import DatabaseWriteError


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server for the module: metrics scraped before and after one generation, which is saved."""
    tmp = tmp_path_factory.mktemp("team")
    env = {**FAST, "VEO_MCP_LINK_SECRET": LINK_SECRET, "VEO_MCP_LOG_FORMAT": "json", "VEO_MCP_LOG_LEVEL": "INFO"}
    with serving(tmp, **env) as served, http() as client:
        before = client.get(f"{served.base}/metrics").text
        task_id, state = pytest_run(generate_and_wait(served.mcp_url, "a lighthouse at dusk"))
        after = client.get(f"{served.base}/metrics").text
        yield {"served": served, "task_id": task_id, "state": state, "before": before, "after": after}
    served.drain()


def pytest_run(coroutine: Any) -> Any:
    async def main() -> Any:
        return await coroutine

    return anyio.run(main)


def test_the_signed_link_serves_the_mp4_with_range_and_head(team: dict[str, Any]) -> None:
    served: Served = team["served"]
    saved = team["state"]["files"][0]
    data = Path(saved["path"]).read_bytes()
    url = saved["url"]
    assert url.startswith(f"{served.base}{FILES_PATH}")
    with http() as client:
        whole = client.get(url)
        part = client.get(url, headers={"Range": "bytes=100-1099"})
        tail = client.get(url, headers={"Range": "bytes=-64"})
        beyond = client.get(url, headers={"Range": f"bytes={len(data)}-"})
        head = client.head(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["content-length"] == str(len(data))
    assert whole.headers["accept-ranges"] == "bytes"
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    assert tail.status_code == 206 and tail.content == data[-64:]
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(data))


def test_with_a_public_url_links_start_with_it_path_prefix_included(tmp_path: Path) -> None:
    """Behind a reverse proxy at https://host/veo, say: the links a client gets must go through the proxy, not to
    the address the server listens on. The public URL here is the server's own (EvoLink's callbacks must reach it),
    with a path, and the server answers the path whether or not the proxy strips it."""
    port = free_port()
    public = f"http://127.0.0.1:{port}/veo"
    env = {**FAST, "VEO_MCP_LINK_SECRET": LINK_SECRET, "VEO_MCP_PUBLIC_URL": public}
    with serving(tmp_path, port=port, **env) as served:
        _, state = pytest_run(generate_and_wait(served.mcp_url, "a lighthouse behind a proxy"))
        url: str = state["files"][0]["url"]
        with http() as client:
            through_the_prefix = client.get(url)
            prefix_stripped = client.get(url.replace(f"/veo{FILES_PATH}", FILES_PATH))
    assert url.startswith(f"{public}{FILES_PATH}"), url
    video = Path(state["files"][0]["path"]).read_bytes()
    assert through_the_prefix.status_code == 200 and through_the_prefix.content == video
    assert prefix_stripped.status_code == 200 and prefix_stripped.content == video


def _flipped(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_a_tampered_or_expired_link_is_refused_without_detail(team: dict[str, Any]) -> None:
    served: Served = team["served"]
    url: str = team["state"]["files"][0]["url"]
    token = url.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    reference = Path(team["state"]["files"][0]["path"]).relative_to(served.output_dir).as_posix()
    signer = LinkSigner(LINK_SECRET.encode(), 3600)
    expired = signer.token(reference, expires_at=time.time() - 1)
    forged_path = LinkSigner(b"not-the-key", 3600).token("../data/veo-mcp.sqlite3")
    with http() as client:
        answers = {
            "signature": client.get(f"{served.base}{FILES_PATH}{payload}.{_flipped(signature, 3)}"),
            "payload": client.get(f"{served.base}{FILES_PATH}{_flipped(payload, 2)}.{signature}"),
            "expired": client.get(f"{served.base}{FILES_PATH}{expired}"),
            "forged": client.get(f"{served.base}{FILES_PATH}{forged_path}"),
            "garbage": client.get(f"{served.base}{FILES_PATH}..%2F..%2Fetc%2Fpasswd"),
        }
        fresh = client.get(f"{served.base}{FILES_PATH}{signer.token(reference)}")
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 404)
    assert len({answer.text for answer in answers.values()}) == 1  # the same words whatever was wrong
    assert fresh.status_code == 200  # the same reference, genuinely signed, is served


async def test_every_result_that_shows_a_saved_file_carries_its_url(team: dict[str, Any]) -> None:
    served: Served = team["served"]
    task_id = team["task_id"]
    downloaded = await call(served.mcp_url, "download_video", {"task_id": task_id})
    got = await call(served.mcp_url, "get_generation", {"task_id": task_id})
    resource = await read_json_resource(served.mcp_url, f"veo://generations/{task_id}")
    for files in (
        (downloaded.structured_content or {})["files"],
        (got.structured_content or {})["files"],
        resource["files"],
    ):
        assert files and files[0]["url"].startswith(f"{served.base}{FILES_PATH}")
    links = [c for c in downloaded.content if c.type == "resource_link" and c.mime_type == "video/mp4"]
    assert links and str(links[0].uri).startswith(f"{served.base}{FILES_PATH}")
    with http() as client:
        fetched = client.get((got.structured_content or {})["files"][0]["url"])
    assert fetched.status_code == 200 and fetched.content[4:8] == b"ftyp"


def test_health_readiness_and_metrics_that_move_with_a_generation(team: dict[str, Any]) -> None:
    served: Served = team["served"]
    with http() as client:
        health = client.get(f"{served.base}/healthz")
        ready = client.get(f"{served.base}/readyz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "upstream": "ok"}
    before, after = team["before"], team["after"]
    completed = 'veo_mcp_generations{status="completed"}'
    assert metric(before, completed) == 0 and metric(after, completed) == 1
    created = 'veo_mcp_upstream_requests_total{operation="create"}'
    assert metric(before, created) == 0 and metric(after, created) == 1
    assert metric(after, 'veo_mcp_upstream_requests_total{operation="get"}') >= 1
    assert metric(before, "veo_mcp_estimated_spend_usd") == 0 < metric(after, "veo_mcp_estimated_spend_usd")
    assert metric(after, "veo_mcp_active_sessions") >= 0 and "veo_mcp_queue_length" in after


def test_json_log_lines_parse_and_name_principal_and_task(team: dict[str, Any]) -> None:
    served: Served = team["served"]
    deadline = time.monotonic() + 10
    task_id = team["task_id"]

    def seen(words: str) -> bool:
        return any(task_id in line and words in line for line in served.lines)

    while not (seen("created task") and seen("saved")):
        line = served.stderr.next_line(deadline)  # the server goes on: read what it has written so far
        if line is None:
            break
        served.lines.append(line)
    records = [json.loads(line) for line in served.lines]  # every line on stderr is one JSON object
    assert any("MCP endpoint" in r["message"] for r in records)
    assert all({"time", "level", "logger", "message", "principal", "task_id"} <= set(r) for r in records)
    about = [r for r in records if r["task_id"] == task_id]
    assert about and {r["principal"] for r in about} == {"local"}
    assert any("created task" in r["message"] for r in about) and any("saved" in r["message"] for r in about)


def test_readiness_names_a_dead_upstream_and_metrics_need_the_token(tmp_path: Path) -> None:
    token = "tok-" + "z" * 40
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"EVOLINK_BASE_URL": dead, "EVOLINK_FILES_BASE_URL": dead, "VEO_MCP_HTTP_TOKEN": token}
    with serving(tmp_path, **env) as served, http() as client:
        ready = client.get(f"{served.base}/readyz")
        health = client.get(f"{served.base}/healthz")
        anonymous = client.get(f"{served.base}/metrics")
        authorised = client.get(f"{served.base}/metrics", headers={"Authorization": f"Bearer {token}"})
        bearer = {"Authorization": f"Bearer {token}"}
        opened = client.post(served.mcp_url, json=INITIALIZE, headers={**MCP_HEADERS, **bearer})
        with_a_session = client.get(f"{served.base}/metrics", headers=bearer).text
    assert opened.status_code == 200 and "mcp-session-id" in opened.headers
    assert (
        metric(authorised.text, "veo_mcp_active_sessions") == 0
        and metric(with_a_session, "veo_mcp_active_sessions") == 1
    )
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["upstream"].startswith("unreachable")
    assert token not in ready.text and health.status_code == 200
    assert anonymous.status_code == 401 and authorised.status_code == 200
    assert "veo_mcp_active_sessions" in authorised.text


async def test_readiness_of_a_failing_database_names_no_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """/readyz answers anyone: a database that fails says "unavailable" there, and where and why only in the log.

    In process, through the ASGI routes the server mounts: a live SQLite connection cannot be made to fail on cue
    from outside the process (it reads through its own cache and open descriptor)."""
    async with running_harness(tmp_path) as harness:
        store = harness.app.parts.store
        where = tmp_path / "data" / "veo-mcp.sqlite3"

        async def failing(timeout_s: float | None = None) -> None:
            raise DatabaseWriteError(f"veo-mcp could not use its database {where}: disk I/O error.")

        monkeypatch.setattr(store, "ping", failing)

        async def nothing(scope: Scope, receive: Receive, send: Send) -> None:
            raise AssertionError("not routed to /mcp")

        routes = with_operations(nothing, harness.app, nothing)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=routes), base_url="http://veo") as client:
            ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "unavailable"
    assert str(tmp_path) not in ready.text
    assert any(str(where) in record.getMessage() for record in caplog.records)


def test_metrics_can_be_public_when_configured(tmp_path: Path) -> None:
    token = "tok-" + "p" * 40
    with serving(tmp_path, VEO_MCP_HTTP_TOKEN=token, VEO_MCP_METRICS_PUBLIC="true") as served, http() as client:
        scraped = client.get(f"{served.base}/metrics")
        mcp = client.post(served.mcp_url, json={})
    assert scraped.status_code == 200 and "veo_mcp_generations" in scraped.text
    assert mcp.status_code == 401  # only /metrics is opened


async def test_batch_items_and_a_combined_film_carry_urls_too(team: dict[str, Any]) -> None:
    served: Served = team["served"]
    items = [{"prompt": "a red kite"}, {"prompt": "a blue kite"}]
    async with Client(served.mcp_url) as client:
        queued = await client.call_tool("generate_batch", {"items": items, "duration": 4, "quality": "720p"})
        batch_id = (queued.structured_content or {})["batch_id"]
        report: dict[str, Any] = {}
        for _ in range(40):
            waited = await client.call_tool("wait_for_batch", {"batch_id": batch_id, "timeout_seconds": 20})
            report = waited.structured_content or {}
            if report["finished"] and all(item["files"] for item in report["items"]):
                break
            await anyio.sleep(0.1)  # finished; the automatic saves follow in a moment
        task_ids = [item["task_id"] for item in report["items"]]
        combined = await client.call_tool("combine_videos", {"task_ids": task_ids})
    assert all(len(item["urls"]) == len(item["files"]) == 1 for item in report["items"]), report
    film = combined.structured_content or {}
    with http() as fetch:
        clip = fetch.get(report["items"][0]["urls"][0])
        joined = fetch.get(film["url"])
    assert clip.content == Path(report["items"][0]["files"][0]).read_bytes()
    assert joined.status_code == 200 and joined.content == Path(film["path"]).read_bytes()


def test_a_link_with_anything_appended_is_refused(team: dict[str, Any]) -> None:
    url: str = team["state"]["files"][0]["url"]
    with http() as client:
        genuine = client.get(url)
        answers = [client.get(url + junk) for junk in ("!!", "%21", "=", "==", ".x", "/x", "A", "%0a", "%20")]
    assert genuine.status_code == 200
    assert [answer.status_code for answer in answers] == [404] * len(answers)


def test_every_route_checks_host_and_origin(team: dict[str, Any]) -> None:
    """A tokenless loopback server: a web page reaching it by DNS rebinding (a foreign Host) or from its own origin
    gets nothing from any route, not only from /mcp; video links may be played from any page."""
    served: Served = team["served"]
    url: str = team["state"]["files"][0]["url"]
    foreign_host = {"Host": "attacker.example"}
    foreign_origin = {"Origin": "https://attacker.example"}
    with http() as client:
        for path in ("/metrics", "/healthz", "/readyz", url.removeprefix(served.base)):
            assert client.get(served.base + path, headers=foreign_host).status_code == 421, path
        for path in ("/metrics", "/healthz", "/readyz"):
            assert client.get(served.base + path, headers=foreign_origin).status_code == 403, path
            assert client.get(served.base + path).status_code == 200, path  # the control
        assert client.get(url, headers=foreign_origin).status_code == 200  # a player on any page may fetch it


def test_readiness_asks_the_upstream_at_most_once_however_often_it_is_probed(tmp_path: Path) -> None:
    with counting_upstream() as upstream:
        env = {"EVOLINK_BASE_URL": upstream.url, "EVOLINK_FILES_BASE_URL": upstream.url}
        with serving(tmp_path, **env) as served, http() as client:
            answers = [client.get(f"{served.base}/readyz") for _ in range(20)]
    assert {answer.status_code for answer in answers} == {200}
    assert upstream.reads == 1  # not 20: a probe nobody authenticates must not make this server call EvoLink
