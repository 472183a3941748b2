"""Security: the key never leaks, HTTP needs a token off loopback, internal addresses and paths are refused."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp.client import Client

from tests.helpers import (
    current_era,
    finish,
    line_containing,
    make_client,
    running_harness,
    service_settings,
    stop_process,
    text_of,
)
from veo_mcp.app import App
from veo_mcp.evolink.errors import AuthenticationError
from veo_mcp.mcp.http_security import HostCheck, HttpSecurityError, require_safe_binding, transport_security
from veo_mcp.mcp.operations import PROBE_PATHS
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig

CANARY = "sk-CANARY-7f3a9c1e5b2d4f6a8c0e"


async def test_a_whole_session_never_shows_the_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = Simulator(SimulatorConfig(speed=100, api_key=CANARY))
    settings = service_settings(tmp_path, api_key=CANARY)
    service = App(settings, client=make_client(simulator, api_key=CANARY), simulated=False)
    produced: list[str] = []
    notifications: list[Any] = []

    async def on_message(message: Any) -> None:
        notifications.append(message)

    def keep(result: types.CallToolResult) -> dict[str, Any]:
        produced.append(result.model_dump_json())
        return result.structured_content or {}

    async with (
        service.running(),
        Client(create_server(service), mode=current_era(), message_handler=on_message) as client,
    ):
        produced.append(client.instructions or "")
        produced.append(json.dumps([t.model_dump(mode="json") for t in (await client.list_tools()).tools]))
        created = keep(await client.call_tool("generate_video", {"prompt": "a canary in a mine", "n": 2}))
        task_id = created["task_id"]
        if current_era() == "legacy":  # 2026-07-28 clients listen instead (subscriptions/listen)
            await client.subscribe_resource(created["uri"])
        produced.append(json.dumps(await finish(client, task_id)))
        keep(await client.call_tool("download_video", {"task_id": task_id, "subfolder": "birds"}))
        keep(await client.call_tool("list_generations", {}))
        keep(await client.call_tool("estimate_cost", {"prompt": "x"}))
        keep(await client.call_tool("list_models", {}))
        # Error paths: refusals, an ambiguous create, a failed task, a broken download, an unknown id.
        keep(await client.call_tool("generate_video", {"prompt": "x", "quality": "8k"}))
        simulator.faults.add(Fault(kind="drop_after_accept", endpoint="create"))
        keep(await client.call_tool("generate_video", {"prompt": "dropped"}))
        simulator.faults.add(Fault(kind="fail_task", error_code="service_error", fraction=0.2))
        failed = keep(await client.call_tool("generate_video", {"prompt": "will fail"}))
        produced.append(json.dumps(await finish(client, failed["task_id"])))
        keep(await client.call_tool("get_generation", {"task_id": "task-unified-0000000000-nothere1"}))
        produced.append((await client.read_resource(created["uri"])).model_dump_json())
        produced.append((await client.list_resources()).model_dump_json())
        prompt = await client.get_prompt("veo_prompt", {"idea": "a fox"})
        produced.append(prompt.model_dump_json())
        assert service.parts.store is not None
        produced.append(await service.parts.store.dump_text())
    produced.extend(str(n) for n in notifications)
    produced.append(caplog.text)
    for path in tmp_path.rglob("*"):
        produced.append(str(path))
        if path.is_file():
            produced.append(path.read_bytes().decode("latin-1"))
    everything = "\n".join(produced)
    assert "a canary in a mine" in everything  # the net really caught the session's output
    assert CANARY not in everything
    assert CANARY[8:] not in everything  # not even partially


async def test_key_is_masked_in_settings_and_errors(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, api_key=CANARY)
    assert CANARY not in repr(settings) and CANARY not in str(settings.model_dump())
    simulator = Simulator(SimulatorConfig(api_key="another-key"))
    async with make_client(simulator, api_key=CANARY) as client:
        with pytest.raises(AuthenticationError) as raised:
            await client.get_task("task-unified-1")
    assert CANARY not in str(raised.value) and CANARY not in repr(raised.value)


# --- HTTP ----------------------------------------------------------------------------------------------------------


def test_non_loopback_binding_needs_a_token(tmp_path: Path) -> None:
    require_safe_binding("127.0.0.1", service_settings(tmp_path))
    require_safe_binding("::1", service_settings(tmp_path))
    with pytest.raises(HttpSecurityError, match="VEO_MCP_HTTP_TOKEN"):
        require_safe_binding("0.0.0.0", service_settings(tmp_path))  # noqa: S104
    require_safe_binding("0.0.0.0", service_settings(tmp_path, http_token="a-long-secret"))  # noqa: S104


def test_serve_refuses_an_open_address_without_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env["VEO_MCP_DATA_DIR"] = str(tmp_path)
    completed = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "serve", "--simulate", "--transport", "streamable-http", "--host", "0.0.0.0"],  # noqa: S104
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2 and "VEO_MCP_HTTP_TOKEN" in completed.stderr


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@contextmanager
def serving_http(tmp_path: Path, **env: str) -> Iterator[str]:
    """The real `veo-mcp serve --transport streamable-http` on a loopback port it picks; its MCP URL, read from the
    endpoint line it prints (so it is listening). Always ended."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    environment.update({"VEO_MCP_DATA_DIR": str(tmp_path / "data"), "VEO_MCP_OUTPUT_DIR": str(tmp_path / "out"), **env})
    command = [sys.executable, "-m", "veo_mcp", "serve", "--simulate", "--transport", "streamable-http", "--port", "0"]
    server = subprocess.Popen(
        command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        endpoint = re.search(r"http://127\.0\.0\.1:\d+/mcp", line_containing(server.stderr, "MCP endpoint"))
        assert endpoint is not None
        yield endpoint.group(0)
    finally:
        stop_process(server)


def test_serve_over_http_needs_the_token_and_a_local_host_header(tmp_path: Path) -> None:
    token = "tok-" + "x" * 40
    with (
        serving_http(tmp_path, VEO_MCP_HTTP_TOKEN=token, VEO_MCP_HTTP_MAX_SESSIONS="3") as url,
        httpx.Client(timeout=10) as http,
    ):
        missing = http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
        wrong = http.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer nope"})
        right_headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        rebound = http.post(url, json=INITIALIZE, headers={**right_headers, "Host": "evil.example:80"})
        foreign_origin = http.post(url, json=INITIALIZE, headers={**right_headers, "Origin": "http://evil.example"})
        accepted = http.post(url, json=INITIALIZE, headers=right_headers)
        lower = http.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"bearer {token}"})
        upper = http.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"BEARER  {token}"})
        over_the_limit = http.post(url, json=INITIALIZE, headers=right_headers)
    assert missing.status_code == 401 and wrong.status_code == 401
    assert "Bearer" in missing.headers["www-authenticate"] and token not in missing.text
    assert rebound.status_code in (400, 421) and foreign_origin.status_code in (400, 403)
    assert accepted.status_code == 200 and "veo-mcp" in accepted.text
    assert lower.status_code == 200 and upper.status_code == 200  # the scheme is case-insensitive (RFC 7235)
    assert over_the_limit.status_code == 503  # VEO_MCP_HTTP_MAX_SESSIONS=3 sessions are open


