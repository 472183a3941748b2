"""Real MP4 files for simulated results, made with PyAV (H.264 video, AAC audio).

Each video is a test card - a background colour, a moving block and a time bar - whose colours, motion and tone
derive from the task and seed, so two generations are visibly (and audibly) different and a test can tell them
apart. Frames are built plane by plane in YUV 4:2:0 without numpy.
"""

from __future__ import annotations

import hashlib
import io
import math
from array import array
from dataclasses import dataclass
from fractions import Fraction

import av

AUDIO_RATE = 24_000
AUDIO_FRAME_SAMPLES = 1024


@dataclass(frozen=True, slots=True)
class VideoSpec:
    width: int
    height: int
    seconds: int
    fps: int
    audio: bool
    identity: str  # task id + index + seed: what makes this video unique
    first_image: bytes | None = None  # an uploaded image the video starts with
    last_image: bytes | None = None  # and one it ends with (FIRST&LAST)


@dataclass(frozen=True, slots=True)
class _Palette:
    background: tuple[int, int, int]  # Y, U, V
    block: tuple[int, int, int]
    bar: tuple[int, int, int]
    direction: tuple[int, int]
    tone_hz: float


def _palette(identity: str) -> _Palette:
    digest = hashlib.sha256(identity.encode()).digest()

    def yuv(offset: int) -> tuple[int, int, int]:
        return 40 + digest[offset] % 150, 16 + digest[offset + 1] % 224, 16 + digest[offset + 2] % 224

    background = yuv(0)
    block = (255 - background[0] // 2, 255 - background[1], 255 - background[2])
    return _Palette(
        background=background,
        block=block,
        bar=(235, 128, 128),
        direction=(1 if digest[6] % 2 else -1, 1 if digest[7] % 2 else -1),
        tone_hz=220.0 + (int.from_bytes(digest[8:10], "big") % 660),
    )


def _bounce(position: int, span: int) -> int:
    if span <= 0:
        return 0
    cycle = position % (2 * span)
    return cycle if cycle < span else 2 * span - cycle


def _plane_bytes(
    width: int,
    height: int,
    line_size: int,
    fill: int,
    rects: list[tuple[int, int, int, int, int]],
) -> bytes:
    """A plane of `fill` with rectangles (x, y, w, h, value) painted over it, rows padded to `line_size`."""
    pad = bytes(line_size - width)
    plain = bytes([fill]) * width + pad
    rows = [plain] * height
    for x, y, w, h, value in rects:
        x, y = max(0, x), max(0, y)
        w, h = min(w, width - x), min(h, height - y)
        if w <= 0 or h <= 0:
            continue
        for row in range(y, y + h):
            line = bytearray(rows[row])
            line[x : x + w] = bytes([value]) * w
            rows[row] = bytes(line)
    return b"".join(rows)


def _video_frame(spec: VideoSpec, palette: _Palette, index: int, total: int) -> av.VideoFrame:
    frame = av.VideoFrame(spec.width, spec.height, "yuv420p")
    size = max(8, min(spec.width, spec.height) // 3) // 2 * 2
    speed = max(2, spec.width // 40) // 2 * 2
    x = _bounce(index * speed * (1 if palette.direction[0] > 0 else 3), spec.width - size) // 2 * 2
    y = _bounce(index * speed * (1 if palette.direction[1] > 0 else 2), spec.height - size) // 2 * 2
    bar_h = max(2, spec.height // 20) // 2 * 2
    bar_w = max(2, spec.width * (index + 1) // total) // 2 * 2
    bar_y = spec.height - bar_h
    for plane_index, plane in enumerate(frame.planes):
        scale = 1 if plane_index == 0 else 2
        width, height = spec.width // scale, spec.height // scale
        rects = [
            (x // scale, y // scale, size // scale, size // scale, palette.block[plane_index]),
            (0, bar_y // scale, bar_w // scale, bar_h // scale, palette.bar[plane_index]),
        ]
        plane.update(_plane_bytes(width, height, plane.line_size, palette.background[plane_index], rects))
    return frame


def still_frame(image: bytes, width: int, height: int) -> av.VideoFrame:
    """An image (JPEG, PNG, WebP, GIF) decoded and scaled to a `width`×`height` YUV 4:2:0 frame."""
    with av.open(io.BytesIO(image), mode="r") as container:
        decoded = next(container.decode(video=0))
        return decoded.reformat(width=width, height=height, format="yuv420p")


def _tone(seconds: int, hz: float) -> bytes:
    count = seconds * AUDIO_RATE
    step = 2 * math.pi * hz / AUDIO_RATE
    samples = array("f", (0.2 * math.sin(step * i) for i in range(count)))
    return samples.tobytes()


def render_mp4(spec: VideoSpec) -> bytes:
    """Encode the test card described by `spec` into MP4 bytes."""
    palette = _palette(spec.identity)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=spec.fps)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if spec.audio else None
        total = spec.seconds * spec.fps
        for index in range(total):
            if index == 0 and spec.first_image is not None:
                frame = still_frame(spec.first_image, spec.width, spec.height)
            elif index == total - 1 and spec.last_image is not None:
                frame = still_frame(spec.last_image, spec.width, spec.height)
            else:
                frame = _video_frame(spec, palette, index, total)
            frame.pts = index
            frame.time_base = Fraction(1, spec.fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            _encode_audio(container, audio, _tone(spec.seconds, palette.tone_hz))
    return buffer.getvalue()


def _encode_audio(container: av.container.OutputContainer, stream: av.AudioStream, pcm: bytes) -> None:
    bytes_per_frame = AUDIO_FRAME_SAMPLES * 4
    for offset in range(0, len(pcm), bytes_per_frame):
        chunk = pcm[offset : offset + bytes_per_frame]
        samples = len(chunk) // 4
        frame = av.AudioFrame(format="flt", layout="mono", samples=samples)
        frame.planes[0].update(chunk + bytes(frame.planes[0].buffer_size - len(chunk)))
        frame.sample_rate = AUDIO_RATE
        frame.pts = offset // 4
        frame.time_base = Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def dimensions(aspect_ratio: str, short_side: int) -> tuple[int, int]:
    """Width and height for an aspect ratio at a given (even) short side; 'auto' renders landscape."""
    long_side = (short_side * 16 // 9) // 2 * 2
    return (short_side, long_side) if aspect_ratio == "9:16" else (long_side, short_side)
