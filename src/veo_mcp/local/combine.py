"""Clips joined into one MP4, in order, with their sound: a storyboard's shots become one film.

When every clip has the same streams (codec, size, pixel format, sound or not, and the same codec setup), the packets
are copied one clip after another with shifted timestamps: no quality is lost and it takes a moment. Otherwise every
clip is decoded and encoded again with PyAV (H.264 + AAC) at the largest clip's size (by area; the first of equals)
and the first clip's frame rate: other sizes are scaled to fit and padded - pillar-boxed (bars at the sides) or
letter-boxed (bars above and below) - and `Combined.fitting` says so; a silent clip gets silence when others have
sound. Either way the film lasts as long as its clips together.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from veo_mcp.local.files import replaced_atomically
from veo_mcp.local.pyav import load_pyav

DEFAULT_FPS = Fraction(24)
AUDIO_FORMAT = "fltp"
AUDIO_SAMPLE_BYTES = 4


@dataclass(frozen=True, slots=True)
class Combined:
    path: Path
    bytes: int
    duration_s: float
    method: Literal["remux", "reencode"]
    width: int
    height: int
    has_audio: bool
    fitting: str | None = None  # how clips of other sizes were fitted into the film's, in a sentence


@dataclass(frozen=True, slots=True)
class _Clip:
    path: Path
    duration_s: float
    signature: tuple[Any, ...]  # what must be equal for packets to be copied as they are
    width: int
    height: int
    fps: Fraction
    audio: tuple[int, str] | None  # sample rate, channel layout


def _probe(path: Path) -> _Clip:
    load_pyav()
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path.name} has no video stream")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        video_s = float(video.duration * video.time_base) if video.duration and video.time_base else None
        duration = video_s or (float(container.duration) / 1_000_000 if container.duration else 0.0)
        rate = video.average_rate or video.guessed_rate or DEFAULT_FPS
        signature: tuple[Any, ...] = (
            video.codec_context.name,
            video.width,
            video.height,
            video.codec_context.pix_fmt,
            bytes(video.codec_context.extradata or b""),
        )
        sound = None
        if audio is not None:
            context = audio.codec_context
            sound = (context.sample_rate, context.layout.name)
            signature += (context.name, context.sample_rate, context.layout.name, bytes(context.extradata or b""))
        return _Clip(path, duration, signature, video.width, video.height, Fraction(rate), sound)


def combine_clips(paths: list[Path], target: Path) -> Combined:
    """Join `paths` (in order) into `target`, atomically; copies packets when the clips match, re-encodes otherwise."""
    clips = [_probe(path) for path in paths]
    matching = all(clip.signature == clips[0].signature for clip in clips)
    size = film_size(clips)
    with replaced_atomically(target) as sink:
        if matching:
            _remux(clips, sink)
        else:
            _reencode(clips, sink, size)
    duration, width, height, has_audio = _summary(target)
    return Combined(
        path=target,
        bytes=target.stat().st_size,
        duration_s=duration,
        method="remux" if matching else "reencode",
        width=width,
        height=height,
        has_audio=has_audio,
        fitting=None if matching else fitting(clips, size),
    )


def film_size(clips: list[_Clip]) -> tuple[int, int]:
    """The film's size when clips are re-encoded: the largest clip's (by area; the first of equals), even numbers."""
    largest = max(clips, key=lambda clip: clip.width * clip.height)  # max keeps the first of equals
    return largest.width // 2 * 2, largest.height // 2 * 2


def fitting(clips: list[_Clip], size: tuple[int, int]) -> str | None:
    """What was done to clips of another shape or size, in one sentence (None when every clip has the film's)."""
    width, height = size
    changes = []
    for number, clip in enumerate(clips, 1):
        if (clip.width // 2 * 2, clip.height // 2 * 2) == size:
            continue
        if clip.width * height == clip.height * width:
            how = "scaled"
        elif clip.width * height < clip.height * width:
            how = "pillar-boxed (bars at the sides)"
        else:
            how = "letter-boxed (bars above and below)"
        changes.append(f"clip {number} ({clip.width}x{clip.height}) {how}")
    if not changes:
        return None
    return f"The clips differ in size: the film is {width}x{height}, the largest clip's; " + "; ".join(changes) + "."


def _summary(path: Path) -> tuple[float, int, int, bool]:
    load_pyav()
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        duration = float(container.duration) / 1_000_000 if container.duration else 0.0
        return duration, video.width, video.height, bool(container.streams.audio)


# --- remux ---------------------------------------------------------------------------------------------------------


def _remux(clips: list[_Clip], sink: Any) -> None:
    """Copy every clip's packets, each clip shifted to start where the previous one ended (dts kept increasing)."""
    load_pyav()
    import av

    with av.open(sink, mode="w", format="mp4") as output, av.open(str(clips[0].path)) as first:
        outputs: list[Any] = [output.add_stream_from_template(first.streams.video[0])]
        if first.streams.audio:
            outputs.append(output.add_stream_from_template(first.streams.audio[0]))
        last_dts: dict[int, int] = {}
        offset_s = 0.0
        for clip in clips:
            with av.open(str(clip.path)) as source:
                inputs = [source.streams.video[0], *source.streams.audio[:1]]
                extra: dict[int, int] = {}  # per output stream: a nudge keeping dts increasing across the seam
                for packet in source.demux(inputs):
                    if packet.dts is None or packet.pts is None or packet.time_base is None:
                        continue  # the demuxer's flush packet
                    slot = inputs.index(packet.stream)
                    shift = round(offset_s / packet.time_base) + extra.get(slot, 0)
                    dts, pts = packet.dts + shift, packet.pts + shift
                    if slot in last_dts and dts <= last_dts[slot]:
                        nudge = last_dts[slot] + 1 - dts
                        extra[slot] = extra.get(slot, 0) + nudge
                        dts, pts = dts + nudge, pts + nudge
                    packet.dts, packet.pts = dts, pts
                    last_dts[slot] = dts
                    packet.stream = outputs[slot]
                    output.mux(packet)
            offset_s += clip.duration_s


# --- re-encode -----------------------------------------------------------------------------------------------------


def _reencode(clips: list[_Clip], sink: Any, size: tuple[int, int]) -> None:
    load_pyav()
    import av

    first = clips[0]
    width, height = size
    fps = first.fps if first.fps > 0 else DEFAULT_FPS
    sound = next((clip.audio for clip in clips if clip.audio is not None), None)
    with av.open(sink, mode="w", format="mp4") as output:
        video = output.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast"}
        audio = None
        if sound is not None:
            audio = output.add_stream("aac", rate=sound[0], layout=sound[1])
        frames = _FrameClock(fps)
        samples = 0
        start_s = 0.0
        for clip in clips:
            for frame in _fitted_frames(clip, width, height, fps, start_s, frames):
                output.mux(video.encode(frame))
            if audio is not None and sound is not None:
                for piece in _clip_audio(clip, sound, samples):
                    samples += piece.samples
                    output.mux(audio.encode(piece))
            start_s += clip.duration_s
        output.mux(video.encode(None))
        if audio is not None:
            output.mux(audio.encode(None))


class _FrameClock:
    """Output frame numbers at a fixed rate: which tick comes next and when it is due."""

    def __init__(self, fps: Fraction) -> None:
        self.fps = fps
        self.next = 0

    def due_before(self, seconds: float) -> Iterator[int]:
        while self.next / self.fps < seconds - 1e-9:
            yield self.next
            self.next += 1


def fit_graph(stream: Any, width: int, height: int) -> Any:
    load_pyav()
    import av

    graph = av.filter.Graph()
    chain = [
        graph.add_buffer(template=stream),
        graph.add("scale", f"{width}:{height}:force_original_aspect_ratio=decrease"),
        graph.add("pad", f"{width}:{height}:(ow-iw)/2:(oh-ih)/2"),
        graph.add("setsar", "1"),
        graph.add("format", "yuv420p"),
        graph.add("buffersink"),
    ]
    for upstream, downstream in itertools.pairwise(chain):
        upstream.link_to(downstream)
    graph.configure()
    return graph


def _fitted_frames(
    clip: _Clip, width: int, height: int, fps: Fraction, start_s: float, clock: _FrameClock
) -> Iterator[Any]:
    """The clip's pictures fitted into width×height, one per output tick from `start_s` to the clip's end."""
    load_pyav()
    import av

    with av.open(str(clip.path)) as source:
        stream = source.streams.video[0]
        graph = fit_graph(stream, width, height)
        held = None
        for index, decoded in enumerate(source.decode(stream)):
            at = decoded.time if decoded.time is not None else index / float(clip.fps or fps)
            if held is not None:
                yield from _repeat(held, clock.due_before(start_s + at), fps)
            graph.push(decoded)
            held = graph.pull()
        if held is not None:
            yield from _repeat(held, clock.due_before(start_s + clip.duration_s), fps)


def _repeat(frame: Any, ticks: Iterator[int], fps: Fraction) -> Iterator[Any]:
    for tick in ticks:  # the encoder takes its own reference, so one frame serves every tick
        frame.pts, frame.time_base = tick, 1 / fps
        yield frame


def _clip_audio(clip: _Clip, sound: tuple[int, str], start_sample: int) -> Iterator[Any]:
    """Exactly the clip's length of sound at the output's rate and layout: its own (cut or padded), or silence."""
    load_pyav()
    import av

    rate, layout = sound
    wanted = round(clip.duration_s * rate)
    given = 0
    pieces = []
    if clip.audio is not None:
        resampler = av.AudioResampler(format=AUDIO_FORMAT, layout=layout, rate=rate)
        with av.open(str(clip.path)) as source:
            decoded = [*source.decode(source.streams.audio[0]), None]
        for frame in decoded:
            for piece in resampler.resample(frame):
                if given >= wanted:
                    break
                piece = _cut(piece, wanted - given, layout, rate)
                pieces.append(piece)
                given += piece.samples
    while given < wanted:
        silence = _silence(min(1024, wanted - given), layout, rate)
        pieces.append(silence)
        given += silence.samples
    position = start_sample
    for piece in pieces:
        piece.pts, piece.time_base = position, Fraction(1, rate)
        position += piece.samples
        yield piece


def _silence(samples: int, layout: str, rate: int) -> Any:
    load_pyav()
    import av

    frame = av.AudioFrame(format=AUDIO_FORMAT, layout=layout, samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = rate
    return frame


def _cut(frame: Any, keep: int, layout: str, rate: int) -> Any:
    """`frame` shortened to its first `keep` samples (unchanged when it is not longer)."""
    load_pyav()
    import av

    if frame.samples <= keep:
        return frame
    cut = av.AudioFrame(format=AUDIO_FORMAT, layout=layout, samples=keep)
    for source, plane in zip(frame.planes, cut.planes, strict=True):
        data = bytes(source)[: keep * AUDIO_SAMPLE_BYTES]
        plane.update(data + bytes(plane.buffer_size - len(data)))
    cut.sample_rate = rate
    return cut