def test_serve_over_http_without_a_token_on_loopback_needs_none(tmp_path: Path) -> None:
    with serving_http(tmp_path) as url, httpx.Client(timeout=10) as http:
        opened = http.post(url, json=INITIALIZE, headers=MCP_HEADERS)
    assert opened.status_code == 200


# --- addresses and paths -------------------------------------------------------------------------------------------


async def test_hostnames_resolving_inside_are_refused_before_sending(tmp_path: Path) -> None:
    async def resolver(host: str) -> list[str]:
        return {"images.corp.example": ["10.1.2.3"], "hooks.example": ["93.184.216.34"]}.get(host, [])

    async with running_harness(tmp_path, resolver=resolver) as harness, harness.client() as client:
        image = await client.call_tool(
            "generate_video", {"prompt": "x", "image_urls": ["https://images.corp.example/a.png"]}
        )
        callback = await client.call_tool(
            "generate_video", {"prompt": "y", "callback_url": "https://internal.example/hook"}
        )
        fine = await client.call_tool("generate_video", {"prompt": "z", "callback_url": "https://hooks.example/h"})
    assert image.is_error and "10.1.2.3" in text_of(image) and "image_urls" in text_of(image)
    assert not callback.is_error  # does not resolve: upstream will judge it
    assert not fine.is_error
    assert harness.simulator.service.requests["create"] == 2


