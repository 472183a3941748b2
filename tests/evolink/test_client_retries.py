"""How the EvoLink client retries, waits and reports, against a scripted upstream (httpx.MockTransport), with the
retry loop's clock and pauses replaced (`RetryClock`): no test waits for real. Also what each failed create leaves
in its `SendWatch`, and the exact words of the errors the client raises itself."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import httpx
import pytest
import tenacity
import tenacity.wait

from veo_mcp.evolink import (
    AuthenticationError,
    EvoLinkClient,
    EvoLinkError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    TemporaryError,
    parse_video_request,
)
from veo_mcp.evolink import client as client_module
from veo_mcp.evolink.errors import SendWatch

API = "https://api.example.test"
KEY = "sk-retries-0123456789abcdef"
TASK_ID = "task-unified-1756817821-4x3rx6ny"
TASK = {"id": TASK_ID, "status": "pending", "progress": 0}
REQUEST = parse_video_request({"prompt": "a lighthouse in a storm"})

Answer = Callable[[httpx.Request], httpx.Response]


class RetryClock:
    """Stands in for the retry loop's clock and pause: each pause is recorded and passes at once, moving the clock on
    by as much, so limits measured in seconds are reached without waiting. Jitter takes the top of its window."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []
        self.windows: list[tuple[float, float]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def uniform(self, low: float, high: float) -> float:
        self.windows.append((low, high))
        return high


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> RetryClock:
    clock = RetryClock()
    monkeypatch.setattr(tenacity, "time", SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(tenacity.wait, "random", SimpleNamespace(uniform=clock.uniform))
    monkeypatch.setattr(client_module, "AsyncRetrying", functools.partial(tenacity.AsyncRetrying, sleep=clock.sleep))
    return clock


def answers(*scripted: httpx.Response | Exception, then: httpx.Response | None = None) -> tuple[Answer, list[str]]:
    """A transport handler giving the scripted answers in turn (then `then` for ever), and the requests it saw."""
    queue: Iterator[httpx.Response | Exception] = iter(scripted)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        answer = next(queue, then)
        if answer is None:
            raise AssertionError(f"an unexpected request: {request.method} {request.url}")
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def evolink(handler: Answer, **options: object) -> EvoLinkClient:
    return EvoLinkClient(api_key=KEY, base_url=API, transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]


def busy(status: int = 503, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, json={"error": {"code": status, "message": "busy"}}, headers=headers)


def ok() -> httpx.Response:
    return httpx.Response(200, json=TASK)


# --- pauses between attempts --------------------------------------------------------------------------------------


async def test_a_retry_after_is_waited_as_asked_but_never_longer_than_thirty_seconds(clock: RetryClock) -> None:
    handler, seen = answers(busy(429, retry_after="7"), busy(503, retry_after="3600"), ok())
    async with evolink(handler) as client:  # the server's own client: no backoff options given
        assert (await client.get_task(TASK_ID)).id == TASK_ID
    assert clock.pauses == [7, 30]
    assert len(seen) == 3


async def test_without_retry_after_the_pause_is_full_jitter_in_a_window_doubling_from_half_a_second(
    clock: RetryClock,
) -> None:
    handler, seen = answers(*[busy(503)] * 6, then=ok())
    async with evolink(handler, max_backoff_s=5, get_attempts=7) as client:
        await client.get_task(TASK_ID)
    assert clock.windows == [(0, 0.5), (0, 1), (0, 2), (0, 4), (0, 5), (0, 5)]
    assert clock.pauses == [0.5, 1, 2, 4, 5, 5]
    assert len(seen) == 7


async def test_a_create_is_tried_three_times_through_rate_limits_then_given_up(clock: RetryClock) -> None:
    handler, seen = answers(*[busy(429, retry_after="1")] * 10)
    watch = SendWatch()
    async with evolink(handler) as client:
        with pytest.raises(TemporaryError, match="rate limit"):
            await client.create_generation(REQUEST, watch)
    assert seen == ["POST /v1/videos/generations"] * 3
    assert clock.pauses == [1, 1]
    assert watch.in_doubt is False  # a 429 is a definite "not now": the create may be sent again


async def test_retrying_ends_after_two_minutes_of_trouble_however_many_attempts_are_allowed(
    clock: RetryClock,
) -> None:
    handler, seen = answers(*[busy(503, retry_after="30")] * 20, then=ok())
    async with evolink(handler, get_attempts=20) as client:
        with pytest.raises(TemporaryError):
            await client.get_task(TASK_ID)
    assert clock.pauses == [30, 30, 30, 30]  # tried at 0, 30, 60, 90 and 120 s: then two minutes have passed
    assert len(seen) == 5


async def test_a_get_gives_up_after_its_attempts_even_within_the_time_limit(clock: RetryClock) -> None:
    handler, seen = answers(*[busy(503)] * 20, then=ok())
    async with evolink(handler, get_attempts=3) as client:
        with pytest.raises(TemporaryError):
            await client.get_task(TASK_ID)
    assert len(seen) == 3 and clock.pauses == [0.5, 1]


async def test_each_retry_is_logged_with_the_error_and_the_attempt_that_failed(
    clock: RetryClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="veo_mcp")
    handler, _ = answers(busy(503), httpx.ReadError("reset"), ok())
    async with evolink(handler) as client:
        await client.get_task(TASK_ID)
    retries = [record.getMessage() for record in caplog.records if record.getMessage().startswith("retrying")]
    assert retries == ["retrying after TemporaryError (attempt 1)", "retrying after TemporaryError (attempt 2)"]


# --- what is reported ---------------------------------------------------------------------------------------------


async def test_every_request_to_evolink_is_reported_with_its_operation_and_the_kind_of_error(
    clock: RetryClock,
) -> None:
    observed: list[tuple[str, str | None]] = []
    handler, _ = answers(ok(), busy(503), ok(), busy(404), httpx.Response(400, json={"error": {"message": "no"}}))
    async with evolink(handler, observe=lambda *event: observed.append(event)) as client:
        await client.create_generation(REQUEST)
        await client.get_task(TASK_ID)
        with pytest.raises(NotFoundError):
            await client.get_task(TASK_ID)
        with pytest.raises(InvalidRequestError):
            await client.create_generation(REQUEST)
    assert observed == [
        ("create", None),
        ("get", "temporary"),
        ("get", None),
        ("get", "not_found"),
        ("create", "invalid_request"),
    ]


async def test_a_created_task_is_logged_with_its_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="veo_mcp")
    handler, _ = answers(ok())
    async with evolink(handler) as client:
        await client.create_generation(REQUEST)
    [record] = [record for record in caplog.records if record.name == "veo_mcp.evolink.client"]
    assert record.getMessage() == f"created task {TASK_ID}"
    assert record.__dict__["task_id"] == TASK_ID  # the JSON log's task_id field


# --- a create's send-watch ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "in_doubt"),
    [
        (httpx.ConnectError("refused"), False),  # nothing was sent
        (httpx.Response(400, json={"error": {"message": "bad"}}), False),  # a definite refusal
        (busy(429), False),  # a definite "not now"
        (busy(503), True),  # EvoLink may have accepted it
        (httpx.ReadError("reset"), True),  # sent, and no answer came back
        (ok(), True),  # created: a task now exists
    ],
)
async def test_a_create_says_whether_it_may_have_reached_evolink(
    clock: RetryClock, upstream: httpx.Response | Exception, in_doubt: bool
) -> None:
    handler, _ = answers(upstream)
    watch = SendWatch(in_doubt=not in_doubt)  # the opposite of what it must end as
    async with evolink(handler, create_attempts=1) as client:
        with contextlib.suppress(EvoLinkError):  # each of these ends in an error but the last
            await client.create_generation(REQUEST, watch)
    assert watch.in_doubt is in_doubt


