"""Simulated videos are real MP4s of the requested shape; cost estimates follow the price table."""

from __future__ import annotations

import io

import av
import pytest

from veo_mcp.evolink import estimate_cost, parse_video_request
from veo_mcp.evolink.catalog import MODELS
from veo_mcp.evolink.costs import rate, total_estimate
from veo_mcp.simulator.media import VideoSpec, dimensions, render_mp4


def _probe(data: bytes) -> tuple[int, int, float, list[str], bytes]:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        kinds = [stream.type for stream in container.streams]
        duration = float(container.duration or 0) / 1_000_000
        first = next(container.decode(video=0)).to_rgb().planes[0]
        return video.width, video.height, duration, kinds, bytes(first)


@pytest.mark.parametrize(("aspect", "seconds", "audio"), [("16:9", 8, True), ("9:16", 4, False), ("auto", 6, True)])
def test_render_has_requested_shape_length_and_audio(aspect: str, seconds: int, audio: bool) -> None:
    width, height = dimensions(aspect, 144)
    data = render_mp4(VideoSpec(width=width, height=height, seconds=seconds, fps=12, audio=audio, identity="t"))
    got_w, got_h, duration, kinds, _ = _probe(data)
    assert (got_w, got_h) == ((144, 256) if aspect == "9:16" else (256, 144))
    assert duration == pytest.approx(seconds, abs=0.15)
    assert kinds == (["video", "audio"] if audio else ["video"])


def test_each_task_looks_different() -> None:
    frames = {
        _probe(render_mp4(VideoSpec(width=64, height=36, seconds=1, fps=4, audio=False, identity=name)))[4]
        for name in ("task-a/0/1", "task-a/1/1", "task-b/0/1")
    }
    assert len(frames) == 3


@pytest.mark.parametrize(
    ("body", "usd"),
    [
        ({"prompt": "x"}, 0.48),  # 4 s 720p with audio
        ({"prompt": "x", "duration": 8, "quality": "1080p"}, 0.96),
        ({"prompt": "x", "duration": 8, "quality": "1080p", "generate_audio": False}, 0.64),
        ({"prompt": "x", "duration": 8, "quality": "4k"}, 2.2464),
        ({"prompt": "x", "duration": 6, "quality": "4k", "generate_audio": False, "n": 3}, 4.32),
        ({"prompt": "x", "duration": 8, "quality": "4k", "n": 4}, 8.9856),
    ],
)
def test_cost_is_price_times_duration_times_n(body: dict[str, object], usd: float) -> None:
    estimate = estimate_cost(parse_video_request(body))
    assert estimate.known and estimate.usd == pytest.approx(usd)
    assert estimate.credits == pytest.approx(usd * 72)


def test_reference_cost_uses_the_fixed_duration() -> None:
    request = parse_video_request(
        {"prompt": "x", "generation_type": "REFERENCE", "image_urls": ["https://e.com/a.png"]}
    )
    assert estimate_cost(request).billed_seconds == 8


@pytest.mark.parametrize("model", [m for m, caps in MODELS.items() if caps.price is None])
def test_unpublished_prices_are_estimated_with_a_stated_ceiling(model: str) -> None:
    estimate = estimate_cost(parse_video_request({"prompt": "x", "model": model, "duration": 8, "n": 2}))
    assert not estimate.known and (estimate.usd, estimate.credits, estimate.usd_per_second) == (9.6, 691.2, 0.6)
    assert estimate.summary.startswith("at most $9.60 (691 credits): 2 × 8 s at 720p with audio; ")
    assert f"publishes no price for {model}" in estimate.summary and "$0.60/s" in estimate.summary
    total = total_estimate([estimate, estimate_cost(parse_video_request({"prompt": "x"}))])
    assert not total.known and total.usd == 10.08 and total.summary.startswith("at most $10.08 (726 credits)")


@pytest.mark.parametrize(
    ("usd_per_second", "shown"),
    [(0.12, "$0.12/s"), (0.2808, "$0.2808/s"), (0.6, "$0.6/s"), (0.08, "$0.08/s"), (2.0, "$2/s"), (10.0, "$10/s")],
)
def test_a_per_second_price_is_shown_as_published_without_trailing_zeros(usd_per_second: float, shown: str) -> None:
    assert rate(usd_per_second) == shown


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        ({"prompt": "x", "duration": 8, "n": 2}, "$1.92 (138 credits): 2 × 8 s at 720p with audio, $0.12/s"),
        (
            {"prompt": "x", "duration": 6, "quality": "4k", "generate_audio": False},
            "$1.44 (104 credits): 1 × 6 s at 4k no audio, $0.24/s",
        ),
    ],
)
def test_an_estimate_is_summed_up_in_one_line_for_a_person(body: dict[str, object], summary: str) -> None:
    assert estimate_cost(parse_video_request(body)).summary == summary
