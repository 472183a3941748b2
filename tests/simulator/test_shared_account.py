"""The built-in simulator remembers (issue 22): its account lives in the data folder, so every process sharing the
folder - a server a client starts per call, a CLI follow-up, a restart - sees the same tasks on the same clock, as
EvoLink would. A simulator without a state folder keeps all of it in memory (the tests' own simulators)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.helpers import current_era, text_of
from veo_mcp.evolink import parse_video_request
from veo_mcp.simulator import Simulator, SimulatorConfig
from veo_mcp.simulator.transport import SimulatorTransport

REQUEST = parse_video_request({"prompt": "a heron", "model": "veo-3.1-fast-generate-preview"})


def _account(tmp_path: Path, **options: object) -> Simulator:
    return Simulator(SimulatorConfig(speed=1, state_dir=tmp_path / "account", **options))  # type: ignore[arg-type]


def test_two_processes_on_one_folder_see_the_same_tasks_on_the_same_clock(tmp_path: Path) -> None:
    first, second = _account(tmp_path), _account(tmp_path)
    task = first.service.create(REQUEST)
    seen = second.service.task(task.id)
    assert seen is not None and seen.request.to_api_payload() == task.request.to_api_payload()
    assert seen.results_token == task.results_token
    assert abs(first.service.clock.now() - second.service.clock.now()) < 1.0
    second.service.clock.advance(3600)  # moves everyone's clock: the task is done for both
    assert first.service.task_object(task, "http://x/")["status"] == "completed"
    assert second.service.task_object(seen, "http://x/")["status"] == "completed"
    assert second.service.video_bytes(seen, 0) == first.service.video_bytes(task, 0)  # the same video


def test_the_ledger_and_the_concurrency_limit_count_every_process(tmp_path: Path) -> None:
    first, second = _account(tmp_path, max_active_tasks=2), _account(tmp_path, max_active_tasks=2)
    for simulator in (first, second):
        simulator.service.count_request("create")
        simulator.service.create(REQUEST)
    assert first.service.active_count() == 2 and second.service.active_count() == 2
    ledger = first.service.ledger()
    assert ledger["requests"]["create"] == 2 and len(ledger["tasks"]) == 2


def test_a_process_at_another_speed_continues_the_clock_where_it_stands(tmp_path: Path) -> None:
    slow = _account(tmp_path)
    slow.service.clock.advance(100)
    before = slow.service.clock.now()
    fast = Simulator(SimulatorConfig(speed=50, state_dir=tmp_path / "account"))
    assert before <= fast.service.clock.now() < before + 5  # re-anchored where it stood, not restarted
    assert fast.service.clock.speed == 50


def test_uploads_are_shared_too(tmp_path: Path) -> None:
    first, second = _account(tmp_path), _account(tmp_path)
    upload = first.service.store_upload(b"\x89PNG\r\n\x1a\n" + bytes(32), "kite.png", "image/png")
    url = first.service.upload_object(upload)["file_url"]
    found = second.service.upload_for_url(url)
    assert found is not None and found.data == upload.data and second.service.upload_count() == 1


def test_memory_only_without_a_state_folder(tmp_path: Path) -> None:
    first, second = Simulator(SimulatorConfig(speed=1)), Simulator(SimulatorConfig(speed=1))
    task = first.service.create(REQUEST)
    assert second.service.task(task.id) is None and first.service.state is None


@pytest.mark.usefixtures("era")
async def test_a_server_started_per_call_knows_the_generation_the_last_one_made(tmp_path: Path) -> None:
    """What langchain-mcp-adapters does by default: a new `veo-mcp serve --simulate` process for every call."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "VEO_MCP_DATA_DIR": str(tmp_path / "data"),
            "VEO_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
            "VEO_MCP_SIMULATOR_SPEED": "300",
            "VEO_MCP_POLL_MIN": "0.05",
        }
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "veo_mcp", "serve", "--simulate"], env=env)
    async with Client(params, mode=current_era()) as client:
        created = await client.call_tool("generate_video", {"prompt": "a lantern at night"})
    task_id = (created.structured_content or {})["task_id"]
    async with Client(params, mode=current_era()) as client:
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 50})
    async with Client(params, mode=current_era()) as client:
        listed = await client.call_tool("list_generations", {})
    state = waited.structured_content or {}
    assert not waited.is_error, text_of(waited)
    assert state["status"] == "completed" and state["download_status"] == "saved"
    assert Path(state["files"][0]["path"]).read_bytes()[4:8] == b"ftyp"
    assert [g["task_id"] for g in (listed.structured_content or {})["generations"]] == [task_id]


async def test_the_api_serves_a_task_another_process_created(tmp_path: Path) -> None:
    first, second = _account(tmp_path), _account(tmp_path)
    task = first.service.create(REQUEST)
    async with httpx.AsyncClient(transport=SimulatorTransport(second), base_url="http://127.0.0.1:1") as http:
        answer = await http.get(f"/v1/tasks/{task.id}", headers={"Authorization": "Bearer k"})
    assert answer.status_code == 200 and answer.json()["id"] == task.id
    assert first.service.ledger()["tasks"][0]["gets"] == 1  # counted where the other process can see it
