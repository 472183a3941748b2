"""combine_videos through a real client session: finished clips joined in order into one MP4 whose length is the
sum of the clips', streams copied when the clips match and re-encoded (fitted, with sound) when they do not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from tests.helpers import running_harness, text_of
from tests.mcp.test_batches import finish_batch

SHOTS = [
    {"prompt": "shot one", "aspect_ratio": "16:9", "duration": 4},
    {"prompt": "shot two", "aspect_ratio": "16:9", "duration": 6},
    {"prompt": "shot three", "aspect_ratio": "16:9", "duration": 8},
    {"prompt": "a portrait shot", "aspect_ratio": "9:16", "duration": 4, "generate_audio": False},
    {"prompt": "a silent shot", "aspect_ratio": "16:9", "duration": 6, "generate_audio": False},
]


def _frames(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(frame.planes[0]) for frame in container.decode(video=0)]


def _streams(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return {
            "duration": float(container.duration) / 1_000_000,
            "video": float(video.duration * video.time_base),
            "size": (video.width, video.height),
            "audio": bool(container.streams.audio),
        }


async def test_three_clips_become_one_mp4_whose_length_is_the_sum(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        queued = (
            await client.call_tool("generate_batch", {"items": SHOTS, "confirm_cost": True})
        ).structured_content or {}
        state = await finish_batch(client, queued["batch_id"])
        ids = [item["task_id"] for item in state["items"]]
        matching = await client.call_tool("combine_videos", {"task_ids": ids[:3], "file_name": "story.mp4"})
        mixed = await client.call_tool("combine_videos", {"task_ids": [ids[0], ids[3], ids[4]]})
        unknown = await client.call_tool("combine_videos", {"task_ids": [ids[0], "task-unified-1-nosuchid"]})
        silent = await client.call_tool("combine_videos", {"task_ids": [ids[3], ids[4]], "file_name": "quiet.mp4"})
        saved = [(await client.call_tool("get_generation", {"task_id": i})).structured_content or {} for i in ids[:3]]
    assert not matching.is_error, text_of(matching)
    joined = matching.structured_content or {}
    output = harness.app.settings.output_dir
    assert joined["method"] == "remux" and Path(joined["path"]) == output / "simulated" / "story-simulated.mp4"
    assert joined["duration"] == pytest.approx(18, abs=0.1) and joined["bytes"] == Path(joined["path"]).stat().st_size
    clips = [Path(state["files"][0]["path"]) for state in saved]
    assert _streams(Path(joined["path"]))["video"] == pytest.approx(sum(_streams(c)["video"] for c in clips), abs=0.01)
    assert _frames(Path(joined["path"])) == [frame for clip in clips for frame in _frames(clip)]  # in order, as is
    assert not mixed.is_error, text_of(mixed)
    refit = mixed.structured_content or {}
    streams = _streams(Path(refit["path"]))
    assert refit["method"] == "reencode" and refit["duration"] == pytest.approx(14, abs=0.1)
    assert streams["size"] == (256, 144) and streams["audio"] and streams["video"] == pytest.approx(14, abs=0.1)
    assert refit["fitting"] == (
        "The clips differ in size: the film is 256x144, the largest clip's; clip 2 (144x256) pillar-boxed (bars at "
        "the sides)."
    )
    assert refit["fitting"] in text_of(mixed)
    assert unknown.is_error and "task-unified-1-nosuchid" in text_of(unknown)
    # Clips without sound make a silent film, and the answer says so (one with sound among them: "with sound").
    quiet = silent.structured_content or {}
    assert not _streams(Path(quiet["path"]))["audio"]
    assert f"({quiet['duration']:.1f} s, {quiet['bytes']} bytes, 144x256, silent; reencode)" in text_of(silent)
    assert f"({refit['duration']:.1f} s, {refit['bytes']} bytes, 256x144, with sound; reencode)" in text_of(mixed)