async def test_result_links_into_the_local_network_are_not_fetched(tmp_path: Path) -> None:
    async def resolver(host: str) -> list[str]:
        return ["192.168.1.10"] if host == "cdn.evil.example" else []

    async with (
        running_harness(tmp_path, resolver=resolver, auto_download=False) as harness,
        harness.client() as client,
    ):
        created = await client.call_tool("generate_video", {"prompt": "redirected"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        generation = await harness.app.parts.registry.get(task_id)
        generation.result_urls = ["https://cdn.evil.example/video.mp4"]
        result = await client.call_tool("download_video", {"task_id": task_id})
    assert result.is_error and "internal address" in text_of(result) and "192.168.1.10" in text_of(result)
    assert harness.simulator.service.requests["download"] == 0


async def test_saved_files_stay_in_the_output_folder(tmp_path: Path) -> None:
    async with running_harness(tmp_path, auto_download=False) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "../../etc/passwd\x00 /.. \\ name"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        escapes = [
            await client.call_tool("download_video", {"task_id": task_id, "subfolder": sub})
            for sub in ("../outside", "/etc", "a/../../b")
        ]
        saved = await client.call_tool("download_video", {"task_id": task_id, "subfolder": "ok/inner"})
    for result in escapes:
        assert result.is_error and "outside the output folder" in text_of(result)
    path = Path((saved.structured_content or {})["files"][0]["path"])
    output = harness.app.settings.output_dir.resolve()
    assert output in path.resolve().parents and path.name.startswith("etc-passwd-name-")
    assert not (tmp_path / "outside").exists()


@pytest.mark.sqlite_only("the database file's permissions")
async def test_the_database_and_saved_videos_are_private_to_their_owner(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a private lighthouse"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        saved = await client.call_tool("download_video", {"task_id": task_id, "subfolder": "private/deep"})
    path = Path((saved.structured_content or {})["files"][0]["path"])
    database = harness.app.settings.database_path
    assert (database.stat().st_mode & 0o777) == 0o600
    assert all((f.stat().st_mode & 0o077) == 0 for f in database.parent.glob("veo-mcp.sqlite3*"))
    assert (database.parent.stat().st_mode & 0o777) == 0o700
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700 and (path.parent.parent.stat().st_mode & 0o777) == 0o700


async def test_copies_into_subfolders_are_links_not_new_bytes(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a linked kite"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        paths = []
        for index in range(8):
            saved = await client.call_tool("download_video", {"task_id": task_id, "subfolder": f"copy{index}"})
            assert not saved.is_error, text_of(saved)
            paths.append(Path((saved.structured_content or {})["files"][0]["path"]))
    inodes = {path.stat().st_ino for path in paths}
    assert len(inodes) == 1 and paths[0].stat().st_nlink >= 8
    assert harness.simulator.service.requests["download"] == 1


async def _ask(checked: HostCheck, path: str, headers: dict[bytes, bytes]) -> int:
    """The status HostCheck gives one GET (driven directly: HTTP clients always add a Host header)."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {"type": "http", "method": "GET", "path": path, "headers": list(headers.items())}
    await checked(scope, receive, send)
    return statuses[0]


async def _answered(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("by_address", [False, True])
async def test_probes_are_answered_as_load_balancers_send_them(tmp_path: Path, by_address: bool) -> None:
    """HAProxy's health check sends no Host (no browser can), an orchestrator names a replica bound beyond loopback
    by its address: both reach /healthz and /readyz; nothing else is let through without a known Host, and a
    foreign Origin (a web page) is refused everywhere."""
    security = transport_security("127.0.0.1" if not by_address else "0.0.0.0", service_settings(tmp_path))  # noqa: S104
    checked = HostCheck(_answered, security, ("/files/",), PROBE_PATHS, probes_by_address=by_address)
    for probe in PROBE_PATHS:
        assert await _ask(checked, probe, {}) == 200
        assert await _ask(checked, probe, {b"host": b"127.0.0.1:8000"}) == 200  # the control
        assert await _ask(checked, probe, {b"host": b"10.1.2.3:8000"}) == (200 if by_address else 421)
        page = {b"host": b"10.1.2.3:8000", b"origin": b"https://attacker.example"}
        assert await _ask(checked, probe, page) in (403, 421)
    for path in ("/mcp", "/metrics", "/files/abc"):
        assert await _ask(checked, path, {}) == 421
        assert await _ask(checked, path, {b"host": b"10.1.2.3:8000"}) == 421
        assert await _ask(checked, path, {b"host": b"localhost:8000"}) == 200
