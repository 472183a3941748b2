"""How tasks end and last: a failed generation fails its task with get_generation's advice, tasks/cancel stops
following and saving (and says what happens upstream), task ids survive a restart, retention follows the TTL."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from tests.helpers import current_era, finish, running_harness, text_of
from tests.mcp.task_client import TaskExtension, create_task, follow, task_request
from tests.mcp.tasks.test_task_flow import creator, final_of, reader
from veo_mcp.core.generation import Generation
from veo_mcp.evolink import catalog
from veo_mcp.mcp.tasks import TTL_DEFAULT_MS, TTL_MAX_MS, TTL_MIN_MS
from veo_mcp.mcp.tasks.book import granted_ttl_ms
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig
from veo_mcp.storage import McpTaskRecord


async def test_a_failed_generation_fails_its_task_with_the_same_advice(tmp_path: Path, era: str) -> None:
    async with running_harness(tmp_path) as harness, creator(harness) as making, reader(harness) as reading:
        harness.simulator.faults.add(Fault(kind="fail_task", error_code="content_policy_violation", fraction=0.3))
        created = await create_task(making, {"prompt": "something the filter refuses"})
        if current_era() == "legacy":
            result = await task_request(reading, "tasks/result", {"taskId": created.task_id})
            state = await task_request(reading, "tasks/get", {"taskId": created.task_id})
            shown = state["statusMessage"]
        else:
            state = await follow(reading.session, created.task_id)
            result, shown = state["error"]["data"], state["error"]["message"]
            assert state["error"]["message"] == state["statusMessage"]
        plain = await reading.call_tool("get_generation", {"task_id": result["structuredContent"]["task_id"]})
    advice = catalog.advice_for_task_error("content_policy_violation")
    assert state["status"] == "failed" and advice in shown
    assert (plain.structured_content or {})["advice"] == advice and advice in text_of(plain)
    assert result["isError"] and advice in result["content"][0]["text"]
    assert result["structuredContent"]["error_code"] == "content_policy_violation"


async def test_cancel_stops_following_and_saving_and_says_what_happens_upstream(tmp_path: Path, era: str) -> None:
    simulator = Simulator(SimulatorConfig(speed=1))  # renders for a minute: the cancel lands mid-render
    async with (
        running_harness(tmp_path, simulator=simulator) as harness,
        creator(harness) as making,
        reader(harness) as reading,
    ):
        created = await create_task(making, {"prompt": "a slow sunrise"})
        answer = await task_request(reading, "tasks/cancel", {"taskId": created.task_id})
        state = await task_request(reading, "tasks/get", {"taskId": created.task_id})
        record = (await harness.app.parts.store.mcp_tasks(0, 1))[0][0]
        generation = harness.app.parts.registry.generations[record.generation_task_id]
        stopped = (generation.followed, harness.app.parts.poller.tracks(generation.task_id))
        with pytest.raises(MCPError) if era == "legacy" else contextlib.nullcontext():
            await task_request(reading, "tasks/cancel", {"taskId": created.task_id})  # already cancelled
        downloads = harness.ledger()["requests"]["download"]
        await reading.call_tool("get_generation", {"task_id": generation.task_id})  # asking follows it again
        resumed = (generation.followed, harness.app.parts.poller.tracks(generation.task_id))
    assert state["status"] == "cancelled"
    message = state["statusMessage"]
    assert "stopped following" in message and "will not save" in message and "simulator keeps rendering" in message
    assert f"get_generation with task_id '{generation.task_id}'" in message
    assert (answer.get("status"), answer.get("statusMessage")) == (
        ("cancelled", message) if era == "legacy" else (None, None)
    )
    assert stopped == (False, False) and resumed == (True, True) and downloads == 0


async def test_a_restart_between_create_and_result_loses_nothing(tmp_path: Path, era: str) -> None:
    simulator = Simulator(SimulatorConfig(speed=20))
    async with running_harness(tmp_path, simulator=simulator) as harness, creator(harness) as making:
        created = await create_task(making, {"prompt": "a night train", "request_id": "train"})
        cancelled = await create_task(making, {"prompt": "a cancelled one"})
        await task_request(making, "tasks/cancel", {"taskId": cancelled.task_id})
    assert simulator.service.ledger()["tasks"][0]["status"] != "completed"
    async with running_harness(tmp_path, simulator=simulator) as harness, reader(harness) as reading:
        record = await harness.app.parts.store.mcp_task(cancelled.task_id)
        assert record is not None  # its generation still renders upstream; the restarted server does not poll it
        untracked = not harness.app.parts.poller.tracks(record.generation_task_id)
        before = await task_request(reading, "tasks/get", {"taskId": created.task_id})
        state, result = await final_of(reading, created.task_id)
        gone = await task_request(reading, "tasks/get", {"taskId": cancelled.task_id})
    assert before["taskId"] == created.task_id and before["status"] in ("working", "completed")
    assert state["status"] == "completed" and Path(result["structuredContent"]["files"][0]["path"]).is_file()
    assert result["structuredContent"]["request_id"] == "train"
    assert gone["status"] == "cancelled" and untracked  # the cancel outlived the restart too
    assert simulator.service.requests["create"] == 2 and simulator.service.requests["download"] == 1


def test_the_requested_ttl_is_honoured_within_stated_limits() -> None:
    assert granted_ttl_ms(None) == TTL_DEFAULT_MS == 24 * 3600 * 1000
    assert granted_ttl_ms(60_000) == TTL_MIN_MS == 10 * 60 * 1000
    assert granted_ttl_ms(3 * 3600 * 1000) == 3 * 3600 * 1000
    assert granted_ttl_ms(10**12) == TTL_MAX_MS == 7 * 24 * 3600 * 1000


async def test_a_task_past_its_retention_is_unknown_and_its_generation_stays(tmp_path: Path, era: str) -> None:
    async with running_harness(tmp_path) as harness, creator(harness) as making, reader(harness) as reading:
        created = await create_task(making, {"prompt": "short-lived"})
        store = harness.app.parts.store
        record = await store.mcp_task(created.task_id)
        assert record is not None
        expired = McpTaskRecord(**{**record.model_dump(), "task_id": "old", "created_at": time.time() - 3600})
        await store.save_mcp_task(expired.model_copy(update={"ttl_ms": TTL_MIN_MS}))
        with pytest.raises(MCPError) as raised:
            await task_request(reading, "tasks/get", {"taskId": "old"})
        listed = (await store.mcp_tasks(0, 10))[0] if era == "legacy" else []
        generation = await reading.call_tool("get_generation", {"task_id": record.generation_task_id})
    assert raised.value.error.code == -32602 and "past its retention" in raised.value.error.message
    assert not generation.is_error
    if era == "legacy":
        assert [r.task_id for r in listed] == [created.task_id]


async def test_tasks_need_the_extension_declared_on_2026_sessions(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, Client(harness.server, mode="auto") as plain:
        with pytest.raises(MCPError) as raised:
            await task_request(plain, "tasks/get", {"taskId": "any"})
    assert raised.value.error.code == -32021 and "io.modelcontextprotocol/tasks" in raised.value.error.message
    assert TaskExtension.identifier == "io.modelcontextprotocol/tasks"


async def test_a_generation_evolink_forgets_fails_its_task_instead_of_waiting_forever(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, creator(harness) as making:
        created = await create_task(making, {"prompt": "lost upstream"})
        harness.simulator.faults.add(Fault(kind="status", endpoint="get", status=404, count=1000))
        state = await follow(making.session, created.task_id)
    assert state["status"] == "failed" and "no longer knows" in state["statusMessage"]
    assert state["error"]["message"] == state["statusMessage"]


async def test_a_tasks_video_is_saved_even_with_automatic_saving_off(tmp_path: Path) -> None:
    async with (
        running_harness(tmp_path, auto_download=False) as harness,
        creator(harness) as making,
        Client(harness.server, mode="auto") as plain_client,
    ):
        plain = await plain_client.call_tool("generate_video", {"prompt": "not a task"})
        created = await create_task(making, {"prompt": "a task"})
        state = await follow(making.session, created.task_id)
        await finish(plain_client, (plain.structured_content or {})["task_id"])
        untouched = harness.app.parts.registry.generations[(plain.structured_content or {})["task_id"]]
    assert state["status"] == "completed" and Path(state["result"]["structuredContent"]["files"][0]["path"]).is_file()
    assert untouched.status == "completed" and untouched.download_state == "none"  # still waits for download_video
    assert harness.ledger()["requests"]["download"] == 1


async def test_a_task_whose_video_cannot_be_saved_here_fails_with_the_saves_reason(tmp_path: Path) -> None:
    """A failure on this machine (here the videos' folder became a file) cannot be waited through: the task ends
    failed, saying why, although the saver tries again later (the user may fix it)."""
    simulator = Simulator(SimulatorConfig(speed=1))  # renders until the clock moves
    async with running_harness(tmp_path, simulator=simulator) as harness, creator(harness) as making:
        created = await create_task(making, {"prompt": "a video with nowhere to go"})
        folder = harness.app.settings.output_dir / "simulated"
        shutil.rmtree(folder)
        folder.write_text("not a folder")
        simulator.service.clock.advance(3600)
        state = await follow(making.session, created.task_id)
        record = (await harness.app.parts.store.mcp_tasks(0, 1))[0][0]
        generation = harness.app.parts.registry.generations[record.generation_task_id]
    assert state["status"] == "failed" and "could not be saved" in state["statusMessage"]
    assert generation.download_error and generation.download_error in state["statusMessage"]
    assert str(folder) in state["statusMessage"] and "fix the cause first" in state["statusMessage"]
    assert generation.download_retry_at is not None  # tried again later all the same


async def test_a_task_stays_working_while_an_automatic_retry_of_its_save_is_due(tmp_path: Path) -> None:
    """Upstream trouble while saving is retried by itself (in 5 s): the task stays working, saying so, and is
    completed by that retry - not by another attempt at once."""
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="status", endpoint="download", status=503, count=3))  # one whole attempt
    failed = anyio.Event()
    retry_due: list[float | None] = []

    async def on_change(generation: Generation) -> None:
        if generation.download_state == "failed" and not failed.is_set():
            retry_due.append(generation.download_retry_at)
            failed.set()

    async with running_harness(tmp_path, simulator=simulator) as harness, creator(harness) as making:
        harness.app.bus.subscribe(on_change)
        created = await create_task(making, {"prompt": "a video the host refuses once"})
        with anyio.fail_after(20):
            await failed.wait()
        while_failed = await task_request(making, "tasks/get", {"taskId": created.task_id})
        state = await follow(making.session, created.task_id)
    assert while_failed["status"] == "working", while_failed
    assert "failed and is tried again" in while_failed["statusMessage"] and "503" in while_failed["statusMessage"]
    assert state["status"] == "completed"
    saved = Path(state["result"]["structuredContent"]["files"][0]["path"])
    assert retry_due[0] is not None and saved.stat().st_mtime >= retry_due[0] - 1  # saved by the retry, when due
    assert harness.ledger()["requests"]["download"] == 4  # three refused tries, then the retry that saved it


async def test_a_task_stays_working_between_its_saves_retry_falling_due_and_the_attempt_starting(
    tmp_path: Path,
) -> None:
    """On a busy machine the retry, once due, may wait for a worker: the task is still working then, not failed."""
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="status", endpoint="download", status=503, count=3))  # one whole attempt
    picked, go_on = anyio.Event(), anyio.Event()
    async with running_harness(tmp_path, simulator=simulator) as harness, creator(harness) as making:
        downloader = harness.app.parts.downloader
        save = downloader.save
        attempts = 0

        async def busy_then_save(generation: Generation, *args: Any, **kwargs: Any) -> Any:
            nonlocal attempts
            attempts += 1
            if attempts == 2:  # the retry, due and handed to a worker that has not begun it yet
                picked.set()
                await go_on.wait()
            return await save(generation, *args, **kwargs)

        downloader.save = busy_then_save  # type: ignore[method-assign]
        created = await create_task(making, {"prompt": "a video retried by a busy saver"})
        with anyio.fail_after(30):
            await picked.wait()
        in_between = await task_request(making, "tasks/get", {"taskId": created.task_id})
        go_on.set()
        state = await follow(making.session, created.task_id)
    assert in_between["status"] == "working", in_between
    assert state["status"] == "completed"
