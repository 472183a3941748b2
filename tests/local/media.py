"""Small videos of known colours for the tests of what is made from saved videos (posters, contact sheets)."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av

# Y, U, V of a few full colours (BT.601, limited range) and what the sheets paint themselves.
RED, GREEN, BLUE, WHITE = (81, 90, 240), (145, 54, 34), (41, 240, 110), (235, 128, 128)
GREY, BLACK = (96, 128, 128), (16, 128, 128)
PALETTE = {"red": RED, "green": GREEN, "blue": BLUE, "white": WHITE, "grey": GREY, "black": BLACK}
NOISE = (-1, -1, -1)  # not a colour: every pixel random (a picture that compresses badly)


def frame_of(width: int, height: int, colour: tuple[int, int, int], seed: int = 0) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    noise = random.Random(seed)
    for index, plane in enumerate(frame.planes):
        plane_width, plane_height = (width, height) if index == 0 else (width // 2, height // 2)
        padding = bytes(plane.line_size - plane_width)
        if colour == NOISE:
            plane.update(b"".join(noise.randbytes(plane_width) + padding for _ in range(plane_height)))
        else:
            plane.update((bytes([colour[index]]) * plane_width + padding) * plane_height)
    return frame


def clip(path: Path, colours: list[tuple[int, int, int]], width: int = 320, height: int = 180) -> Path:
    """A 12 fps clip showing each colour for one second, in turn."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.qmin = stream.codec_context.qmax = 2
        for number in range(12 * len(colours)):
            frame = frame_of(width, height, colours[number // 12], seed=number)
            frame.pts, frame.time_base = number, Fraction(1, 12)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def picture(path: Path) -> av.VideoFrame:
    """The first picture of an image or video file, as yuv420p."""
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).reformat(format="yuv420p")


def colour_at(frame: av.VideoFrame, x: int, y: int) -> tuple[int, int, int]:
    values = []
    for index, plane in enumerate(frame.planes):
        scale = 1 if index == 0 else 2
        values.append(bytes(plane)[(y // scale) * plane.line_size + x // scale])
    return values[0], values[1], values[2]


def near(found: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    """Whether `found` is nearer `wanted` than any other colour of the palette (a JPEG round trip moves values a
    little and may stretch them to full range)."""

    def distance(colour: tuple[int, int, int]) -> int:
        return sum(abs(a - b) for a, b in zip(found, colour, strict=True))

    return min(PALETTE.values(), key=distance) == wanted
