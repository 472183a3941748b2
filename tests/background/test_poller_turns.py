"""The poller on its own, with a scripted upstream and a scripted database: whose turn it is to ask upstream
(replicas take turns), what a replica that is not polling does instead, how a callback moves the next poll, and the
log line each failure leaves (naming the task it is about).

Everything waits on what the poller did (a fetch, a read, an announcement), within a generous bound; no sleep is a
synchronisation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest

from veo_mcp.background.poller import Poller
from veo_mcp.core.events import ChangeBus
from veo_mcp.core.generation import Generation
from veo_mcp.evolink.errors import AuthenticationError, NotFoundError, TemporaryError
from veo_mcp.evolink.schemas import Task

TASK_ID = "task-unified-1700000000-poller01"


def generation() -> Generation:
    return Generation(task_id=TASK_ID, model="veo3.1-fast", prompt="a harbour at dawn", request={}, simulated=True)


class Recorder:
    """The bus's two ends: what was recorded in the store, and what watchers were told (status at that moment)."""

    def __init__(self, bus: ChangeBus) -> None:
        self.recorded: list[str] = []
        self.announced: list[str] = []
        self.changed = anyio.Event()

        async def record(generation: Generation) -> None:
            self.recorded.append(generation.status)

        async def announce(generation: Generation) -> None:
            self.announced.append(generation.status)
            self.changed.set()

        bus.record_with(record)
        bus.subscribe(announce)


async def until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():  # noqa: ASYNC110 - the poller's own doing, awaited within a bound
            await anyio.sleep(0.001)


@asynccontextmanager
async def polling(poller: Poller) -> AsyncIterator[Poller]:
    async with poller.running():
        yield poller


async def never_fetched(task_id: str) -> Task:
    raise AssertionError(f"{task_id} was fetched by a replica whose turn it is not")


# --- turns ----------------------------------------------------------------------------------------------------------


async def test_a_replica_whose_turn_it_is_not_reads_what_the_other_recorded_and_only_announces_it() -> None:
    bus = ChangeBus()
    seen = Recorder(bus)
    followed = generation()
    story = iter([("processing", 40, "none"), ("completed", 100, "saving"), ("completed", 100, "saved")])
    reads: list[Generation] = []

    async def observe(generation: Generation) -> bool:
        reads.append(generation)
        generation.status, generation.progress, generation.download_state = next(story)
        return True

    async def not_ours(task_id: str) -> bool:
        return False

    poller = Poller(never_fetched, bus, min_interval_s=0.001, max_interval_s=0.002, claim=not_ours, observe=observe)
    async with polling(poller):
        poller.track(followed, poll_now=True)
        # Finished while the other replica still saves the video: it keeps reading until the video is saved.
        await until(lambda: not poller.tracks(TASK_ID))
        assert not poller.polls_upstream(TASK_ID)
    assert reads == [followed, followed, followed]
    assert seen.announced == ["processing", "completed", "completed"]
    assert seen.recorded == []  # the other replica recorded it; this one only tells its watchers


async def test_a_replica_stops_reading_a_generation_nobody_follows_any_more() -> None:
    bus = ChangeBus()
    Recorder(bus)
    dropped = generation()
    reads: list[str] = []

    async def observe(generation: Generation) -> bool:
        reads.append(generation.task_id)
        generation.followed = False  # a cancelled MCP task stopped following it, on another replica
        return True

    async def not_ours(task_id: str) -> bool:
        return False

    poller = Poller(never_fetched, bus, min_interval_s=0.001, max_interval_s=0.002, claim=not_ours, observe=observe)
    async with polling(poller):
        poller.track(dropped, poll_now=True)
        await until(lambda: not poller.tracks(TASK_ID))
    assert reads == [TASK_ID]


async def test_a_database_that_cannot_be_read_is_logged_and_read_again(caplog: pytest.LogCaptureFixture) -> None:
    bus = ChangeBus()
    seen = Recorder(bus)
    attempts: list[int] = []

    async def observe(generation: Generation) -> bool:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise ConnectionError("the database went away")
        generation.status, generation.progress = "completed", 100
        return True

    async def not_ours(task_id: str) -> bool:
        return False

    poller = Poller(never_fetched, bus, min_interval_s=0.001, max_interval_s=0.002, claim=not_ours, observe=observe)
    async with polling(poller):
        poller.track(generation(), poll_now=True)
        await until(lambda: not poller.tracks(TASK_ID))
    assert seen.announced == ["completed"]
    assert f"cannot read {TASK_ID} from the database: the database went away" in caplog.messages


