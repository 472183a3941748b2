"""What the simulator renders: real MP4s (H.264, AAC only when asked) of the requested length, size and rate, the
same bytes for the same task, and test cards built plane by plane whose colours, motion and tone come from the
task. Opened with PyAV, as a player would."""

from __future__ import annotations

import io
import itertools
from array import array
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.helpers import TEST_KEY, make_image
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport
from veo_mcp.simulator.media import (
    AUDIO_RATE,
    VideoSpec,
    _bounce,
    _Palette,
    _palette,
    _plane_bytes,
    _tone,
    _video_frame,
    dimensions,
    render_mp4,
    still_frame,
)

RED, BLUE = (230, 20, 20), (20, 20, 230)


def _mean_rgb(frame: av.VideoFrame) -> tuple[int, int, int]:
    rgb = frame.reformat(format="rgb24")
    plane = rgb.planes[0]
    data = bytes(plane)
    sums = [0, 0, 0]
    for row in range(rgb.height):
        line = data[row * plane.line_size : row * plane.line_size + rgb.width * 3]
        for channel in range(3):
            sums[channel] += sum(line[channel::3])
    count = rgb.width * rgb.height
    return sums[0] // count, sums[1] // count, sums[2] // count


def _near(colour: tuple[int, int, int], target: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(colour, target, strict=True))


def _facts(data: bytes) -> dict[str, Any]:
    """What a player sees in an MP4."""
    with av.open(io.BytesIO(data), mode="r") as container:
        video = container.streams.video[0]
        facts: dict[str, Any] = {
            "streams": [(stream.type, stream.codec_context.name) for stream in container.streams],
            "duration_s": Fraction(container.duration or 0, av.time_base),
            "size": (video.width, video.height),
            "rate": video.average_rate,
        }
        frames = list(container.decode(video=0))
        facts["frame_times"] = [frame.time for frame in frames]
        facts["first_frame"] = frames[0].key_frame
    with av.open(io.BytesIO(data), mode="r") as container:
        if container.streams.audio:
            audio = container.streams.audio[0]
            facts["audio"] = (
                audio.rate,
                audio.codec_context.layout.name,
                (audio.duration or 0) * (audio.time_base or 0),
            )
    return facts


@pytest.mark.parametrize(
    ("aspect", "seconds", "fps", "audio", "size"),
    [("16:9", 4, 2, False, (28, 16)), ("9:16", 6, 3, True, (16, 28)), ("auto", 2, 5, True, (28, 16))],
)
def test_a_rendered_video_has_the_asked_length_size_rate_and_audio(
    aspect: str, seconds: int, fps: int, audio: bool, size: tuple[int, int]
) -> None:
    width, height = dimensions(aspect, 16)
    data = render_mp4(VideoSpec(width, height, seconds, fps, audio, identity="task-a/0/None"))
    facts = _facts(data)
    assert facts.pop("frame_times") == [index / fps for index in range(seconds * fps)]
    expected: dict[str, Any] = {
        "streams": [("video", "h264"), ("audio", "aac")] if audio else [("video", "h264")],
        "duration_s": seconds,
        "size": size,
        "rate": fps,
        "first_frame": True,
    }
    if audio:
        expected["audio"] = (AUDIO_RATE, "mono", seconds)
    assert facts == expected


