"""Restarts: tracking and saving resume from the store; links are saved soonest-expiring first; expiry is final."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client

from tests.helpers import finish, make_client, no_dns, running_harness, service_settings, text_of
from veo_mcp.app import App
from veo_mcp.background.autosave import AutoSaver
from veo_mcp.background.downloads import Downloader, VideoInfo
from veo_mcp.core.generation import Generation
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig


def _service(tmp_path: Path, simulator: Simulator, **settings: Any) -> App:
    return App(service_settings(tmp_path, **settings), client=make_client(simulator), simulated=True, resolver=no_dns)


async def _until(condition: Any, timeout_s: float = 10.0) -> None:
    """Poll `condition` (state lives in another component; there is no event to wait on from a test)."""
    with anyio.fail_after(timeout_s):
        while not await condition():  # noqa: ASYNC110
            await anyio.sleep(0.02)


async def test_a_restart_mid_generation_resumes_tracking_and_saves_the_video(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=20))
    first = _service(tmp_path, simulator)
    async with first.running(), Client(create_server(first), mode="legacy") as client:
        created = await client.call_tool("generate_video", {"prompt": "a train through snow"})
        task_id = (created.structured_content or {})["task_id"]
    assert simulator.service.ledger()["tasks"][0]["status"] != "completed"
    second = _service(tmp_path, simulator)
    async with second.running(), Client(create_server(second), mode="legacy") as client:
        listed = (await client.call_tool("list_generations", {})).structured_content or {}
        assert [g["task_id"] for g in listed["generations"]] == [task_id]
        await finish(client, task_id)

        async def saved() -> bool:
            state = (await client.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
            return state["download_status"] == "saved"

        await _until(saved)
        state = (await client.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
    path = Path(state["files"][0]["path"])
    assert path.is_file() and path.read_bytes()[4:8] == b"ftyp"
    assert simulator.service.requests["create"] == 1 and simulator.service.requests["download"] == 1


async def test_completed_but_unsaved_videos_are_saved_after_a_restart(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    async with (
        running_harness(tmp_path, simulator=simulator, auto_download=False) as harness,
        harness.client() as client,
    ):
        created = await client.call_tool("generate_video", {"prompt": "saved later", "n": 2})
        task_id = (created.structured_content or {})["task_id"]
        state = await finish(client, task_id)
    assert state["download_status"] == "none" and "download_video" in state["advice"]
    assert simulator.service.requests["download"] == 0
    service = _service(tmp_path, simulator)
    async with service.running():

        async def saved() -> bool:
            return (await service.parts.registry.get(task_id)).download_state == "saved"

        await _until(saved)
        files = (await service.parts.registry.get(task_id)).files
    assert sorted(f.index for f in files) == [0, 1] and all(Path(f.path).is_file() for f in files)
    assert simulator.service.requests["download"] == 2


@pytest.mark.sqlite_only("edits the SQLite file directly")
async def test_links_expired_during_downtime_are_marked_once_and_never_fetched(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    async with (
        running_harness(tmp_path, simulator=simulator, auto_download=False) as harness,
        harness.client() as client,
    ):
        created = await client.call_tool("generate_video", {"prompt": "too late"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
    db = sqlite3.connect(tmp_path / "data" / "veo-mcp.sqlite3")
    db.execute("UPDATE generations SET completed_at = ?", (time.time() - 26 * 3600,))
    db.commit()
    db.close()
    service = _service(tmp_path, simulator)
    async with service.running(), Client(create_server(service), mode="legacy") as client:

        async def marked() -> bool:
            return (await service.parts.registry.get(task_id)).download_state == "expired"

        await _until(marked)
        state = (await client.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
        retry = await client.call_tool("download_video", {"task_id": task_id})
    assert state["download_status"] == "expired" and "cannot be fetched" in state["advice"]
    assert retry.is_error and "expired" in text_of(retry)
    assert simulator.service.requests["download"] == 0


@pytest.mark.parametrize("auto_download", [False, True])
async def test_without_automatic_download_nothing_is_fetched_until_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auto_download: bool
) -> None:
    """No sleeping to see that nothing happens: the test waits until the app has decided about saving the completed
    generation (an event), then sees whether that decision queued a background save. With saving on, it does."""
    decided: list[str] = []
    queued: list[str] = []
    decide, enqueue = App._save_automatically, AutoSaver.enqueue

    def deciding(self: App, autosaver: AutoSaver, generation: Generation) -> None:
        decide(self, autosaver, generation)
        decided.append(generation.task_id)

    def queueing(self: AutoSaver, generation: Generation) -> None:
        queued.append(generation.task_id)
        enqueue(self, generation)

    monkeypatch.setattr(App, "_save_automatically", deciding)
    monkeypatch.setattr(AutoSaver, "enqueue", queueing)
    async with running_harness(tmp_path, auto_download=auto_download) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "on demand"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        with anyio.fail_after(10):
            while task_id not in decided:  # noqa: ASYNC110 - the decision is made in the poller's task
                await anyio.sleep(0.01)
        assert queued == ([task_id] if auto_download else [])
        if auto_download:
            return
        assert harness.simulator.service.requests["download"] == 0
        saved = await client.call_tool("download_video", {"task_id": task_id})
        again = await client.call_tool("download_video", {"task_id": task_id})
    assert not saved.is_error and not again.is_error and queued == []
    assert harness.simulator.service.requests["download"] == 1  # the second call reuses the saved file


async def test_soonest_expiring_links_are_saved_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    async def record(self: Downloader, generation: Generation, subfolder: str | None = None) -> list[VideoInfo]:
        order.append(generation.task_id)
        return []

    monkeypatch.setattr(Downloader, "save", record)
    simulator = Simulator()
    service = _service(tmp_path, simulator)
    now = time.time()
    async with service.running():
        downloader = service.parts.autosaver
        assert downloader is not None
        for name, hours_ago in (("mid", 10.0), ("fresh", 1.0), ("oldest", 20.0), ("no-expiry-yet", None)):
            generation = Generation(task_id=name, model="m", prompt=name, request={}, simulated=True)
            generation.status = "completed"
            generation.result_urls = ["https://cdn.example/x.mp4"] if hours_ago is not None else []
            generation.completed_at = now - hours_ago * 3600 if hours_ago is not None else None
            downloader.enqueue(generation)  # no await in between: the workers see all four queued at once
        await _until(lambda: _done(order, 4))
    assert order == ["oldest", "mid", "fresh", "no-expiry-yet"]


async def _done(order: list[str], count: int) -> bool:
    return len(order) >= count


async def test_after_a_restart_a_failed_save_is_tried_afresh_and_a_saved_one_is_left_as_it_is(tmp_path: Path) -> None:
    """A save that failed before a restart is taken up again by itself (a fresh start of its retries); a video
    already saved is not fetched again."""
    simulator = Simulator(SimulatorConfig(speed=100))
    async with (
        running_harness(tmp_path, simulator=simulator, auto_download=False) as harness,
        harness.client() as client,
    ):
        ids = []
        for prompt in ("a kite saved at once", "a kite whose save failed"):
            created = await client.call_tool("generate_video", {"prompt": prompt})
            ids.append((created.structured_content or {})["task_id"])
            await finish(client, ids[-1])
        saved_id, failed_id = ids
        assert not (await client.call_tool("download_video", {"task_id": saved_id})).is_error
        simulator.faults.add(Fault(kind="status", endpoint="download", status=503, count=3))  # one whole attempt
        assert (await client.call_tool("download_video", {"task_id": failed_id})).is_error
    assert simulator.service.requests["download"] == 4
    saved_before = (await _stored(tmp_path, simulator, saved_id)).files
    service = _service(tmp_path, simulator)
    async with service.running():

        async def both_saved() -> bool:
            states = [(await service.parts.registry.get(task_id)).download_state for task_id in ids]
            return states == ["saved", "saved"]

        await _until(both_saved)
        again = await service.parts.registry.get(failed_id)
        kept = await service.parts.registry.get(saved_id)
    assert again.download_error is None and again.files  # tried afresh after the restart, and saved
    assert kept.files == saved_before and simulator.service.requests["download"] == 5  # the failed one only


async def _stored(tmp_path: Path, simulator: Simulator, task_id: str) -> Generation:
    service = _service(tmp_path, simulator, auto_download=False)
    async with service.running():
        return await service.parts.registry.get(task_id)