async def test_whose_turn_it_is_follows_the_last_claim() -> None:
    turns = iter([True, False])
    fetched: list[str] = []

    async def claim(task_id: str) -> bool:
        return next(turns)

    async def fetch(task_id: str) -> Task:
        fetched.append(task_id)
        return Task(id=task_id, status="processing", progress=10)

    async def observe(generation: Generation) -> bool:
        generation.status = "completed"
        return True

    alone = Poller(fetch, ChangeBus(), min_interval_s=0.001, max_interval_s=0.002)
    assert alone.polls_upstream(TASK_ID)  # without replicas every task is this process's to poll

    poller = Poller(fetch, ChangeBus(), min_interval_s=0.001, max_interval_s=0.002, claim=claim, observe=observe)
    assert not poller.polls_upstream(TASK_ID)  # nothing claimed yet
    async with polling(poller):
        poller.track(generation(), poll_now=True)
        await until(lambda: len(fetched) == 1)
        await until(lambda: not poller.tracks(TASK_ID))  # then another replica's turn, which saw it finish
    assert fetched == [TASK_ID]
    assert not poller.polls_upstream(TASK_ID)


async def test_a_claim_that_cannot_be_decided_is_logged_and_nothing_is_fetched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    claims: list[str] = []

    async def claim(task_id: str) -> bool:
        claims.append(task_id)
        raise ConnectionError("no database")

    poller = Poller(never_fetched, ChangeBus(), min_interval_s=0.001, max_interval_s=0.002, claim=claim)
    async with polling(poller):
        poller.track(generation(), poll_now=True)
        await until(lambda: len(claims) >= 2)
    assert f"cannot tell who polls {TASK_ID}: no database" in caplog.messages


# --- callbacks and hints -------------------------------------------------------------------------------------------


async def test_a_callback_s_safety_interval_moves_the_next_poll_at_once() -> None:
    fetched = anyio.Event()

    async def fetch(task_id: str) -> Task:
        fetched.set()
        return Task(id=task_id, status="completed", progress=100, results=["https://cdn.example.com/v.mp4"])

    poller = Poller(fetch, ChangeBus(), min_interval_s=600, max_interval_s=900)
    async with polling(poller):
        poller.track(generation())  # no answer yet: asked after the shortest pause, ten minutes here
        poller.expect_callback(TASK_ID, 0.0)  # a safety interval of 0: ask now
        with anyio.fail_after(10):
            await fetched.wait()
        await until(lambda: not poller.tracks(TASK_ID))


async def test_a_callback_for_a_task_not_being_polled_starts_no_poll() -> None:
    fetched: list[str] = []

    async def fetch(task_id: str) -> Task:
        fetched.append(task_id)
        return Task(id=task_id, status="completed", progress=100)

    poller = Poller(fetch, ChangeBus(), min_interval_s=0.001, max_interval_s=0.002)
    other = generation()
    other.task_id = "task-unified-1700000000-another1"
    async with polling(poller):
        poller.expect_callback(TASK_ID, 0.0)
        assert poller.poll_now(TASK_ID) is False  # nothing to hurry
        poller.track(other, poll_now=True)  # the positive control: a tracked task is fetched
        await until(lambda: fetched != [])
        await until(lambda: not poller.tracks(other.task_id))
        assert poller.poll_now(other.task_id) is False  # finished: no longer polled
    assert fetched == [other.task_id]


# --- failures, each in its log line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (AuthenticationError("the key was refused"), f"cannot poll {TASK_ID}: the key was refused"),
        (TemporaryError("busy"), f"poll of {TASK_ID} failed, will retry: busy"),
    ],
)
async def test_a_failed_poll_is_logged_and_asked_again(
    caplog: pytest.LogCaptureFixture, error: Exception, line: str
) -> None:
    answers: list[Exception | Task] = [error, Task(id=TASK_ID, status="completed", progress=100)]

    async def fetch(task_id: str) -> Task:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    poller = Poller(fetch, ChangeBus(), min_interval_s=0.001, max_interval_s=0.002)
    async with polling(poller):
        poller.track(generation(), poll_now=True)
        await until(lambda: not poller.tracks(TASK_ID))
    assert answers == []
    assert any(message.startswith(line) for message in caplog.messages), caplog.messages


async def test_a_task_upstream_forgets_is_asked_again_then_given_up_each_step_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    bus = ChangeBus()
    seen = Recorder(bus)
    asked: list[str] = []

    async def fetch(task_id: str) -> Task:
        asked.append(task_id)
        raise NotFoundError("no such task", advice="")

    forgotten = generation()
    poller = Poller(fetch, bus, min_interval_s=0.0005, max_interval_s=0.001)
    async with polling(poller):
        poller.track(forgotten, poll_now=True)
        await until(lambda: not poller.tracks(TASK_ID))
    assert len(asked) >= 2  # (the window's length has tests of its own: tests/background/test_polling.py)
    assert f"task {TASK_ID} is unknown upstream for now (no such task); asking again" in caplog.messages
    assert caplog.messages[-1] == f"task {TASK_ID} has been unknown upstream for a while: no such task"
    assert forgotten.error_message == "no such task" and seen.recorded == seen.announced == ["pending"]
