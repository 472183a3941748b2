"""Clips of other shapes joined into one film (issue 22): the film takes the largest clip's size, the others are
fitted into it with bars, and the answer says which and how - never a silent shrink to the first clip's size."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from veo_mcp.local.combine import combine_clips
from veo_mcp.simulator.media import VideoSpec, render_mp4


def _clip(folder: Path, name: str, width: int, height: int, *, audio: bool = True) -> Path:
    path = folder / name
    path.write_bytes(render_mp4(VideoSpec(width=width, height=height, seconds=1, fps=12, audio=audio, identity=name)))
    return path


def _size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return video.width, video.height


def test_the_film_takes_the_largest_clips_size_and_says_how_the_others_were_fitted(tmp_path: Path) -> None:
    small_landscape = _clip(tmp_path, "a.mp4", 160, 90)
    portrait = _clip(tmp_path, "b.mp4", 144, 256)  # the largest by area, though not the first
    small_portrait = _clip(tmp_path, "c.mp4", 72, 128, audio=False)
    combined = combine_clips([small_landscape, portrait, small_portrait], tmp_path / "film.mp4")
    assert combined.method == "reencode" and (combined.width, combined.height) == (144, 256)
    assert _size(combined.path) == (144, 256)
    assert combined.fitting == (
        "The clips differ in size: the film is 144x256, the largest clip's; clip 1 (160x90) letter-boxed (bars "
        "above and below); clip 3 (72x128) scaled."
    )
    assert combined.has_audio  # the silent clip got silence, the film keeps its sound


def test_of_equal_sizes_the_first_clips_shape_wins_and_the_other_is_pillar_boxed(tmp_path: Path) -> None:
    landscape, portrait = _clip(tmp_path, "l.mp4", 256, 144), _clip(tmp_path, "p.mp4", 144, 256)
    combined = combine_clips([landscape, portrait], tmp_path / "film.mp4")
    assert (combined.width, combined.height) == (256, 144)
    assert combined.fitting == (
        "The clips differ in size: the film is 256x144, the largest clip's; clip 2 (144x256) pillar-boxed (bars at "
        "the sides)."
    )


def test_matching_clips_are_copied_and_nothing_is_said_about_fitting(tmp_path: Path) -> None:
    first, second = _clip(tmp_path, "1.mp4", 256, 144), _clip(tmp_path, "2.mp4", 256, 144)
    combined = combine_clips([first, second], tmp_path / "film.mp4")
    assert combined.method == "remux" and combined.fitting is None


@pytest.mark.parametrize("rates", [(12, 24), (24, 12)])
def test_a_reencoded_film_keeps_the_first_clips_frame_rate_and_every_clips_length(
    tmp_path: Path, rates: tuple[int, int]
) -> None:
    first, second = rates
    clips = []
    for number, (fps, width) in enumerate(((first, 160), (second, 128))):
        path = tmp_path / f"{number}.mp4"
        path.write_bytes(
            render_mp4(VideoSpec(width=width, height=90, seconds=1, fps=fps, audio=True, identity=path.name))
        )
        clips.append(path)
    film = combine_clips(clips, tmp_path / "film.mp4")
    assert film.method == "reencode"
    with av.open(str(film.path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        assert video.average_rate == first
    assert frames == 2 * first  # one second of each clip, at the first clip's rate


def test_copied_clips_follow_each_other_from_zero_with_every_packet_and_no_gap(tmp_path: Path) -> None:
    clips = [_clip(tmp_path, f"{n}.mp4", 256, 144) for n in range(3)]
    combined = combine_clips(clips, tmp_path / "film.mp4")
    assert combined.method == "remux"

    def packets(path: Path) -> dict[str, list[tuple[int, int]]]:
        found: dict[str, list[tuple[int, int]]] = {"video": [], "audio": []}
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.dts is not None and packet.time_base is not None:
                    found[packet.stream.type].append((packet.dts, packet.pts or 0))
        return found

    film, one = packets(combined.path), packets(clips[0])
    for kind in ("video", "audio"):
        assert len(film[kind]) == 3 * len(one[kind]), kind  # every packet of every clip
        dts = [d for d, _ in film[kind]]
        assert dts == sorted(set(dts)), kind  # strictly increasing across the seams
    assert min(pts for _, pts in film["video"]) == min(pts for _, pts in one["video"])  # starts where a clip starts
    with av.open(str(combined.path)) as container:
        video = container.streams.video[0]
        assert float(video.duration * video.time_base) == pytest.approx(3.0, abs=0.05)
