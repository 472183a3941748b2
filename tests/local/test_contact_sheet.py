"""The batch's contact sheet, made in this process: a JPEG grid in the batch's order, each tile the frame a third of
the way into its video, fitted into the tile, a grey tile where an item has no video, black around them."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from tests.local.media import (
    BLACK,
    BLUE,
    GREEN,
    GREY,
    RED,
    WHITE,
    audio_only,
    clip,
    colour_at,
    damaged_mp4,
    frameless,
    near,
    numbered,
    picture,
    raw_stream,
    stretched,
    timed_clip,
)
from veo_mcp.local.contact_sheet import COLUMNS, GAP, TILE_HEIGHT, TILE_WIDTH, make_contact_sheet


def _tile_centre(position: int, columns: int) -> tuple[int, int]:
    x = GAP + (position % columns) * (TILE_WIDTH + GAP) + TILE_WIDTH // 2
    y = GAP + (position // columns) * (TILE_HEIGHT + GAP) + TILE_HEIGHT // 2
    return x, y


def test_a_sheet_shows_each_video_a_third_of_the_way_in_in_the_batchs_order(tmp_path: Path) -> None:
    videos: list[Path | None] = [
        clip(tmp_path / "a.mp4", [RED, GREEN, GREEN]),  # red for its first third only
        None,  # an item without a video
        clip(tmp_path / "c.mp4", [BLUE]),
        clip(tmp_path / "d.mp4", [RED]),
        clip(tmp_path / "e.mp4", [WHITE, WHITE, RED]),
        tmp_path / "missing.mp4",  # its file is gone
    ]
    videos += [videos[2], None, videos[3]]  # a third row
    target = make_contact_sheet(videos, tmp_path / "sheet.jpg")
    assert target == tmp_path / "sheet.jpg" and target.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    sheet = picture(target)
    columns = COLUMNS
    assert (sheet.width, sheet.height) == (GAP + columns * (TILE_WIDTH + GAP), GAP + 3 * (TILE_HEIGHT + GAP))
    wanted = [GREEN, GREY, BLUE, RED, WHITE, GREY, BLUE, GREY, RED]
    found = [colour_at(sheet, *_tile_centre(position, columns)) for position in range(len(videos))]
    assert all(near(f, w) for f, w in zip(found, wanted, strict=True)), found
    # Each tile fills its place edge to edge (a frame of the tile's own shape), and the gaps stay black.
    left, top = GAP, GAP
    assert near(colour_at(sheet, left + 2, top + 2), GREEN)
    assert near(colour_at(sheet, left + TILE_WIDTH - 3, top + TILE_HEIGHT - 3), GREEN)
    assert near(colour_at(sheet, 2, 2), BLACK) and near(colour_at(sheet, left + TILE_WIDTH + 3, 40), BLACK)
    empty = _tile_centre(9, columns)  # after the last item: nothing painted
    assert near(colour_at(sheet, *empty), BLACK)


def test_a_video_of_another_shape_is_fitted_with_bars_and_few_videos_make_one_short_row(tmp_path: Path) -> None:
    square = clip(tmp_path / "square.mp4", [BLUE], width=160, height=160)
    sheet = picture(make_contact_sheet([square, None], tmp_path / "sheet.jpg"))
    assert (sheet.width, sheet.height) == (GAP + 2 * (TILE_WIDTH + GAP), GAP + TILE_HEIGHT + GAP)
    x, y = _tile_centre(0, 2)
    assert near(colour_at(sheet, x, y), BLUE)
    assert near(colour_at(sheet, GAP + 4, y), BLACK)  # pillar-boxed: bars left and right
    assert near(colour_at(sheet, *_tile_centre(1, 2)), GREY)
    alone = picture(make_contact_sheet([square], tmp_path / "alone.jpg"))
    assert (alone.width, alone.height) == (GAP + TILE_WIDTH + GAP, GAP + TILE_HEIGHT + GAP)  # one tile, one column


def test_a_file_without_a_video_frame_is_refused_by_name(tmp_path: Path) -> None:
    broken = audio_only(tmp_path / "audio-only.mp4")
    with pytest.raises(ValueError, match=f"^{re.escape(str(broken))} has no video stream$"):
        make_contact_sheet([broken], tmp_path / "sheet.jpg")
    assert not (tmp_path / "sheet.jpg").exists()  # nothing half-written is left


def test_a_tile_is_the_first_frame_at_or_after_a_third_of_its_video_or_the_opening_of_a_stream_of_unknown_length(
    tmp_path: Path,
) -> None:
    """A 3 s video with a frame 0.2 µs before the 1 s mark (not yet a third of the way in) and one exactly at 1 s
    (its tile); a raw stream that says nothing of its length (red, then blue) shows its opening frame."""
    times = [Fraction(0), Fraction(1, 2), 1 - Fraction(2, 10_000_000), Fraction(1), Fraction(3, 2), Fraction(5, 2)]
    timed = timed_clip(tmp_path / "timed.mp4", times, end=Fraction(3), keyframes={0})
    raw = raw_stream(tmp_path / "raw.mp4", [RED, BLUE])
    sheet = picture(make_contact_sheet([timed, raw], tmp_path / "sheet.jpg"))
    luma = colour_at(sheet, *_tile_centre(0, 2))[0]
    assert abs(luma - stretched(numbered(3))) <= 3, luma  # frame 3, at exactly 1 s (frames are 30 apart)
    assert near(colour_at(sheet, *_tile_centre(1, 2)), RED)


def test_a_video_stream_without_a_frame_is_refused_naming_the_file(tmp_path: Path) -> None:
    video = frameless(tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match=f"^{re.escape(str(video))} has no video frame$"):
        make_contact_sheet([video], tmp_path / "sheet.jpg")
    assert not (tmp_path / "sheet.jpg").exists()


def test_a_damaged_file_is_refused_naming_it(tmp_path: Path) -> None:
    """Bytes that are no MP4 at all: PyAV's own error becomes one sentence that names the file."""
    damaged = damaged_mp4(tmp_path / "damaged.mp4")
    with pytest.raises(ValueError, match=f"^{re.escape(str(damaged))} cannot be read as a video: .+"):
        make_contact_sheet([damaged], tmp_path / "sheet.jpg")
    assert not (tmp_path / "sheet.jpg").exists()
