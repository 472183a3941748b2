"""Poster frames: one small JPEG per saved video, so an assistant can *see* what it made.

Taken a third of the way in (openings often fade in from black), scaled to at most 480 px wide and re-encoded until
it fits in 100 KB, cached beside the database in `<data dir>/posters/`, and rebuilt only when the video changes.
"""

from __future__ import annotations

import io
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio

from veo_mcp.core.generation import Generation
from veo_mcp.local.files import replaced_atomically, slug
from veo_mcp.local.pyav import load_pyav, read_as_video

MAX_POSTER_BYTES = 100_000
MAX_WIDTH = 480
_QUALITIES = (3, 6, 10, 16, 24)  # mjpeg quantiser: lower is better-looking and bigger


def poster_path(data_dir: Path, task_id: str, index: int = 0) -> Path:
    return data_dir / "posters" / f"{slug(task_id, 80)}-{index}.jpg"


def poster_bytes(videos: list[Path], data_dir: Path, task_id: str) -> bytes | None:
    """The JPEG for the first of `videos` that exists (made if needed); None when none exists yet."""
    existing = [video for video in videos if video.is_file()]
    if not existing:
        return None
    with read_as_video(existing[0]):
        return make_poster(existing[0], poster_path(data_dir, task_id)).read_bytes()


def make_poster(video: Path, target: Path) -> Path:
    """Write (atomically) and return `target`, a JPEG of `video`; reuses it while it is newer than the video."""
    if target.is_file() and target.stat().st_mtime >= video.stat().st_mtime:
        return target
    load_pyav()
    import av  # PyAV is heavy to import; only needed once a video exists

    with av.open(str(video), mode="r") as container:
        if not container.streams.video:  # an audio-only file, or a video track FFmpeg dropped for having no frame
            raise ValueError(f"{video} has no video stream")
        stream = container.streams.video[0]
        moment = (float(container.duration) / 1_000_000 / 3) if container.duration else 0.0
        if moment and stream.time_base:
            container.seek(int(moment / stream.time_base), stream=stream, backward=True)
        frame = None
        for decoded in container.decode(stream):
            frame = decoded
            if decoded.time is None or decoded.time >= moment:
                break
    if frame is None:
        raise ValueError(f"{video} has no video frame")
    width = min(MAX_WIDTH, frame.width) // 2 * 2
    height = max(2, round(frame.height * width / frame.width) // 2 * 2)
    data = b""
    for scale in (1.0, 0.75, 0.5):
        w, h = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
        for quality in _QUALITIES:
            data = _jpeg(frame, w, h, quality)
            if len(data) <= MAX_POSTER_BYTES:
                return _write_atomically(target, data)
    return _write_atomically(target, data)


def _jpeg(frame: Any, width: int, height: int, quality: int) -> bytes:
    load_pyav()
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="image2pipe") as output:
        stream = output.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        stream.codec_context.qmin = stream.codec_context.qmax = quality
        image = frame.reformat(width=width, height=height, format="yuvj420p")
        image.pts, image.time_base = 0, Fraction(1, 1)
        output.mux(stream.encode(image))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def _write_atomically(target: Path, data: bytes) -> Path:
    with replaced_atomically(target) as sink:
        sink.write(data)
    return target


_logger = logging.getLogger(__name__)


async def poster_of(generation: Generation, data_dir: Path) -> bytes | None:
    """A small JPEG of the generation's first saved video (made once, then cached); None before one is saved."""
    videos = [Path(f.path) for f in sorted(generation.files, key=lambda f: f.index)]
    try:
        return await anyio.to_thread.run_sync(poster_bytes, videos, data_dir, generation.task_id)
    except (OSError, ValueError) as error:  # a poster is never worth failing an answer for
        _logger.warning("no poster for %s: %s", generation.task_id, error)
        return None
