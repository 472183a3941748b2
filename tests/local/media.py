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


FINE = Fraction(1, 10_000_000)  # a time base finer than FFmpeg's microseconds


def numbered(number: int) -> int:
    """The (limited-range) luma that paints frame `number` of a timed clip: far apart, so each frame is known."""
    return 20 + 30 * number


def stretched(luma: int) -> float:
    """Where a limited-range luma lands in a JPEG (full range), as `picture` reads it back."""
    return (luma - 16) * 255 / 219


def timed_clip(path: Path, times: list[Fraction], end: Fraction, keyframes: set[int]) -> Path:
    """An MP4 whose frame `n` is grey `numbered(n)`, shown from `times[n]` (seconds, in a 1/10 000 000 time base)
    until the next one or `end`; only the frames in `keyframes` can be decoded without the ones before them."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.qmin = stream.codec_context.qmax = 2
        stream.codec_context.gop_size = 1000
        stream.codec_context.options = {"sc_threshold": "1000000000"}  # no keyframe of its own choosing
        stream.time_base = FINE
        packets = []
        for number in range(len(times)):
            frame = frame_of(64, 48, (numbered(number), 128, 128))
            frame.pts, frame.time_base = number, Fraction(1, 12)
            frame.pict_type = av.video.frame.PictureType.I if number in keyframes else av.video.frame.PictureType.P
            packets += stream.encode(frame)
        packets += stream.encode(None)
        assert len(packets) == len(times)
        for number, packet in enumerate(packets):
            following = times[number + 1] if number + 1 < len(times) else end
            packet.time_base = FINE
            packet.pts = packet.dts = int(times[number] / FINE)
            packet.duration = int((following - times[number]) / FINE)
            output.mux(packet)
    return path


def frameless(path: Path) -> Path:
    """A video with a video stream and not one frame in it (an AVI, whatever the file's name)."""
    with av.open(str(path), mode="w", format="avi") as output:
        stream = output.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        output.start_encoding()
    return path


def raw_stream(path: Path, colours: list[tuple[int, int, int]]) -> Path:
    """A 12 fps elementary MPEG-4 stream (no container: it says nothing of its length), each colour for a second."""
    with av.open(str(path), mode="w", format="m4v") as output:
        stream = output.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for number in range(12 * len(colours)):
            frame = frame_of(64, 48, colours[number // 12])
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


def damaged_mp4(path: Path) -> Path:
    """A file that starts like an MP4 and is none: what PyAV cannot read at all."""
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a movie" * 40)
    return path


def audio_only(path: Path) -> Path:
    """An MP4 with sound and no picture (one AAC frame of silence)."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("aac", rate=48000)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 48000, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path
