"""A contact sheet: one JPEG with a frame of every video of a batch in a grid, so a whole run is seen at a glance.

Each tile is the frame a third of the way in (as for posters), fitted into the tile with bars where the aspect ratio
differs; an item without a video gets a grey tile, so the grid keeps the batch's order. Tiles are laid out row by
row, at most `COLUMNS` per row.
"""

from __future__ import annotations

import io
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

from veo_mcp.local.files import replaced_atomically
from veo_mcp.local.pyav import load_pyav, read_as_video

COLUMNS = 4
TILE_WIDTH = 320
TILE_HEIGHT = 180
GAP = 8
_BACKGROUND = (16, 128, 128)  # Y, U, V: black
_EMPTY = (96, 128, 128)  # grey


def _grab(video: Path, width: int, height: int) -> Any:
    """The frame a third of the way into `video`, fitted into width×height (yuv420p); ValueError naming the file when
    it cannot be read as a video."""
    load_pyav()
    import av

    from veo_mcp.local.combine import fit_graph

    with read_as_video(video), av.open(str(video)) as container:
        if not container.streams.video:
            raise ValueError(f"{video} has no video stream")
        stream = container.streams.video[0]
        moment = (float(container.duration) / 1_000_000 / 3) if container.duration else 0.0
        frame = None
        for decoded in container.decode(stream):
            frame = decoded
            if decoded.time is None or decoded.time >= moment:
                break
        if frame is None:
            raise ValueError(f"{video} has no video frame")
        graph = fit_graph(stream, width, height)
        graph.push(frame)
        return graph.pull()


def _canvas(width: int, height: int) -> list[bytearray]:
    return [
        bytearray([_BACKGROUND[0]]) * (width * height),
        bytearray([_BACKGROUND[1]]) * (width * height // 4),
        bytearray([_BACKGROUND[2]]) * (width * height // 4),
    ]


def _paste(canvas: list[bytearray], canvas_width: int, tile: Any | None, x: int, y: int) -> None:
    for index in range(3):
        scale = 1 if index == 0 else 2
        width, height, left, top = TILE_WIDTH // scale, TILE_HEIGHT // scale, x // scale, y // scale
        stride = canvas_width // scale
        if tile is None:
            row = bytes([_EMPTY[index]]) * width
            rows = [row] * height
        else:
            plane = tile.planes[index]
            data = bytes(plane)
            rows = [data[r * plane.line_size : r * plane.line_size + width] for r in range(height)]
        for r, row in enumerate(rows):
            start = (top + r) * stride + left
            canvas[index][start : start + width] = row


def make_contact_sheet(videos: list[Path | None], target: Path) -> Path:
    """Write (atomically) a JPEG grid of a frame of each video in order (None: no video, a grey tile)."""
    load_pyav()
    import av

    columns = max(1, min(COLUMNS, len(videos)))
    rows = max(1, math.ceil(len(videos) / columns))
    width, height = GAP + columns * (TILE_WIDTH + GAP), GAP + rows * (TILE_HEIGHT + GAP)
    canvas = _canvas(width, height)
    for position, video in enumerate(videos):
        tile = _grab(video, TILE_WIDTH, TILE_HEIGHT) if video is not None and video.is_file() else None
        x = GAP + (position % columns) * (TILE_WIDTH + GAP)
        y = GAP + (position // columns) * (TILE_HEIGHT + GAP)
        _paste(canvas, width, tile, x, y)
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(frame.planes):
        plane_width = width if index == 0 else width // 2
        plane_height = height if index == 0 else height // 2
        padding = bytes(plane.line_size - plane_width)
        data = canvas[index]
        plane.update(
            b"".join(bytes(data[r * plane_width : (r + 1) * plane_width]) + padding for r in range(plane_height))
        )
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="image2pipe") as output:
        stream = output.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        stream.codec_context.qmin = stream.codec_context.qmax = 4
        image = frame.reformat(format="yuvj420p")
        image.pts, image.time_base = 0, Fraction(1, 1)
        output.mux(stream.encode(image))
        output.mux(stream.encode(None))
    with replaced_atomically(target) as sink:
        sink.write(buffer.getvalue())
    return target
