"""Poster frames, made in this process: the frame a third of the way in, at most 480 px wide with the video's shape
and even sides, under 100 KB however busy the picture, cached beside the database and rebuilt only when the video
changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.local.media import BLUE, GREEN, NOISE, RED, clip, colour_at, near, picture
from veo_mcp.local.posters import MAX_POSTER_BYTES, make_poster, poster_bytes, poster_path


def test_the_poster_is_the_frame_a_third_of_the_way_in_at_most_480_wide_with_the_videos_shape(tmp_path: Path) -> None:
    video = clip(tmp_path / "wide.mp4", [RED, GREEN, BLUE], width=1280, height=720)
    poster = make_poster(video, tmp_path / "posters" / "wide.jpg")
    assert poster == tmp_path / "posters" / "wide.jpg" and poster.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    frame = picture(poster)
    assert (frame.width, frame.height) == (480, 270)
    assert near(colour_at(frame, 240, 135), GREEN)  # one second into three: not the opening, not the end
    small = picture(make_poster(clip(tmp_path / "small.mp4", [BLUE], width=334, height=202), tmp_path / "s.jpg"))
    assert (small.width, small.height) == (334, 202)  # smaller than 480: kept, even sides
    odd = picture(make_poster(clip(tmp_path / "tall.mp4", [BLUE], width=200, height=356), tmp_path / "t.jpg"))
    assert (odd.width, odd.height) == (200, 356)


def test_a_busy_picture_is_compressed_harder_then_made_smaller_until_it_fits_in_100_kb(tmp_path: Path) -> None:
    wide = make_poster(clip(tmp_path / "wide.mp4", [NOISE], width=480, height=270), tmp_path / "wide.jpg")
    frame = picture(wide)
    assert (frame.width, frame.height) == (480, 270)  # a lower quality is tried before a smaller size
    assert 80_000 < len(wide.read_bytes()) <= MAX_POSTER_BYTES  # the best quality that fits, not the worst
    tall = make_poster(clip(tmp_path / "tall.mp4", [NOISE], width=480, height=854), tmp_path / "tall.jpg")
    frame = picture(tall)
    assert (frame.width, frame.height) == (360, 640)  # no quality fits at full size: three quarters of it
    assert 60_000 < len(tall.read_bytes()) <= MAX_POSTER_BYTES


def test_a_poster_is_made_once_and_again_only_when_its_video_changes(tmp_path: Path) -> None:
    video = clip(tmp_path / "clip.mp4", [RED])
    target = tmp_path / "clip.jpg"
    first = make_poster(video, target).read_bytes()
    same_time = os.stat(video).st_mtime_ns
    os.utime(target, ns=(same_time, same_time))  # made in the same instant as the video: still current
    clip(video, [BLUE])
    os.utime(video, ns=(same_time, same_time))
    assert make_poster(video, target).read_bytes() == first
    os.utime(video, ns=(same_time + 10**9, same_time + 10**9))  # the video changed after the poster was made
    assert near(colour_at(picture(make_poster(video, target)), 160, 90), BLUE)


def test_posters_live_in_the_data_folder_named_by_task_and_index(tmp_path: Path) -> None:
    task_id = "task-unified-" + "x" * 100
    assert poster_path(tmp_path, task_id, 2) == tmp_path / "posters" / f"task-unified-{'x' * 67}-2.jpg"
    assert poster_path(tmp_path, "task-A b") == tmp_path / "posters" / "task-a-b-0.jpg"
    assert poster_bytes([tmp_path / "missing.mp4"], tmp_path, "t") is None
    video = clip(tmp_path / "there.mp4", [GREEN])
    made = poster_bytes([tmp_path / "missing.mp4", video], tmp_path, "task-1")
    assert made is not None and made == (tmp_path / "posters" / "task-1-0.jpg").read_bytes()


def test_a_file_that_is_not_a_video_gets_no_poster(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises((OSError, ValueError)):
        make_poster(broken, tmp_path / "broken.jpg")
    assert not (tmp_path / "broken.jpg").exists()
