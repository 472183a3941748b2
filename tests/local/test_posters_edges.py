"""Poster frames at their edges: exactly which frame is taken, the whole picture scaled (not a crop of it) in full
JPEG range, slivers of videos, pictures too busy even at three quarters of their size, a JPEG exactly at the byte
limit, and a video with no frame (no poster, and the log says why)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import anyio
import av
import pytest

from tests.local.media import (
    BLACK,
    BLUE,
    GREEN,
    NOISE,
    RED,
    WHITE,
    audio_only,
    clip,
    colour_at,
    damaged_mp4,
    frame_of,
    frameless,
    near,
    numbered,
    picture,
    raw_stream,
    stretched,
    timed_clip,
)
from veo_mcp.core.generation import Generation, SavedFile
from veo_mcp.local import posters
from veo_mcp.local.posters import MAX_POSTER_BYTES, make_poster, poster_of


def _still(path: Path, frame: av.VideoFrame) -> Path:
    """A one-frame video of `frame`."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuv420p"
        stream.codec_context.qmin = stream.codec_context.qmax = 2
        frame.pts, frame.time_base = 0, Fraction(1, 12)
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def _quadrants(width: int, height: int, colours: list[tuple[int, int, int]]) -> av.VideoFrame:
    """A picture in four flat quarters: top left, top right, bottom left, bottom right."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(frame.planes):
        scale = 1 if index == 0 else 2
        plane_width, plane_height = width // scale, height // scale
        rows = []
        for top in (True, False):
            left, right = colours[0 if top else 2][index], colours[1 if top else 3][index]
            row = bytes([left]) * (plane_width // 2) + bytes([right]) * (plane_width - plane_width // 2)
            rows += [row + bytes(plane.line_size - plane_width)] * (
                plane_height // 2 if top else plane_height - plane_height // 2
            )
        plane.update(b"".join(rows))
    return frame


def test_the_poster_is_the_first_frame_at_or_after_a_third_of_the_videos_length(tmp_path: Path) -> None:
    """A 3 s video: a frame 0.2 µs before the 1 s mark (not yet a third of the way in), one exactly at 1 s (the
    poster), one after it; keyframes only at the start and at 2.5 s, so the frame at 1 s is reached by seeking back
    to the start and decoding forward, never by jumping to a keyframe after it."""
    times = [Fraction(0), Fraction(1, 2), 1 - Fraction(2, 10_000_000), Fraction(1), Fraction(3, 2), Fraction(5, 2)]
    video = timed_clip(tmp_path / "timed.mp4", times, end=Fraction(3), keyframes={0, 5})
    with av.open(str(video)) as container:  # the clip is what it should be
        assert container.duration == 3_000_000
        assert [decoded.time for decoded in container.decode(video=0)] == [float(t) for t in times]
    luma = colour_at(picture(make_poster(video, tmp_path / "timed.jpg")), 32, 24)[0]
    assert abs(luma - stretched(numbered(3))) <= 3, luma  # frame 3, at exactly 1 s (frames are 30 apart)


def test_a_raw_stream_of_unknown_length_gets_its_first_frame(tmp_path: Path) -> None:
    """An elementary MPEG-4 stream says nothing of its length: the poster is its opening frame."""
    video = raw_stream(tmp_path / "raw.mp4", [RED, BLUE])
    with av.open(str(video)) as container:
        assert not container.duration
    assert near(colour_at(picture(make_poster(video, tmp_path / "raw.jpg")), 32, 24), RED)


def test_the_poster_is_the_whole_picture_scaled_down_in_full_jpeg_range(tmp_path: Path) -> None:
    """Every quarter of a 1280x720 picture is in the same quarter of the 480x270 poster (scaled, not cropped), and
    video black and white (luma 16 and 235) become JPEG black and white (0 and 255)."""
    video = _still(tmp_path / "quarters.mp4", _quadrants(1280, 720, [RED, GREEN, BLACK, WHITE]))
    poster = picture(make_poster(video, tmp_path / "quarters.jpg"))
    assert (poster.width, poster.height) == (480, 270)
    assert near(colour_at(poster, 120, 67), RED) and near(colour_at(poster, 360, 67), GREEN)
    black, white = colour_at(poster, 120, 202), colour_at(poster, 360, 202)
    assert black[0] <= 3 and white[0] >= 252, (black, white)


def test_a_sliver_of_a_video_gets_a_poster_with_even_sides_of_at_least_two_pixels(tmp_path: Path) -> None:
    for width, height, wanted in ((480, 2, (480, 2)), (960, 2, (480, 2)), (2, 48, (2, 48))):
        video = clip(tmp_path / f"{width}x{height}.mp4", [BLUE], width=width, height=height)
        poster = picture(make_poster(video, tmp_path / f"{width}x{height}.jpg"))
        assert (poster.width, poster.height) == wanted


def test_a_picture_too_busy_even_at_three_quarters_of_its_size_is_halved(tmp_path: Path) -> None:
    """480x1760 of noise fits in 100 KB at no quality at full size nor at 360x1320: the poster is 240x880."""
    video = _still(tmp_path / "busy.mp4", frame_of(480, 1760, NOISE))
    poster = make_poster(video, tmp_path / "busy.jpg")
    frame = picture(poster)
    assert (frame.width, frame.height) == (240, 880)
    assert len(poster.read_bytes()) <= MAX_POSTER_BYTES


def test_a_jpeg_of_exactly_the_byte_limit_is_kept_at_the_best_quality(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = _still(tmp_path / "noise.mp4", frame_of(64, 48, NOISE))
    best = make_poster(video, tmp_path / "best.jpg").read_bytes()  # well under 100 KB: the best quality
    monkeypatch.setattr(posters, "MAX_POSTER_BYTES", len(best))
    assert make_poster(video, tmp_path / "at-limit.jpg").read_bytes() == best
    monkeypatch.setattr(posters, "MAX_POSTER_BYTES", len(best) - 1)
    worse = make_poster(video, tmp_path / "under-limit.jpg").read_bytes()
    assert len(worse) < len(best) and picture(tmp_path / "under-limit.jpg").width == 64  # a lower quality, same size


@pytest.mark.parametrize(
    ("make", "missing"),
    [(frameless, "video frame"), (audio_only, "video stream")],
    ids=["a video stream without a frame", "an audio-only file"],
)
def test_a_file_without_a_picture_gets_no_poster_and_the_log_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make: Callable[[Path], Path], missing: str
) -> None:
    """A saved file without a picture must not fail the tool result or resource that shows the poster: no poster,
    and the log says why."""
    video = make(tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match=f"^{re.escape(str(video))} has no {missing}$"):
        make_poster(video, tmp_path / "empty.jpg")
    generation = Generation(task_id="task-empty", model="m", prompt="p", request={}, simulated=True)
    generation.files = [SavedFile(path=str(video), bytes=video.stat().st_size, index=0)]
    caplog.set_level(logging.WARNING, logger="veo_mcp.local.posters")
    assert anyio.run(poster_of, generation, tmp_path) is None
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "veo_mcp.local.posters"]
    assert said == [("WARNING", f"no poster for task-empty: {video} has no {missing}")]
    assert not (tmp_path / "posters" / "task-empty-0.jpg").exists()


def test_a_damaged_file_gets_no_poster_and_the_log_names_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Bytes that are no MP4 at all: PyAV's own error becomes one sentence naming the file, in the log only."""
    damaged = damaged_mp4(tmp_path / "damaged.mp4")
    generation = Generation(task_id="task-damaged", model="m", prompt="p", request={}, simulated=True)
    generation.files = [SavedFile(path=str(damaged), bytes=damaged.stat().st_size, index=0)]
    caplog.set_level(logging.WARNING, logger="veo_mcp.local.posters")
    assert anyio.run(poster_of, generation, tmp_path) is None
    [said] = [r.getMessage() for r in caplog.records if r.name == "veo_mcp.local.posters"]
    assert said.startswith(f"no poster for task-damaged: {damaged} cannot be read as a video: "), said