# --- the client's own words ---------------------------------------------------------------------------------------


async def test_a_create_that_could_not_connect_says_nothing_was_sent_or_charged(clock: RetryClock) -> None:
    handler, seen = answers(*[httpx.ConnectError("refused")] * 3)
    async with evolink(handler) as client:
        with pytest.raises(TemporaryError) as caught:
            await client.create_generation(REQUEST)
    assert caught.value.message == f"Could not connect to EvoLink at {API} (ConnectError); nothing was sent."
    assert caught.value.advice == "Check the network or EVOLINK_BASE_URL and try again; nothing was charged."
    assert len(seen) == 3  # nothing reached EvoLink, so it was safe to try again


async def test_an_accepted_create_with_an_unreadable_answer_is_outcome_unknown_with_its_status() -> None:
    handler, _ = answers(httpx.Response(200, text="<html>ok</html>"))
    async with evolink(handler) as client:
        with pytest.raises(OutcomeUnknownError) as caught:
            await client.create_generation(REQUEST)
    assert caught.value.message == "EvoLink accepted the create but its answer could not be read (no task id in it)."
    assert caught.value.status_code == 200


async def test_a_get_that_could_not_reach_evolink_names_the_task_and_the_failure() -> None:
    handler, _ = answers(httpx.ConnectError("refused"))
    async with evolink(handler, get_attempts=1) as client:
        with pytest.raises(TemporaryError) as caught:
            await client.get_task(TASK_ID)
    assert caught.value.message == f"Could not reach EvoLink for task {TASK_ID} (ConnectError)."


@pytest.mark.parametrize(
    ("operation", "status"), [("create", 429), ("create", 400), ("create", 402), ("get", 404), ("get", 401)]
)
async def test_an_upstream_answer_that_echoes_the_key_never_shows_it(
    clock: RetryClock, operation: str, status: int
) -> None:
    echo = httpx.Response(status, json={"error": {"message": f"key {KEY} is not allowed this"}})
    handler, _ = answers(echo)
    async with evolink(handler, create_attempts=1, get_attempts=1) as client:
        call = client.create_generation(REQUEST) if operation == "create" else client.get_task(TASK_ID)
        with pytest.raises(EvoLinkError) as caught:
            await call
    assert caught.value.status_code == status
    assert KEY not in str(caught.value) and "key [redacted] is not allowed this" in caught.value.message


async def test_a_task_id_that_is_not_one_is_refused_before_asking_showing_at_most_80_characters() -> None:
    handler, seen = answers()
    bad = "../" * 40
    async with evolink(handler) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_task(bad)
    assert caught.value.message == f"task_id {bad[:80]!r} is not a task id."
    assert caught.value.advice == (
        "Task ids look like 'task-unified-1756817821-4x3rx6ny': letters, digits, '-' and '_' only."
    )
    assert seen == []


async def test_without_a_key_nothing_is_sent_and_the_error_names_the_setting() -> None:
    handler, seen = answers()
    async with EvoLinkClient(api_key=None, base_url=API, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(AuthenticationError) as create:
            await client.create_generation(REQUEST)
        with pytest.raises(AuthenticationError) as get:
            await client.get_task(TASK_ID)
    expected = "No EvoLink API key is configured (EVOLINK_API_KEY is not set)."
    assert create.value.message == get.value.message == expected
    assert seen == []
