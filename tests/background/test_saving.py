"""Saving videos when things go wrong: nothing silent, nothing fetched twice, nothing given up while a link lives.

Tried as an unlucky user meets them: a brief 404 or 403 upstream, a save that keeps failing, a full disk, a file
deleted after it was saved, two server processes sharing one data folder, a simulator run as its own process.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client

from tests.disks import DISK_KINDS, DiskKind, small_disk
from tests.helpers import (
    TEST_KEY,
    SimulatorProcess,
    finish,
    make_image,
    running_harness,
    service_settings,
    text_of,
)
from veo_mcp.app import App
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig


async def _state(client: Client, task_id: str) -> dict[str, Any]:
    return (await client.call_tool("get_generation", {"task_id": task_id})).structured_content or {}


async def _until(client: Client, task_id: str, done: Any, what: str) -> dict[str, Any]:
    """get_generation until `done(state)`, within a bound (the simulator runs fast; this only guards a hang)."""
    with anyio.fail_after(20):
        while not done(state := await _state(client, task_id)):  # noqa: ASYNC110 - waiting on the app's own state
            await anyio.sleep(0.02)
    return state


async def _until_waited(client: Client, task_id: str, timeout_s: float, done: Any) -> dict[str, Any]:
    """wait_for_generation (at most a few calls) until `done(state)`."""
    for _ in range(5):
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": timeout_s})
        if done(state := waited.structured_content or {}):
            return state
    raise AssertionError(f"not reached after 5 waits: {state}")


async def test_a_brief_404_on_a_status_poll_does_not_stop_tracking(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a heron"})
        harness.simulator.faults.add(Fault(kind="status", endpoint="get", status=404, count=3))
        state = await finish(client, (created.structured_content or {})["task_id"])
    assert state["status"] == "completed" and state["error_message"] is None


async def test_a_brief_refusal_of_a_young_link_is_retried_not_final(tmp_path: Path) -> None:
    async with running_harness(tmp_path, auto_download=False) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a kite"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        harness.simulator.faults.add(Fault(kind="status", endpoint="download", status=403))
        refused = await client.call_tool("download_video", {"task_id": task_id})
        between = await _state(client, task_id)
        saved = await client.call_tool("download_video", {"task_id": task_id})
    assert refused.is_error and "tried again" in text_of(refused)
    assert between["download_status"] == "failed" and "403" in between["download_error"]
    assert "Saving the video failed" in between["advice"] and "download_video" in between["advice"]
    assert not saved.is_error, text_of(saved)


async def test_a_link_past_its_window_is_final_and_never_fetched(tmp_path: Path) -> None:
    async with running_harness(tmp_path, auto_download=False) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "an old kite"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        generation = await harness.app.parts.registry.get(task_id)
        generation.completed_at = time.time() - 26 * 3600  # completed more than 24 h (+ grace) ago
        refused = await client.call_tool("download_video", {"task_id": task_id})
        state = await _state(client, task_id)
    assert refused.is_error and "expired" in text_of(refused)
    assert state["download_status"] == "expired" and harness.ledger()["requests"]["download"] == 0


async def test_a_failed_save_is_shown_with_when_it_is_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="status", endpoint="download", status=503, count=3))  # one whole attempt
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a stubborn kite"})
        task_id = (created.structured_content or {})["task_id"]
        # A wait shorter than the retry delay (5 s) ends on the failed save, saying when it is tried again ...
        failing = await _until_waited(client, task_id, 3, lambda s: s["download_status"] == "failed")
        # ... and a wait that reaches past the retry sees through it, to the saved file.
        saved = await _until_waited(client, task_id, 10, lambda s: s["download_status"] == "saved")
    assert "503" in failing["download_error"] and failing["download_next_attempt_at"]
    assert "tries again by itself at" in failing["next_step"] and failing["files"] == []
    assert not failing["timed_out"] and saved["files"] and not saved["timed_out"]
    # The log says which video failed, why, and when it is tried again.
    retry_lines = [m for m in caplog.messages if m.startswith(f"saving {task_id} failed (")]
    assert retry_lines and retry_lines[0].endswith("); trying again in 5 s") and "503" in retry_lines[0]


async def test_a_saved_file_that_was_deleted_is_fetched_again(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a lost kite"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        first = await _until(client, task_id, lambda s: s["download_status"] == "saved", "the first save")
        Path(first["files"][0]["path"]).unlink()
        after_delete = await _state(client, task_id)
        again = await _until(client, task_id, lambda s: s["download_status"] == "saved", "the second save")
    assert after_delete["files"] == [] or after_delete["download_status"] != "saved"
    assert Path(again["files"][0]["path"]).is_file() and harness.ledger()["requests"]["download"] == 2


@pytest.mark.parametrize("kind", DISK_KINDS)
async def test_a_full_disk_waits_for_space_instead_of_refetching(
    tmp_path: Path, kind: DiskKind, caplog: pytest.LogCaptureFixture
) -> None:
    """Proven on a real small filesystem where one can be mounted (root), and everywhere on a simulated one."""
    simulator = Simulator(SimulatorConfig(speed=100, result_bytes=300_000))
    with small_disk(kind, tmp_path / "videos", 600) as disk:
        videos = disk.folder
        filler = videos / "filler.bin"
        async with running_harness(tmp_path, simulator=simulator, output_dir=videos) as harness, harness.client() as c:
            created = await c.call_tool("generate_video", {"prompt": "a big kite"})
            task_id = (created.structured_content or {})["task_id"]
            filler.write_bytes(bytes(450_000))  # the disk fills up while it renders
            await finish(c, task_id)
            full = await _until(c, task_id, lambda s: "until 0.4 MB are free" in (s["download_error"] or ""), "waiting")
            # The server looks for room again and finds none (a video fetched again instead ends the wait too).
            fetched_again = lambda: simulator.service.requests["download"] > 1  # noqa: E731
            await disk.looked_at(disk.looked + 3, or_when=fetched_again)
            downloads_while_full = simulator.service.requests["download"]
            filler.unlink()  # the user frees space
            saved = await _until(c, task_id, lambda s: s["download_status"] == "saved", "saved after space returned")
            on_disk = Path(saved["files"][0]["path"]).stat().st_size
    assert "No space left on the disk holding" in full["download_error"] and str(videos) in full["download_error"]
    assert full["download_error"].endswith(
        "the video could not be saved. Nothing is fetched again until 0.4 MB are free there; then veo-mcp saves it "
        "by itself (free space, or set VEO_MCP_OUTPUT_DIR to another disk)."
    )
    needed = int(300_000 * 1.05) + 64 * 1024  # the video, 5 % more, and some headroom
    assert f"disk full while saving {task_id}: waiting for {needed} free bytes" in caplog.messages
    assert full["files"] == [] and full["download_status"] == "failed"
    assert downloads_while_full == 1 and simulator.service.requests["download"] == 2
    assert saved["files"][0]["bytes"] == on_disk == 300_000


async def test_local_images_work_against_a_simulator_in_its_own_process(tmp_path: Path) -> None:
    """The file service's own links (on the simulator's loopback address) are not user URLs to refuse."""
    image = make_image(tmp_path / "pictures" / "frame.png", (30, 120, 200))
    simulator = SimulatorProcess(speed=100, api_key=TEST_KEY)
    try:
        settings = service_settings(
            tmp_path,
            simulate=True,
            api_key=TEST_KEY,
            base_url=simulator.base_url,
            files_base_url=simulator.base_url,
            image_dirs=[tmp_path / "pictures"],
        )
        app = App(settings)
        async with app.running(), Client(create_server(app)) as client:
            created = await client.call_tool("generate_video", {"prompt": "from a frame", "image_files": [str(image)]})
        assert not created.is_error, text_of(created)
        assert simulator.ledger()["requests"]["upload"] == 1 and simulator.ledger()["requests"]["create"] == 1
    finally:
        simulator.stop()


def test_no_test_here_leaves_a_mount_behind(tmp_path: Path) -> None:
    mounts = Path("/proc/mounts").read_text() if Path("/proc/mounts").exists() else ""
    assert str(tmp_path) not in mounts and os.path.ismount(tmp_path) is False


async def test_where_files_cannot_be_linked_a_video_is_kept_in_at_most_four_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """download_video into another folder names the saved file again (a hard link, no space); a filesystem that
    cannot link gets copies instead, and copies fill the disk: with the first file and three copies, a fourth copy
    is refused, in words that say why."""

    def cannot_link(source: object, target: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    async with running_harness(tmp_path) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a copied kite"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        first = await _until(client, task_id, lambda s: s["download_status"] == "saved", "the first save")
        monkeypatch.setattr(os, "link", cannot_link)
        copies = [
            await client.call_tool("download_video", {"task_id": task_id, "subfolder": f"copy{n}"}) for n in range(4)
        ]
        state = await _state(client, task_id)
    original = Path(first["files"][0]["path"]).read_bytes()
    for made in copies[:3]:
        assert not made.is_error, text_of(made)
        copy = Path((made.structured_content or {})["files"][0]["path"])
        assert copy.read_bytes() == original and not copy.samefile(first["files"][0]["path"])
    assert copies[3].is_error
    assert text_of(copies[3]).startswith(
        "This video already has 4 copies in the output folder and this filesystem cannot link files, so no further "
        "copy was made."
    )
    assert len(state["files"]) == 4 and harness.ledger()["requests"]["download"] == 1


async def test_without_automatic_saving_a_failed_download_video_is_not_retried_by_itself(tmp_path: Path) -> None:
    """VEO_MCP_AUTO_DOWNLOAD=false: nothing is saved or fetched again unasked; the answer says to ask again."""
    simulator = Simulator(SimulatorConfig(speed=100))
    async with (
        running_harness(tmp_path, simulator=simulator, auto_download=False) as harness,
        harness.client() as client,
    ):
        created = await client.call_tool("generate_video", {"prompt": "a kite nobody saves"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        simulator.faults.add(Fault(kind="status", endpoint="download", status=503, count=3))  # one whole attempt
        refused = await client.call_tool("download_video", {"task_id": task_id})
        state = await _state(client, task_id)
    assert refused.is_error and "503" in state["download_error"]
    assert state["download_status"] == "failed" and state["download_next_attempt_at"] is None
    assert harness.ledger()["requests"]["download"] == 3