def test_the_soundtrack_is_the_identity_s_tone() -> None:
    """`x` sounds at 574 Hz (see its palette), at a fifth of full scale."""
    data = render_mp4(VideoSpec(28, 16, 2, 2, True, identity="x"))
    samples = array("f")
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            assert (frame.format.name, frame.layout.name) == ("fltp", "mono")  # AAC decodes to planar floats
            samples.frombytes(bytes(frame.planes[0])[: frame.samples * 4])
    second = samples[AUDIO_RATE // 2 : AUDIO_RATE // 2 + AUDIO_RATE]  # away from the encoder's edges
    crossings = sum(1 for a, b in itertools.pairwise(second) if (a < 0) != (b < 0))
    assert abs(crossings - 2 * 574) <= 10
    assert 0.18 <= max(second) <= 0.22 and -0.22 <= min(second) <= -0.18


def test_the_same_spec_renders_the_same_bytes_and_another_identity_does_not() -> None:
    spec = VideoSpec(28, 16, 2, 2, True, identity="task-a/0/None")
    once = render_mp4(spec)
    assert render_mp4(spec) == once
    assert render_mp4(VideoSpec(28, 16, 2, 2, True, identity="task-a/1/None")) != once


def test_dimensions_keep_an_even_sixteen_by_nine() -> None:
    assert dimensions("16:9", 144) == (256, 144)
    assert dimensions("9:16", 144) == (144, 256)
    assert dimensions("auto", 144) == (256, 144)
    assert dimensions("16:9", 17) == (30, 17)
    assert dimensions("9:16", 720) == (720, 1280)
    assert dimensions("16:9", 20) == (34, 20)  # 35.5 rounded down to even


@pytest.mark.parametrize(
    ("identity", "palette"),
    [
        ("x", _Palette((85, 129, 38), (213, 126, 217), (235, 128, 128), (-1, -1), 574.0)),
        ("y", _Palette((51, 44, 20), (230, 211, 235), (235, 128, 128), (1, -1), 675.0)),
        ("task-a/0/None", _Palette((63, 60, 89), (224, 195, 166), (235, 128, 128), (1, 1), 307.0)),
        ("w", _Palette((120, 23, 49), (195, 232, 206), (235, 128, 128), (1, -1), 792.0)),
    ],
)
def test_a_palette_comes_from_the_identity(identity: str, palette: _Palette) -> None:
    """Pinned: bytes 0-2 of the identity's SHA-256 make the background (Y 40-189, U and V 16-239), the block is its
    complement, bytes 6-7 the direction (odd: 1), bytes 8-9 the tone (220-879 Hz, whole)."""
    assert _palette(identity) == palette


def test_bounce_goes_back_and_forth() -> None:
    assert [_bounce(position, 4) for position in range(10)] == [0, 1, 2, 3, 4, 3, 2, 1, 0, 1]
    assert _bounce(7, 0) == 0 and _bounce(7, -3) == 0


def test_a_plane_is_painted_row_by_row_and_clipped() -> None:
    rects = [(1, 1, 2, 2, 9), (3, 2, 5, 5, 7), (0, 3, 1, 1, 5), (9, 0, 2, 2, 4), (0, 0, 0, 2, 3), (0, 9, 2, 2, 4)]
    assert _plane_bytes(4, 4, 6, 1, rects) == b"".join(
        [
            bytes([1, 1, 1, 1, 0, 0]),
            bytes([1, 9, 9, 1, 0, 0]),
            bytes([1, 9, 9, 7, 0, 0]),
            bytes([5, 1, 1, 7, 0, 0]),
        ]
    )
    assert _plane_bytes(2, 1, 2, 8, []) == bytes([8, 8])


def test_a_tone_is_a_quiet_sine_of_its_frequency() -> None:
    samples = array("f")
    samples.frombytes(_tone(2, AUDIO_RATE / 4))  # a quarter turn per sample
    assert len(samples) == 2 * AUDIO_RATE
    quiet = array("f", [0.2])[0]
    assert samples[:5].tolist() == pytest.approx([0.0, quiet, 0.0, -quiet, 0.0], abs=1e-6)
    assert max(samples) == quiet and min(samples) == -quiet


def _plane(frame: av.VideoFrame, index: int) -> list[bytes]:
    plane = frame.planes[index]
    width, height = (frame.width, frame.height) if index == 0 else (frame.width // 2, frame.height // 2)
    data = bytes(plane)
    return [data[row * plane.line_size : row * plane.line_size + width] for row in range(height)]


def _card(width: int, height: int, block: tuple[int, int, int, int], bar: tuple[int, int, int, int]) -> list[bytes]:
    """A luma plane drawn the plain way: background 50, the block 200 (x, y, w, h), the time bar 235 over it."""
    rows = []
    for row in range(height):
        line = bytearray([50]) * width
        for rect, value in ((block, 200), (bar, 235)):
            x, y, w, h = rect
            if y <= row < y + h:
                line[x : x + w] = bytes([value]) * w
        rows.append(bytes(line))
    return rows


@pytest.mark.parametrize(
    ("direction", "block"),
    [((1, 1), (6, 6, 16, 16)), ((-1, -1), (18, 12, 16, 16)), ((1, -1), (6, 12, 16, 16)), ((-1, 1), (18, 6, 16, 16))],
)
def test_a_test_card_frame_moves_its_block_and_grows_its_bar(
    direction: tuple[int, int], block: tuple[int, int, int, int]
) -> None:
    """80×48: a 16-pixel block moving 2 pixels a frame (×3 leftwards, ×2 upwards), a 2-pixel bar along the bottom."""
    palette = _Palette((50, 60, 70), (200, 100, 110), (235, 128, 128), direction, 440.0)
    spec = VideoSpec(80, 48, 5, 2, False, identity="unused")
    frame = _video_frame(spec, palette, 3, 10)
    assert (frame.width, frame.height, frame.format.name) == (80, 48, "yuv420p")
    assert _plane(frame, 0) == _card(80, 48, block, (0, 46, 32, 2))
    x, y, w, _ = block
    chroma = _plane(frame, 1)
    assert chroma[y // 2][x // 2 : (x + w) // 2] == bytes([100]) * (w // 2)
    assert chroma[0][0] == 60 and _plane(frame, 2)[0][0] == 70
    last = _video_frame(spec, palette, 9, 10)
    assert _plane(last, 0)[47] == bytes([235]) * 80  # the bar spans the width at the end


def test_a_still_frame_is_the_image_scaled(tmp_path: Path) -> None:
    image = make_image(tmp_path / "red.png", RED).read_bytes()
    frame = still_frame(image, 32, 18)
    assert (frame.width, frame.height, frame.format.name) == (32, 18, "yuv420p")
    assert _near(_mean_rgb(frame), RED)


def test_a_video_starts_and_ends_with_its_images(tmp_path: Path) -> None:
    first = make_image(tmp_path / "red.png", RED).read_bytes()
    last = make_image(tmp_path / "blue.jpg", BLUE).read_bytes()
    data = render_mp4(VideoSpec(28, 16, 2, 2, False, identity="x", first_image=first, last_image=last))
    with av.open(io.BytesIO(data), mode="r") as container:
        colours = [_mean_rgb(frame) for frame in container.decode(video=0)]
    assert len(colours) == 4
    assert _near(colours[0], RED) and _near(colours[3], BLUE)
    assert not any(_near(colour, RED) or _near(colour, BLUE) for colour in colours[1:3])


async def test_the_service_renders_a_task_s_own_video_with_its_uploaded_frames(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=1e-6, video_short_side=16, video_fps=2))
    red = make_image(tmp_path / "red.png", RED).read_bytes()
    blue = make_image(tmp_path / "blue.png", BLUE).read_bytes()
    urls = [
        simulator.service.upload_object(simulator.service.store_upload(image, "f.png", "image/png"))["file_url"]
        for image in (red, blue)
    ]
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(simulator),
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ) as http:
        body = {"prompt": "a kite", "image_urls": urls, "aspect_ratio": "9:16", "duration": 6, "seed": 7}
        created = await http.post("/v1/videos/generations", json=body)
        assert created.status_code == 200, created.text
    task = simulator.task(created.json()["id"])
    assert task.frames == (red, blue)
    simulator.service.clock.advance(3600)
    data = simulator.service.video_bytes(task, 0)
    spec = VideoSpec(16, 28, 6, 2, True, identity=f"{task.id}/0/7", first_image=red, last_image=blue)
    assert data == render_mp4(spec)
    assert simulator.service.video_bytes(task, 0) is data  # rendered once
