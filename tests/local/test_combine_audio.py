"""The sound of a film re-encoded from clips where one is silent: the silent clip's stretch is silence, the others
keep their own sound where their pictures are, and the film's sound lasts exactly as long as its pictures."""

from __future__ import annotations

import math
from array import array
from pathlib import Path

import av
import pytest

from veo_mcp.local.combine import combine_clips
from veo_mcp.simulator.media import VideoSpec, render_mp4

LOUD = 0.05  # the simulator's test tone is about 0.14 RMS
QUIET = 0.005


def _clip(folder: Path, name: str, width: int, *, audio: bool) -> Path:
    path = folder / name
    spec = VideoSpec(width=width, height=90, seconds=1, fps=12, audio=audio, identity=name)
    path.write_bytes(render_mp4(spec))
    return path


def _sound(path: Path) -> tuple[array[float], int, float, float]:
    """The film's decoded sound (first channel), its sample rate, and how long its sound and pictures last."""
    samples: array[float] = array("f")
    with av.open(str(path)) as container:
        audio, video = container.streams.audio[0], container.streams.video[0]
        rate = audio.rate
        sound_s = float(audio.duration * audio.time_base)
        pictures_s = float(video.duration * video.time_base)
        for frame in container.decode(audio):
            assert frame.format.name == "fltp"
            samples.frombytes(bytes(frame.planes[0])[: frame.samples * 4])
    return samples, rate, sound_s, pictures_s


def _loudness(samples: array[float], rate: int, start_s: float, end_s: float) -> float:
    """RMS of the sound between two moments (kept clear of the seams, where the codec smears)."""
    part = samples[int(start_s * rate) : int(end_s * rate)]
    return math.sqrt(sum(x * x for x in part) / len(part))


@pytest.mark.parametrize("silent_at", [0, 1, 2], ids=["silent-first", "silent-between", "silent-last"])
def test_a_silent_clip_is_silence_in_the_film_and_the_others_keep_their_sound(tmp_path: Path, silent_at: int) -> None:
    # Two sizes, so the clips are re-encoded (matching clips would be copied as they are).
    clips = [_clip(tmp_path, f"{n}.mp4", 160 if n % 2 else 128, audio=n != silent_at) for n in range(3)]
    film = combine_clips(clips, tmp_path / "film.mp4")
    samples, rate, sound_s, pictures_s = _sound(film.path)
    assert film.method == "reencode" and film.has_audio
    assert pictures_s == pytest.approx(3.0, abs=0.01) and sound_s == pytest.approx(pictures_s, abs=0.01)
    for n in range(3):
        level = _loudness(samples, rate, n + 0.1, n + 0.9)
        assert (level < QUIET) if n == silent_at else (level > LOUD), (n, level)
