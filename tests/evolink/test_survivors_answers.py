"""Reading upstream's answers at their edges: how long a `Retry-After` says to wait in each of its forms, a bearer
token echoed by upstream blanked out of the message, how often a task is polled, and which bytes make a WebP."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import httpx
import pytest

from veo_mcp.evolink import polling
from veo_mcp.evolink.image_types import image_type
from veo_mcp.evolink.responses import error_from_response, parse_retry_after
from veo_mcp.evolink.schemas import Task, TaskInfo

NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),  # "now" is no wait at all
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 09:28:30 +0200", 30.0),  # the same instant in another zone
        ("Wed, 21 Oct 2015 07:28:30 -0000", 30.0),  # no zone given: read as UTC
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_says_how_long_to_wait_in_either_form(header: str, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_a_bearer_token_upstream_echoes_is_blanked_out_of_the_message() -> None:
    body = json.dumps({"error": {"message": "token Bearer sk-live-123 is revoked; bearer\tabc.def too"}}).encode()
    error = error_from_response(httpx.Response(401, content=body))
    assert error.message == "EvoLink refused the API key: token Bearer [redacted] is revoked; bearer [redacted] too"


def _task(progress: int, estimated_time: float | None) -> Task:
    return Task(id="task-1", progress=progress, task_info=TaskInfo(estimated_time=estimated_time))


@pytest.mark.parametrize(
    ("progress", "estimated_time", "interval"),
    [
        (0, 100.0, 5.0),  # about 20 polls over the estimated run
        (89, 100.0, 5.0),
        (90, 100.0, 2.5),  # near the end: twice as often
        (100, 100.0, 2.5),
        (0, None, 3.75),  # no estimate: a typical 75 s run
        (95, 30.0, 0.75),
    ],
)
def test_a_task_is_polled_about_twenty_times_over_its_estimate_and_more_often_near_the_end(
    monkeypatch: pytest.MonkeyPatch, progress: int, estimated_time: float | None, interval: float
) -> None:
    spreads: list[tuple[float, float]] = []

    def middle(low: float, high: float) -> float:
        spreads.append((low, high))
        return 0.0

    monkeypatch.setattr(random, "uniform", middle)
    assert polling.poll_interval_for(_task(progress, estimated_time), min_s=0.0, max_s=1000.0) == interval
    assert spreads == [(-0.1, 0.1)]  # spread by ±10 % unless told otherwise


def test_the_poll_interval_is_spread_by_its_jitter_and_kept_within_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    task = _task(0, 100.0)
    assert polling.poll_interval_for(task, min_s=0.0, max_s=1000.0) == pytest.approx(5.5)
    assert polling.poll_interval_for(task, min_s=0.0, max_s=1000.0, jitter=0.5) == pytest.approx(7.5)
    assert polling.poll_interval_for(task, min_s=6.0, max_s=1000.0) == 6.0
    assert polling.poll_interval_for(task, min_s=0.0, max_s=2.0) == 2.0


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", None),  # a RIFF file, but a video
        (b"JUNK\x10\x00\x00\x00WEBPVP8 ", None),  # "WEBP" in the wrong container
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d", "image/png"),
        (b"GIF89a\x01\x00\x01\x00", None),
    ],
)
def test_an_image_type_is_told_by_its_first_bytes(head: bytes, kind: str | None) -> None:
    assert image_type(head) == kind
