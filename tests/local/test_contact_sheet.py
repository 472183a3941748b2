"""The batch's contact sheet, made in this process: a JPEG grid in the batch's order, each tile the frame a third of
the way into its video, fitted into the tile, a grey tile where an item has no video, black around them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from veo_mcp.local.contact_sheet import COLUMNS, GAP, TILE_HEIGHT, TILE_WIDTH, make_contact_sheet

# Y, U, V of a few full colours (BT.601, limited range) and what the sheet paints itself.
RED, GREEN, BLUE, WHITE = (81, 90, 240), (145, 54, 34), (41, 240, 110), (235, 128, 128)
GREY, BLACK = (96, 128, 128), (16, 128, 128)


def _frame(width: int, height: int, colour: tuple[int, int, int]) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(frame.planes):
        plane_width, plane_height = (width, height) if index == 0 else (width // 2, height // 2)
        row = bytes([colour[index]]) * plane_width + bytes(plane.line_size - plane_width)
        plane.update(row * plane_height)
    return frame


def _clip(path: Path, colours: list[tuple[int, int, int]], width: int = 320, height: int = 180) -> Path:
    """A 12 fps clip showing each colour for one second, in turn."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.qmin = stream.codec_context.qmax = 2
        for number in range(12 * len(colours)):
            frame = _frame(width, height, colours[number // 12])
            frame.pts, frame.time_base = number, Fraction(1, 12)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def _sheet(path: Path) -> av.VideoFrame:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).reformat(format="yuv420p")


def _colour_at(frame: av.VideoFrame, x: int, y: int) -> tuple[int, int, int]:
    values = []
    for index, plane in enumerate(frame.planes):
        scale = 1 if index == 0 else 2
        values.append(bytes(plane)[(y // scale) * plane.line_size + x // scale])
    return values[0], values[1], values[2]


PALETTE = {"red": RED, "green": GREEN, "blue": BLUE, "white": WHITE, "grey": GREY, "black": BLACK}


def _near(found: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    """Whether `found` is nearer `wanted` than any other colour of the palette (the JPEG round trip moves values a
    little and may stretch them to full range)."""

    def distance(colour: tuple[int, int, int]) -> int:
        return sum(abs(a - b) for a, b in zip(found, colour, strict=True))

    return min(PALETTE.values(), key=distance) == wanted


def _tile_centre(position: int, columns: int) -> tuple[int, int]:
    x = GAP + (position % columns) * (TILE_WIDTH + GAP) + TILE_WIDTH // 2
    y = GAP + (position // columns) * (TILE_HEIGHT + GAP) + TILE_HEIGHT // 2
    return x, y


def test_a_sheet_shows_each_video_a_third_of_the_way_in_in_the_batchs_order(tmp_path: Path) -> None:
    videos: list[Path | None] = [
        _clip(tmp_path / "a.mp4", [RED, GREEN, GREEN]),  # red for its first third only
        None,  # an item without a video
        _clip(tmp_path / "c.mp4", [BLUE]),
        _clip(tmp_path / "d.mp4", [RED]),
        _clip(tmp_path / "e.mp4", [WHITE, WHITE, RED]),
        tmp_path / "missing.mp4",  # its file is gone
    ]
    videos += [videos[2], None, videos[3]]  # a third row
    target = make_contact_sheet(videos, tmp_path / "sheet.jpg")
    assert target == tmp_path / "sheet.jpg" and target.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    sheet = _sheet(target)
    columns = COLUMNS
    assert (sheet.width, sheet.height) == (GAP + columns * (TILE_WIDTH + GAP), GAP + 3 * (TILE_HEIGHT + GAP))
    wanted = [GREEN, GREY, BLUE, RED, WHITE, GREY, BLUE, GREY, RED]
    found = [_colour_at(sheet, *_tile_centre(position, columns)) for position in range(len(videos))]
    assert all(_near(f, w) for f, w in zip(found, wanted, strict=True)), found
    # Each tile fills its place edge to edge (a frame of the tile's own shape), and the gaps stay black.
    left, top = GAP, GAP
    assert _near(_colour_at(sheet, left + 2, top + 2), GREEN)
    assert _near(_colour_at(sheet, left + TILE_WIDTH - 3, top + TILE_HEIGHT - 3), GREEN)
    assert _near(_colour_at(sheet, 2, 2), BLACK) and _near(_colour_at(sheet, left + TILE_WIDTH + 3, 40), BLACK)
    empty = _tile_centre(9, columns)  # after the last item: nothing painted
    assert _near(_colour_at(sheet, *empty), BLACK)


def test_a_video_of_another_shape_is_fitted_with_bars_and_few_videos_make_one_short_row(tmp_path: Path) -> None:
    square = _clip(tmp_path / "square.mp4", [BLUE], width=160, height=160)
    sheet = _sheet(make_contact_sheet([square, None], tmp_path / "sheet.jpg"))
    assert (sheet.width, sheet.height) == (GAP + 2 * (TILE_WIDTH + GAP), GAP + TILE_HEIGHT + GAP)
    x, y = _tile_centre(0, 2)
    assert _near(_colour_at(sheet, x, y), BLUE)
    assert _near(_colour_at(sheet, GAP + 4, y), BLACK)  # pillar-boxed: bars left and right
    assert _near(_colour_at(sheet, *_tile_centre(1, 2)), GREY)
    alone = _sheet(make_contact_sheet([square], tmp_path / "alone.jpg"))
    assert (alone.width, alone.height) == (GAP + TILE_WIDTH + GAP, GAP + TILE_HEIGHT + GAP)  # one tile, one column


def test_a_file_without_a_video_frame_is_refused_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "audio-only.mp4"
    with av.open(str(broken), mode="w") as output:
        stream = output.add_stream("aac", rate=48000)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 48000, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    with pytest.raises((ValueError, IndexError)):
        make_contact_sheet([broken], tmp_path / "sheet.jpg")
    assert not (tmp_path / "sheet.jpg").exists()  # nothing half-written is left
