"""From "make me a video" to a path in two tool calls (issue 22): a wait ends with the saved file or with why there is
none, a failed save is part of the state, one state gives one next step everywhere, and a folder the video could not
be saved in is refused before anything is paid for. Every test runs on both protocol eras."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.disks import DISK_KINDS, DiskKind, small_disk
from tests.helpers import call_ok, running_harness, text_of
from veo_mcp.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.usefixtures("era")


async def test_a_video_is_two_calls_and_the_wait_ends_with_its_path(tmp_path: Path) -> None:
    calls: list[str] = []
    async with running_harness(tmp_path) as harness, harness.client() as client:
        calls.append("generate_video")
        created = await call_ok(client, "generate_video", prompt="a kite over dunes")
        calls.append("wait_for_generation")
        waited = await call_ok(client, "wait_for_generation", task_id=created["task_id"], timeout_seconds=50)
        ledger = harness.ledger()
    assert "it ends with the saved video's path" in created["next_step"]
    assert waited["download_status"] == "saved" and not waited["timed_out"]
    path = Path(waited["files"][0]["path"])
    assert path.is_file() and path.read_bytes()[4:8] == b"ftyp"
    assert waited["next_step"] == "Done: the video is saved at the path in files."
    assert calls == ["generate_video", "wait_for_generation"]  # no download_video
    assert ledger["requests"]["create"] == 1 and ledger["requests"]["download"] == 1


async def test_get_and_wait_give_one_next_step_for_one_state(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=1))  # slow: it is still rendering when asked
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:
        task_id = (await call_ok(client, "generate_video", prompt="a slow heron"))["task_id"]
        rendering = [
            await call_ok(client, "get_generation", task_id=task_id),
            await call_ok(client, "wait_for_generation", task_id=task_id, timeout_seconds=0),
        ]
        simulator.service.clock.advance(3600)
        done = await call_ok(client, "wait_for_generation", task_id=task_id, timeout_seconds=50)
        after = await call_ok(client, "get_generation", task_id=task_id)
        again = await call_ok(client, "wait_for_generation", task_id=task_id, timeout_seconds=0)
        del harness
    got, waited = rendering
    assert got["status"] == waited["status"] == "pending" and waited["timed_out"]
    step = f"call wait_for_generation with task_id '{task_id}' again."
    assert got["advice"].endswith(step) and waited["next_step"].endswith(step)
    assert got["advice"].split(" (")[0] == waited["next_step"].split(" (")[0] == "Still rendering"
    assert done["download_status"] == after["download_status"] == again["download_status"] == "saved"
    assert (
        done["next_step"] == after["advice"] == again["next_step"] == "Done: the video is saved at the path in files."
    )
    assert not again["timed_out"]


async def test_a_repeated_request_of_a_saved_video_answers_with_its_path(tmp_path: Path) -> None:
    arguments = {"prompt": "a fox in snow", "request_id": "fox-1"}
    async with running_harness(tmp_path) as harness, harness.client() as client:
        created = await call_ok(client, "generate_video", **arguments)
        waited = await call_ok(client, "wait_for_generation", task_id=created["task_id"], timeout_seconds=50)
        repeated = await client.call_tool("generate_video", arguments)
        creates = harness.ledger()["requests"]["create"]
    path = waited["files"][0]["path"]
    answer = repeated.structured_content or {}
    assert answer["reused"] and answer["next_step"] == f"Done: the video is saved at {path}."
    assert path in text_of(repeated) and creates == 1


async def test_a_folder_the_video_cannot_be_saved_in_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the videos folder should be")
    async with running_harness(tmp_path, output_dir=blocker / "videos") as harness, harness.client() as client:
        refused = await client.call_tool("generate_video", {"prompt": "a kite"})
        batch = await client.call_tool("generate_batch", {"items": [{"prompt": "a"}, {"prompt": "b"}]})
        ledger = harness.ledger()
    text = text_of(refused)
    assert refused.is_error and str(blocker) in text and "VEO_MCP_OUTPUT_DIR" in text
    assert "Nothing was sent or charged." in text
    assert batch.is_error and "VEO_MCP_OUTPUT_DIR" in text_of(batch)
    assert ledger["requests"]["create"] == 0


@pytest.mark.parametrize("kind", DISK_KINDS)
async def test_a_disk_without_room_for_the_videos_is_refused_before_anything_is_sent(
    tmp_path: Path, kind: DiskKind
) -> None:
    with small_disk(kind, tmp_path / "videos", 600) as disk:  # room for two simulated videos (256 KB each), not three
        videos = disk.folder
        async with running_harness(tmp_path, output_dir=videos) as harness, harness.client() as client:
            three = await client.call_tool("generate_batch", {"items": [{"prompt": f"shot {i}"} for i in range(3)]})
            creates_refused = harness.ledger()["requests"]["create"]
            one = await client.call_tool("generate_video", {"prompt": "a single shot"})
    text = text_of(three)
    assert three.is_error and f"The disk holding {videos / 'simulated'} has" in text and "MB free" in text
    assert "Nothing was sent or charged." in text and "VEO_MCP_OUTPUT_DIR" in text
    assert creates_refused == 0 and not one.is_error, text_of(one)


async def test_a_failed_save_is_part_of_the_state_and_its_advice_does_not_loop(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    simulator = Simulator(SimulatorConfig(speed=1))
    async with (
        running_harness(tmp_path, simulator=simulator, output_dir=videos) as harness,
        harness.client() as client,
    ):
        task_id = (await call_ok(client, "generate_video", prompt="a kite"))["task_id"]
        (videos / "simulated").rmdir()  # checked and created before the create; now made unusable
        (videos / "simulated").write_text("the user put a file here")
        simulator.service.clock.advance(3600)
        waited = await call_ok(client, "wait_for_generation", task_id=task_id, timeout_seconds=50)
        got = await call_ok(client, "get_generation", task_id=task_id)
    for state in (waited, got):
        assert state["status"] == "completed" and state["download_status"] == "failed"
        assert str(videos / "simulated") in state["download_error"] and "VEO_MCP_OUTPUT_DIR" in state["download_error"]
        assert state["download_next_attempt_at"] is not None
    assert not waited["timed_out"] and "download_video" not in waited["next_step"]
    assert waited["next_step"] == got["advice"] and "tries again by itself at" in waited["next_step"]


async def test_a_batch_wait_ends_with_every_video_saved(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        submitted = await call_ok(client, "generate_batch", items=[{"prompt": "a"}, {"prompt": "b"}])
        waited = await call_ok(client, "wait_for_batch", batch_id=submitted["batch_id"], timeout_seconds=50)
        del harness
    assert waited["finished"] and not waited["timed_out"] and waited["done"] == 2
    assert all(item["files"] and Path(item["files"][0]).is_file() for item in waited["items"])
