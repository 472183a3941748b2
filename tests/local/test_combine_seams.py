"""Clips joined at their seams, made for the purpose: packets copied with their spacing and nudged no further than
needed, clips whose streams carry no length, pictures held as long as their clip holds them, frames without
timestamps, sound of other rates, layouts and sample formats converted to the film's, and the encoder's settings."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.local.media import BLACK, BLUE, GREEN, PALETTE, RED, colour_at, frame_of
from veo_mcp.local.combine import combine_clips

Colour = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Sound:
    rate: int
    layout: str
    samples: int  # exactly this many, per track
    codec: str = "aac"
    tracks: int = 1


def _movie(
    path: Path,
    colours: list[Colour],
    *,
    fps: int = 12,
    size: tuple[int, int] = (64, 36),
    pts: list[int] | None = None,  # each picture's timestamp in 1/fps (default: one after another from 0)
    sound: Sound | None = None,
    codec: str = "mpeg4",
    container: str | None = None,
) -> Path:
    """A small clip: one picture per colour, and a steady tone (or none)."""
    with av.open(str(path), mode="w", format=container) as output:
        video = output.add_stream(codec, rate=fps)
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        tracks: list[av.AudioStream] = []
        for _ in range(sound.tracks if sound is not None else 0):
            assert sound is not None
            track = output.add_stream(sound.codec, rate=sound.rate, layout=sound.layout)
            assert isinstance(track, av.AudioStream)
            tracks.append(track)
        for number, colour in enumerate(colours):
            frame = frame_of(size[0] + size[0] % 2, size[1] + size[1] % 2, colour).reformat(size[0], size[1])
            frame.pts, frame.time_base = pts[number] if pts else number, Fraction(1, fps)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if sound is not None:
            for track in tracks:
                for piece in _tone(sound):
                    output.mux(track.encode(piece))
                output.mux(track.encode(None))
    return path


def _tone(sound: Sound) -> list[av.AudioFrame]:
    frames = []
    for start in range(0, sound.samples, 1024):
        count = min(1024, sound.samples - start)
        frame = av.AudioFrame(format="fltp", layout=sound.layout, samples=count)
        wave = array("f", (0.3 * math.sin(2 * math.pi * 440 * (start + n) / sound.rate) for n in range(count)))
        for plane in frame.planes:
            plane.update(wave.tobytes() + bytes(plane.buffer_size - count * 4))
        frame.sample_rate, frame.pts, frame.time_base = sound.rate, start, Fraction(1, sound.rate)
        frames.append(frame)
    return frames


def _colours(path: Path) -> str:
    """The film's pictures in order, one letter each (r, g, b; k for black), read at the middle of the picture."""

    def name(found: Colour) -> str:
        nearest = min(PALETTE, key=lambda key: sum(abs(a - b) for a, b in zip(found, PALETTE[key], strict=True)))
        return {"red": "r", "green": "g", "blue": "b", "black": "k"}.get(nearest, "?")

    with av.open(str(path)) as film:
        return "".join(
            name(colour_at(frame.reformat(format="yuv420p"), frame.width // 2, frame.height // 2))
            for frame in film.decode(video=0)
        )


def _packets(path: Path, kind: str) -> list[tuple[int, int]]:
    """(dts, pts) of every packet of the first stream of `kind`, in the file's order."""
    with av.open(str(path)) as film:
        stream = film.streams.video[0] if kind == "video" else film.streams.audio[0]
        return [(p.dts, p.pts) for p in film.demux(stream) if p.dts is not None and p.pts is not None]


def _time_base(path: Path, kind: str) -> Fraction:
    with av.open(str(path)) as film:
        stream = film.streams.video[0] if kind == "video" else film.streams.audio[0]
        assert stream.time_base is not None
        return stream.time_base


def _loudness(path: Path) -> list[float]:
    """RMS of the film's sound (first channel) in each half second, kept clear of the seams where the codec smears."""
    samples: array[float] = array("f")
    with av.open(str(path)) as film:
        rate = film.streams.audio[0].rate
        for frame in film.decode(audio=0):
            samples.frombytes(bytes(frame.planes[0])[: frame.samples * 4])
    levels = []
    for start in range(0, len(samples) - rate // 2 + 1, rate // 2):
        part = samples[start + rate // 10 : start + rate * 4 // 10]
        levels.append(round(math.sqrt(sum(x * x for x in part) / len(part)), 2))
    return levels


# --- copied -------------------------------------------------------------------------------------------------------


def test_a_single_clip_is_copied_as_it_is(tmp_path: Path) -> None:
    only = _movie(tmp_path / "only.mp4", [RED, GREEN, BLUE], sound=Sound(24000, "mono", 6000))
    film = combine_clips([only], tmp_path / "film.mp4")
    assert film.method == "remux" and film.fitting is None and film.has_audio
    assert _colours(film.path) == "rgb"
    for kind in ("video", "audio"):
        assert _packets(film.path, kind) == _packets(only, kind), kind


def test_only_the_first_sound_track_of_each_clip_is_copied(tmp_path: Path) -> None:
    sound = Sound(24000, "mono", 6000, tracks=2)
    clips = [_movie(tmp_path / f"{n}.mp4", [colour] * 3, sound=sound) for n, colour in enumerate((RED, GREEN))]
    film = combine_clips(clips, tmp_path / "film.mp4")
    assert film.method == "remux"
    with av.open(str(film.path)) as container:
        assert [stream.type for stream in container.streams] == ["video", "audio"]
    assert _colours(film.path) == "rrrggg"
    assert len(_packets(film.path, "audio")) == 2 * len(_packets(clips[0], "audio"))


def test_copied_clips_keep_their_packets_spacing_and_are_nudged_only_as_far_as_the_seam_needs(tmp_path: Path) -> None:
    # 0.64 s of pictures and exactly 0.64 s of sound: the sound's last packet of one clip and the first (the encoder's
    # priming, a packet early) of the next fall on the same tick, so the next clip's sound moves one tick later.
    sound = Sound(48000, "stereo", 30720)
    clips = [_movie(tmp_path / f"{n}.mp4", [c] * 16, fps=25, sound=sound) for n, c in enumerate((RED, GREEN, BLUE))]
    film = combine_clips(clips, tmp_path / "film.mp4")
    assert film.method == "remux" and film.duration_s == pytest.approx(1.92, abs=0.03)
    assert _time_base(film.path, "video") == _time_base(clips[0], "video") == Fraction(1, 12800)
    assert _time_base(film.path, "audio") == _time_base(clips[0], "audio") == Fraction(1, 48000)
    video, audio = _packets(clips[0], "video"), _packets(clips[0], "audio")
    assert audio[-1][0] + 1024 == 30720  # the last packet of sound ends exactly where the pictures do
    assert _packets(film.path, "video") == [(d + n * 8192, p + n * 8192) for n in range(3) for d, p in video]
    assert _packets(film.path, "audio") == [(d + n * 30721, p + n * 30721) for n in range(3) for d, p in audio]
    assert _colours(film.path) == "r" * 16 + "g" * 16 + "b" * 16


def test_clips_whose_streams_carry_no_length_follow_each_other_by_the_containers_length(tmp_path: Path) -> None:
    # Matroska keeps a length for the whole file only: each clip still starts where the previous one ended.
    clips = [_movie(tmp_path / f"{n}.mkv", [colour] * 4) for n, colour in enumerate((RED, GREEN))]
    film = combine_clips(clips, tmp_path / "film.mp4")
    assert film.method == "remux" and film.duration_s == pytest.approx(0.666, abs=0.002)
    tick = _time_base(film.path, "video")
    starts = [float(pts * tick) for _, pts in _packets(film.path, "video")]
    assert starts == pytest.approx([n / 12 for n in range(8)], abs=0.002)
    assert _colours(film.path) == "rrrrgggg"


def test_clips_lasting_minutes_are_placed_to_the_millisecond(tmp_path: Path) -> None:
    # Two pictures ten minutes apart (Matroska counts milliseconds): the second clip starts exactly at 600 s, the film
    # lasts exactly 1200 s.
    clips = [_movie(tmp_path / f"{n}.mkv", pair, pts=[0, 7199]) for n, pair in enumerate(([RED, GREEN], [BLUE, RED]))]
    film = combine_clips(clips, tmp_path / "film.mp4")
    assert film.method == "remux" and film.duration_s == pytest.approx(1200.0, abs=1e-5)
    tick = _time_base(film.path, "video")
    starts = [Fraction(0), Fraction(599917, 1000), Fraction(600), Fraction(1199917, 1000)]
    assert [pts * tick for _, pts in _packets(film.path, "video")] == starts
    assert _colours(film.path) == "rgbr"


def _b_frame_clips(folder: Path) -> list[Path]:
    """Matroska clips with B-frames: their first packets carry a presentation time but no decoding time."""
    clips = []
    for n in range(2):
        with av.open(str(folder / f"{n}.mkv"), mode="w") as output:
            video = output.add_stream("libx264", rate=12, options={"bf": "2"})
            video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
            for number in range(12):
                frame = frame_of(64, 36, (RED, GREEN, BLUE)[number % 3], seed=number)
                frame.pts, frame.time_base = number, Fraction(1, 12)
                output.mux(video.encode(frame))
            output.mux(video.encode(None))
        clips.append(folder / f"{n}.mkv")
    return clips


@pytest.mark.xfail(
    strict=True,
    reason="known bug, not reachable through combine_videos (it joins saved MP4s only): copying Matroska clips with "
    "B-frames drops their first packets (no decoding time), the keyframe among them, so the film does not decode",
)
def test_a_film_copied_from_b_frame_clips_decodes_every_picture(tmp_path: Path) -> None:
    film = combine_clips(_b_frame_clips(tmp_path), tmp_path / "film.mp4")
    with av.open(str(film.path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 24


def test_packets_after_the_first_decoding_timestamp_are_all_copied_in_order(tmp_path: Path) -> None:
    """A packet without a decoding time does not end its clip: what follows it is copied all the same (the packets
    without one are the subject of the known bug above)."""
    clips = _b_frame_clips(tmp_path)

    def payloads(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(video=0) if p.size and p.dts is not None]

    film = combine_clips(clips, tmp_path / "film.mp4")
    assert film.method == "remux"
    copied = payloads(film.path)
    for n, clip in enumerate(clips):
        wanted = payloads(clip)
        assert len(wanted) >= 10 and copied[n * len(wanted) : (n + 1) * len(wanted)] == wanted


# --- re-encoded ---------------------------------------------------------------------------------------------------


def test_each_picture_stays_as_long_as_its_clip_holds_it_and_silent_clips_make_a_silent_film(tmp_path: Path) -> None:
    steady = _movie(tmp_path / "steady.mp4", [RED, RED, RED, GREEN, GREEN, GREEN])
    # Two pictures: green for 9/12 s, then blue for the clip's last 1/12 s (its average rate is 2.4 a second).
    held = _movie(tmp_path / "held.mp4", [GREEN, BLUE], size=(48, 36), pts=[0, 9])
    with av.open(str(held)) as container:
        assert container.streams.video[0].average_rate == Fraction(12, 5)
    film = combine_clips([steady, held], tmp_path / "film.mp4")
    assert film.method == "reencode" and not film.has_audio
    assert _colours(film.path) == "rrrggg" + "g" * 9 + "b"
    with av.open(str(film.path)) as container:
        assert not container.streams.audio and container.streams.video[0].average_rate == 12


def test_the_film_runs_at_the_first_clips_average_rate(tmp_path: Path) -> None:
    # Five pictures over 10/12 s: 6 a second on average, though the shortest gap is 1/12 s (at 6 a second, the last
    # picture, on for 1/12 s, falls between two of the film's).
    uneven = _movie(tmp_path / "uneven.mp4", [RED, RED, RED, GREEN, BLUE], pts=[0, 1, 2, 3, 9])
    with av.open(str(uneven)) as container:
        stream = container.streams.video[0]
        assert (stream.average_rate, stream.guessed_rate) == (Fraction(6), Fraction(12))
    other = _movie(tmp_path / "other.mp4", [BLUE] * 6, size=(48, 36))
    film = combine_clips([uneven, other], tmp_path / "film.mp4")
    with av.open(str(film.path)) as container:
        assert container.streams.video[0].average_rate == 6
    assert _colours(film.path) == "rrggg" + "bbb"


def test_a_film_can_run_at_one_picture_a_second(tmp_path: Path) -> None:
    slides = _movie(tmp_path / "slides.mp4", [RED, GREEN], fps=1)
    other = _movie(tmp_path / "other.mp4", [BLUE] * 6, size=(48, 36))
    film = combine_clips([slides, other], tmp_path / "film.mp4")
    with av.open(str(film.path)) as container:
        assert container.streams.video[0].average_rate == 1
    assert _colours(film.path) == "rgb"


def test_a_clip_whose_first_picture_comes_late_shows_it_from_the_clips_start(tmp_path: Path) -> None:
    first = _movie(tmp_path / "first.mp4", [RED] * 6)
    late = _movie(tmp_path / "late.mp4", [GREEN, GREEN, BLUE, BLUE], size=(48, 36), pts=[6, 7, 8, 9])
    with av.open(str(late)) as container:
        assert container.streams.video[0].start_time == 6144  # half a second in
    film = combine_clips([first, late], tmp_path / "film.mp4")
    assert _colours(film.path).startswith("rrrrrrg")


def test_frames_without_timestamps_are_timed_by_their_clips_rate(tmp_path: Path) -> None:
    first = _movie(tmp_path / "first.mp4", [RED] * 12)
    # A raw H.264 stream: no timestamps on its frames, no length; read at its reader's default 25 frames a second.
    raw = _movie(tmp_path / "raw.h264", [GREEN, GREEN] + [BLUE] * 6, codec="libx264", container="h264")
    with av.open(str(raw)) as container:
        assert container.streams.video[0].average_rate == 25 and container.duration is None
        assert all(frame.time is None for frame in container.decode(video=0))
    film = combine_clips([first, raw], tmp_path / "film.mp4")
    assert film.method == "reencode" and film.duration_s < 1.5
    assert _colours(film.path) == "r" * 12 + "gbbb"  # at 1/25 s apart: the third picture is already on at 1/12 s


def test_a_clip_stored_as_rgb_keeps_its_colours_and_gets_black_bars(tmp_path: Path) -> None:
    first = _movie(tmp_path / "first.mp4", [RED] * 3)
    rgb = tmp_path / "rgb.mov"  # PNG pictures: red, green and blue values, not luma and chroma
    with av.open(str(rgb), mode="w") as output:
        video = output.add_stream("png", rate=12)
        video.width, video.height, video.pix_fmt = 40, 30, "rgb24"
        for number in range(3):
            frame = frame_of(40, 30, BLUE).reformat(format="rgb24")
            frame.pts, frame.time_base = number, Fraction(1, 12)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
    film = combine_clips([first, rgb], tmp_path / "film.mp4")
    assert film.fitting == (
        "The clips differ in size: the film is 64x36, the largest clip's; clip 2 (40x30) pillar-boxed (bars at the "
        "sides)."
    )
    with av.open(str(film.path)) as container:
        pictures = [frame.reformat(format="yuv420p") for frame in container.decode(video=0)]
    assert len(pictures) == 6

    def close(found: Colour, wanted: Colour) -> bool:
        return all(abs(a - b) <= 3 for a, b in zip(found, wanted, strict=True))

    for picture in pictures[3:]:
        assert close(colour_at(picture, 32, 18), BLUE), colour_at(picture, 32, 18)
        assert close(colour_at(picture, 2, 18), BLACK) and close(colour_at(picture, 62, 18), BLACK)


def test_the_film_is_encoded_with_x264s_veryfast_preset(tmp_path: Path) -> None:
    clips = [_movie(tmp_path / f"{n}.mp4", [RED] * 3, size=size) for n, size in enumerate(((64, 36), (48, 36)))]
    film = combine_clips(clips, tmp_path / "film.mp4")
    with av.open(str(film.path)) as container:
        first = bytes(next(container.demux(video=0)))
    settings = first[first.index(b"options: ") + 9 :].split(b"\x00")[0].decode()
    options = dict(option.split("=", 1) for option in settings.split() if "=" in option)
    assert (options["subme"], options["ref"], options["rc_lookahead"], options["trellis"]) == ("2", "1", "10", "0")


def test_clips_of_odd_sides_count_as_the_even_size_they_are_encoded_at(tmp_path: Path) -> None:
    odd = _movie(tmp_path / "odd.mp4", [RED] * 3, size=(65, 37))
    small = _movie(tmp_path / "small.mp4", [GREEN] * 3, size=(32, 18))
    film = combine_clips([odd, small], tmp_path / "film.mp4")
    assert (film.width, film.height) == (64, 36)
    assert film.fitting == ("The clips differ in size: the film is 64x36, the largest clip's; clip 2 (32x18) scaled.")


def test_a_file_without_pictures_is_refused_by_name(tmp_path: Path) -> None:
    sound = tmp_path / "voice.m4a"
    with av.open(str(sound), mode="w", format="mp4") as output:
        track = output.add_stream("aac", rate=24000, layout="mono")
        for frame in _tone(Sound(24000, "mono", 2400)):
            output.mux(track.encode(frame))
        output.mux(track.encode(None))
    with pytest.raises(ValueError, match=r"^voice\.m4a has no video stream$"):
        combine_clips([_movie(tmp_path / "a.mp4", [RED] * 3), sound], tmp_path / "film.mp4")
    assert not (tmp_path / "film.mp4").exists()


def test_sound_of_other_rates_layouts_and_formats_takes_the_first_sounds_and_lasts_as_long_as_the_pictures(
    tmp_path: Path,
) -> None:
    mono = _movie(tmp_path / "mono.mp4", [RED] * 6, sound=Sound(24000, "mono", 12000))
    # Stereo 16-bit PCM at 48 kHz, a quarter second longer than its pictures: cut to them.
    stereo = _movie(tmp_path / "stereo.mov", [GREEN] * 6, sound=Sound(48000, "stereo", 36000, codec="pcm_s16le"))
    silent = _movie(tmp_path / "silent.mp4", [BLUE] * 6)
    film = combine_clips([mono, stereo, silent, mono], tmp_path / "film.mp4")
    assert film.method == "reencode" and film.has_audio and film.duration_s == pytest.approx(2.0, abs=0.01)
    with av.open(str(film.path)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.rate, audio.layout.name) == ("aac", 24000, "mono")
        assert (audio.start_time, audio.duration) == (0, 48000)  # exactly as long as the pictures, from the start
    assert _packets(film.path, "audio")[:2] == [(-1024, -1024), (0, 0)]
    with av.open(str(film.path)) as container:
        last = [packet for packet in container.demux(audio=0) if packet.size][-1]
        assert last.pts is not None and last.duration is not None
        assert last.pts + last.duration == 48000  # the sound's very last sample
    assert _colours(film.path) == "r" * 6 + "g" * 6 + "b" * 6 + "r" * 6
    quiet, loud, silent, again = _loudness(film.path)  # (the AAC encoder's rounding may differ between builds)
    assert quiet == pytest.approx(0.21, abs=0.03) and again == pytest.approx(quiet, abs=0.02) and silent == 0.0
    assert loud > 1.2 * quiet  # the stereo tone mixed down to mono is louder
