"""The create ledger on a real store: record before send, an ambiguous create never resent, a refusal forgotten, a
full disk never losing the task id, and an earlier create answering a repeat - each decided where the ledger decides.

No MCP session here (test_money.py and test_limits.py drive the same rules through one), so these run once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import disk_full, service_settings
from tests.postgres import store_on
from veo_mcp.context import acting_as
from veo_mcp.core.generation import Generation
from veo_mcp.evolink import estimate_cost, parse_video_request
from veo_mcp.evolink.errors import InvalidRequestError, OutcomeUnknownError, SendWatch, TemporaryError
from veo_mcp.evolink.schemas import Task, TaskInfo
from veo_mcp.money import guards
from veo_mcp.money.guards import ConfirmationRequiredError, LimitExceededError
from veo_mcp.money.ledger import ADOPT_CLOCK_SKEW_S, ADOPT_WINDOW_S, CreateLedger
from veo_mcp.storage import CreateRecord, Store

pytestmark = pytest.mark.legacy_era

REQUEST = parse_video_request({"prompt": "a heron at dawn", "duration": 8, "quality": "1080p"})
PAYLOAD = REQUEST.to_api_payload()
FINGERPRINT = guards.fingerprint(PAYLOAD)
ESTIMATE = estimate_cost(REQUEST)  # $0.96
SENT_AT = "%Y-%m-%d %H:%M:%S UTC"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every ledger rule on both engines: the SQLite file and a PostgreSQL schema of its own."""
    async with store_on(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """For what only SQLite can stage (a disk that fills up, through `PRAGMA max_page_count`)."""
    opened = await Store.open(tmp_path / "data" / "veo-mcp.sqlite3")
    try:
        yield opened
    finally:
        await opened.aclose()


def ledger_of(store: Store, tmp_path: Path, **settings: Any) -> CreateLedger:
    return CreateLedger(store, service_settings(tmp_path, **settings))


async def begin(
    ledger: CreateLedger, *, request_id: str | None = None, allow_duplicate: bool = False, prompt: str = "a heron"
) -> tuple[CreateRecord, str | None]:
    return await ledger.begin(
        request_id=request_id,
        fingerprint=FINGERPRINT,
        allow_duplicate=allow_duplicate,
        model=REQUEST.model,
        prompt=prompt,
        payload=PAYLOAD,
        estimate=ESTIMATE,
    )


def generation_for(task_id: str, prompt: str = "a heron") -> Generation:
    return Generation(task_id=task_id, model=REQUEST.model, prompt=prompt, request=PAYLOAD, simulated=True)


def answer(task_id: str) -> Callable[[SendWatch], Awaitable[Task]]:
    async def send(watch: SendWatch) -> Task:
        return Task(id=task_id, model=REQUEST.model, status="pending")

    return send


def failing(error: BaseException) -> Callable[[SendWatch], Awaitable[Task]]:
    async def send(watch: SendWatch) -> Task:
        raise error

    return send


def counting(store: Store, method: str) -> list[object]:
    """Record each call of one of `store`'s methods (still made): a test waits on what happened, not on time."""
    calls: list[object] = []
    original = getattr(store, method)

    async def counted(*args: Any) -> Any:
        calls.append(args)
        return await original(*args)

    setattr(store, method, counted)
    return calls


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110 - the ledger offers no event for this
            await anyio.sleep(0.01)


def dead_owner() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{os.uname().nodename}|{process.pid}|gone"


# --- begin: the request_id, the duplicate guard and the limits, with the record -------------------------------------


async def test_a_create_is_recorded_as_sending_before_anything_is_sent(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, earlier = await begin(ledger, request_id="heron-1")
    assert earlier is None and record.state == "sending" and record.task_id is None
    assert (record.request_id, record.fingerprint, record.payload) == ("heron-1", FINGERPRINT, PAYLOAD)
    assert record.estimate_usd == pytest.approx(0.96) and record.model == REQUEST.model
    assert await ledger.for_request("heron-1") == record
    assert await ledger.for_request(None) is None and await ledger.for_request("other") is None
    assert await ledger.unconfirmed() == [record]


async def test_the_callback_secret_is_recorded_with_the_create(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await ledger.begin(
        request_id=None,
        fingerprint=FINGERPRINT,
        allow_duplicate=False,
        model=REQUEST.model,
        prompt="a heron",
        payload=PAYLOAD,
        estimate=ESTIMATE,
        callback_hash="c" * 64,
    )
    found = await store.callback_create("c" * 64)
    assert found is not None and found.key == record.key
    assert await store.callback_create("d" * 64) is None


async def test_a_batch_total_is_checked_against_what_was_spent(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path, daily_budget_usd=2.0)
    await begin(ledger)  # $0.96 committed
    await ledger.check_batch(ESTIMATE)  # $1.92 of $2.00
    with pytest.raises(LimitExceededError, match=r"with \$0\.96 already committed today"):
        await ledger.check_batch(ESTIMATE.model_copy(update={"usd": 1.05}))


async def test_a_repeat_is_answered_by_the_earlier_create(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    first, _ = await begin(ledger, request_id="heron-1")
    by_id, why_id = await begin(ledger, request_id="heron-1", prompt="changed")
    identical, why_identical = await begin(ledger, request_id="heron-2")
    assert (by_id.key, why_id) == (first.key, "request_id")
    assert (identical.key, why_identical) == (first.key, "duplicate")
    assert await ledger.recent_duplicate(FINGERPRINT, allow_duplicate=False) == first
    assert await ledger.recent_duplicate("another request", allow_duplicate=False) is None


async def test_allow_duplicate_and_a_zero_window_record_a_new_create(store: Store, tmp_path: Path) -> None:
    first, _ = await begin(ledger_of(store, tmp_path))
    forced, why_forced = await begin(ledger_of(store, tmp_path), allow_duplicate=True)
    unguarded, why_unguarded = await begin(ledger_of(store, tmp_path, duplicate_window_s=0))
    assert why_forced is None and why_unguarded is None and len({first.key, forced.key, unguarded.key}) == 3
    assert await ledger_of(store, tmp_path).recent_duplicate(FINGERPRINT, allow_duplicate=True) is None
    assert await ledger_of(store, tmp_path, duplicate_window_s=0).recent_duplicate(FINGERPRINT, False) is None


async def test_a_window_under_a_second_still_guards(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path, duplicate_window_s=0.5, decline_window_s=0.5)
    first, _ = await begin(ledger)
    assert (await begin(ledger))[1] == "duplicate"
    assert await ledger.recent_duplicate(FINGERPRINT, False) == first
    await ledger.record_decline(FINGERPRINT)
    with pytest.raises(ConfirmationRequiredError, match="declined this exact request"):
        await ledger.check_not_declined(FINGERPRINT, ESTIMATE)


async def test_the_duplicate_window_looks_back_exactly_as_far_as_set(store: Store, tmp_path: Path) -> None:
    first, _ = await begin(ledger_of(store, tmp_path))
    await store._write("UPDATE creates SET created_at = ?", (time.time() - 100,))
    inside = ledger_of(store, tmp_path, duplicate_window_s=200)
    outside = ledger_of(store, tmp_path, duplicate_window_s=50)
    found = await inside.recent_duplicate(FINGERPRINT, False)
    assert found is not None and found.key == first.key
    assert await outside.recent_duplicate(FINGERPRINT, False) is None
    assert (await begin(outside))[1] is None


async def test_identical_creates_racing_on_one_store_record_one(store: Store, tmp_path: Path) -> None:
    """The duplicate re-check inside the write transaction: four callers that all passed the first check."""
    ledger = ledger_of(store, tmp_path)
    outcomes: list[tuple[str, str | None]] = []

    async def one() -> None:
        record, earlier = await begin(ledger)
        outcomes.append((record.key, earlier))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(one)
    assert sorted(earlier or "new" for _, earlier in outcomes) == ["duplicate", "duplicate", "duplicate", "new"]
    assert len({key for key, _ in outcomes}) == 1


async def test_the_limits_are_checked_with_the_record(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path, daily_budget_usd=1.92)
    await begin(ledger, allow_duplicate=True)
    await ledger.check_spending(ESTIMATE)  # $0.96 + $0.96 is exactly the budget
    await begin(ledger, allow_duplicate=True)
    with pytest.raises(LimitExceededError, match=r"\$1\.92 already committed today"):
        await ledger.check_spending(ESTIMATE)
    with pytest.raises(LimitExceededError, match=r"\$1\.92 already committed today"):
        await begin(ledger, allow_duplicate=True)
    assert len(await ledger.unconfirmed()) == 2  # the refused one left no record
    hourly = ledger_of(store, tmp_path, hourly_budget_usd=2.5)
    with pytest.raises(LimitExceededError, match=r"\$1\.92 committed in the last 60 minutes"):
        await hourly.check_spending(ESTIMATE)
    per_minute = ledger_of(store, tmp_path, max_creates_per_minute=2)
    with pytest.raises(LimitExceededError, match="2 generations were started in the last 60 seconds"):
        await begin(per_minute, allow_duplicate=True)


async def test_failed_and_cancelled_generations_neither_count_nor_block_a_repeat(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    for index, status in enumerate(("failed", "cancelled", "completed")):
        record, _ = await begin(ledger, allow_duplicate=True, prompt=status)
        generation = generation_for(f"task-unified-{index}-abc", prompt=status)
        generation.status = status
        await ledger.accept(record, generation)
    assert await store.committed_usd_since(0) == pytest.approx(0.96)  # only the completed one may be billed
    spending = await store.spending(guards.windows_at(time.time()))
    assert (spending.today_usd, spending.last_hour_usd, spending.creates_last_minute) == (
        pytest.approx(0.96),
        pytest.approx(0.96),
        3,
    )
    await store._write("UPDATE generations SET status = 'failed' WHERE task_id = 'task-unified-2-abc'", ())
    assert await ledger.recent_duplicate(FINGERPRINT, allow_duplicate=False) is None  # every earlier one failed


async def test_a_decline_stands_for_the_decline_window_only(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = ledger_of(store, tmp_path, decline_window_s=600)
    await ledger.check_not_declined(FINGERPRINT, ESTIMATE)
    await ledger.record_decline(FINGERPRINT)
    with pytest.raises(ConfirmationRequiredError, match="declined this exact request") as standing:
        await ledger.check_not_declined(FINGERPRINT, ESTIMATE)
    assert "about 10 more minute(s)" in standing.value.message
    await ledger.check_not_declined("another request", ESTIMATE)
    declined_at = time.time()
    monkeypatch.setattr(time, "time", lambda: declined_at + 601)
    await ledger.check_not_declined(FINGERPRINT, ESTIMATE)  # the no has lapsed


async def test_a_zero_decline_window_remembers_nothing(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path, decline_window_s=0)
    await ledger.record_decline(FINGERPRINT)
    await ledger.check_not_declined(FINGERPRINT, ESTIMATE)
    await ledger_of(store, tmp_path, decline_window_s=600).check_not_declined(FINGERPRINT, ESTIMATE)
    assert await store.declined_since(FINGERPRINT, 0) is None


# --- send: once, and an unclear outcome is never resent --------------------------------------------------------------


async def test_a_sent_create_is_accepted_with_its_task(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="heron-1")
    task = await ledger.send(record, answer("task-unified-1-abc"))
    assert await ledger.accept(record, generation_for(task.id)) is None
    accepted = await store.create_record(record.key)
    assert accepted is not None and (accepted.state, accepted.task_id) == ("accepted", "task-unified-1-abc")
    assert (await store.generation("task-unified-1-abc")) is not None
    assert await ledger.unconfirmed() == []
    again, why = await begin(ledger, request_id="heron-1")
    with anyio.fail_after(5):
        assert why == "request_id" and await ledger.settled(again, "request_id") == "task-unified-1-abc"


async def test_an_unclear_outcome_is_recorded_and_said_never_resent(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="heron-1")
    unclear = OutcomeUnknownError("EvoLink answered 502.", sent=PAYLOAD, status_code=502)
    with pytest.raises(OutcomeUnknownError) as raised:
        await ledger.send(record, failing(unclear))
    assert raised.value.message == (
        "EvoLink answered 502. veo-mcp recorded it as 'outcome unknown' (the list of generations shows it) and will "
        "not send it again by itself."
    )
    assert raised.value.sent == PAYLOAD and raised.value.status_code == 502
    assert raised.value.advice == OutcomeUnknownError.default_advice
    stored = await store.create_record(record.key)
    assert stored is not None and (stored.state, stored.message) == ("outcome_unknown", "EvoLink answered 502.")
    sent_at = time.time() - 300  # five minutes ago: the message says when it was sent, not when asked again
    await store._write("UPDATE creates SET created_at = ? WHERE key = ?", (sent_at, record.key))
    retry, why = await begin(ledger, request_id="heron-1")
    with pytest.raises(OutcomeUnknownError) as repeated:
        await ledger.settled(retry, why or "request_id")
    when = time.strftime(SENT_AT, time.gmtime(sent_at))
    assert repeated.value.message == (
        f"A call with this request_id was sent at {when} and its outcome is unknown (EvoLink answered 502.); it is "
        "not sent again, so you are not charged twice."
    )
    assert repeated.value.advice == (
        "Check your EvoLink dashboard's task list: if the task is there, use get_generation with its id; if not, "
        "call again with a new request_id."
    )
    assert repeated.value.sent == PAYLOAD
    identical, why_identical = await begin(ledger)
    with pytest.raises(OutcomeUnknownError) as duplicate:
        await ledger.settled(identical, why_identical or "duplicate")
    assert duplicate.value.message.startswith(f"An identical request was sent at {when} and its outcome is unknown")
    assert duplicate.value.advice.endswith("if not, call generate_video again with allow_duplicate: true.")


async def test_a_certain_refusal_is_forgotten_so_the_request_id_is_free(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="heron-1")
    with pytest.raises(InvalidRequestError):
        await ledger.send(record, failing(InvalidRequestError("EvoLink refused the request: bad prompt")))
    assert await store.create_record(record.key) is None
    fresh, why = await begin(ledger, request_id="heron-1")
    assert why is None and fresh.key != record.key


async def test_an_interrupted_send_is_recorded_as_unknown(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger)
    with pytest.raises(KeyboardInterrupt):
        await ledger.send(record, failing(KeyboardInterrupt()))
    stored = await store.create_record(record.key)
    assert stored is not None and stored.state == "outcome_unknown"
    assert stored.message == "The create was interrupted while being sent; EvoLink may have accepted it."
    assert [r.key for r in await ledger.unconfirmed()] == [record.key]


async def test_a_cancelled_send_is_still_recorded_as_unknown(store: Store, tmp_path: Path) -> None:
    """The call is cancelled (the client went away) while the create is in flight: the record is still written."""
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger)

    with anyio.CancelScope() as scope:

        async def send(watch: SendWatch) -> Task:
            scope.cancel()  # cancelled the moment the request is on its way (a sender that says nothing has sent)
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        await ledger.send(record, send)
    assert scope.cancelled_caught
    stored = await store.create_record(record.key)
    assert stored is not None and stored.state == "outcome_unknown"


async def test_a_send_cancelled_while_nothing_is_on_the_wire_frees_its_request_id(store: Store, tmp_path: Path) -> None:
    """Cancelled between attempts, after EvoLink's definite 429: nothing was created, so the create is forgotten and
    the same request_id sends it later (a batch item goes back to the queue) instead of 'outcome unknown'."""
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="shot-3")

    with anyio.CancelScope() as scope:

        async def send(watch: SendWatch) -> Task:
            watch.in_doubt = False  # the client: the last answer was a 429, nothing is on the wire
            scope.cancel()
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        await ledger.send(record, send)
    assert scope.cancelled_caught
    assert await store.create_record(record.key) is None and await ledger.unconfirmed() == []
    again, reused = await begin(ledger, request_id="shot-3")
    assert reused is None and again.state == "sending" and again.key != record.key


# --- a disk that cannot record the accepted create ---------------------------------------------------------------


async def refuse_writes(store: Store, refuse: bool) -> None:
    """The database takes no write (SQLite: query-only; PostgreSQL: read-only transactions, as on a standby)."""
    if store.path is not None:
        await store._run(lambda db: db.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}"))
    else:
        await store._run(lambda db: db.execute(f"SET default_transaction_read_only = {'on' if refuse else 'off'}"))


async def test_a_full_disk_after_the_accept_keeps_the_task_id(
    sqlite_store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = sqlite_store
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="heron-1")
    await store._run(disk_full)
    warning = await ledger.accept(record, generation_for("task-unified-1-abc", prompt="a storm " * 1000))
    assert warning is not None and warning.startswith(
        "Warning: EvoLink accepted task task-unified-1-abc, but veo-mcp could not record it on disk (veo-mcp could "
        "not use its database"
    )
    assert warning.endswith(" It is tracked in memory and recorded as soon as the disk allows; keep the task id.")
    linked = await store.create_record(record.key)  # the small write still fitted
    assert linked is not None and (linked.state, linked.task_id) == ("accepted", "task-unified-1-abc")
    with anyio.fail_after(5):
        assert await ledger.settled(linked, "request_id") == "task-unified-1-abc"
    (logged,) = [r for r in caplog.records if r.name == "veo_mcp.money.ledger"]
    assert logged.levelname == "ERROR" and logged.getMessage().startswith(
        "accepted task task-unified-1-abc could not be recorded: veo-mcp could not use its database"
    )


async def test_a_disk_that_takes_no_write_keeps_the_task_in_memory_until_it_does(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="heron-1")
    await refuse_writes(store, True)
    warning = await ledger.accept(record, generation_for("task-unified-1-abc"))
    assert warning is not None and "could not record it on disk" in warning
    with anyio.fail_after(5):
        assert await ledger.settled(record, "request_id") == "task-unified-1-abc"  # from memory, no wait
    attempts = counting(store, "accept_create")
    async with anyio.create_task_group() as group:
        group.start_soon(ledger.keep_recording, 0.01)
        await until(lambda: len(attempts) >= 2)  # the disk still refuses: tried again and again, kept
        still = await store.create_record(record.key)
        assert still is not None and still.state == "sending"
        await refuse_writes(store, False)
        with anyio.fail_after(10):
            while getattr(await store.create_record(record.key), "state", None) != "accepted":  # noqa: ASYNC110
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    assert (await store.generation("task-unified-1-abc")) is not None


async def test_what_evolink_reserved_is_what_the_budgets_count_even_when_recorded_late(
    store: Store, tmp_path: Path
) -> None:
    """The disk refused the accept; written later from memory, it still carries EvoLink's reservation (7 credits:
    $0.09722, kept to the hundredth of a cent the budgets add up), not the estimate."""
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger)
    generation = generation_for("task-unified-1-abc")
    generation.last_task = Task(id="task-unified-1-abc", status="pending", usage={"credits_reserved": 7})
    await refuse_writes(store, True)
    assert await ledger.accept(record, generation) is not None
    await refuse_writes(store, False)
    async with anyio.create_task_group() as group:
        group.start_soon(ledger.keep_recording, 0.01)
        with anyio.fail_after(10):
            while getattr(await store.create_record(record.key), "state", None) != "accepted":  # noqa: ASYNC110
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    spending = await store.spending(guards.windows_at(time.time()))
    assert spending.today_usd == pytest.approx(0.0972) and ESTIMATE.usd != pytest.approx(0.0972)


# --- settled: waiting for a create another call is sending ------------------------------------------------------


async def test_a_create_still_being_sent_is_waited_for_then_answered(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="heron-1")
    answered: list[str] = []

    async def waiter() -> None:
        answered.append(await ledger.settled(record, "request_id"))

    looks = counting(store, "create_record")
    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await until(lambda: len(looks) >= 2)  # it looked again while the create was being sent
        assert answered == []
        await ledger.accept(record, generation_for("task-unified-1-abc"))
    assert answered == ["task-unified-1-abc"]


async def test_a_create_sent_for_too_long_by_another_live_call_is_not_sent_twice(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path, request_timeout_s=0.1, connect_timeout_s=0.1)
    record, _ = await begin(ledger)
    started = time.monotonic()
    with anyio.fail_after(10), pytest.raises(TemporaryError) as raised:
        await ledger.settled(record, "duplicate")
    assert time.monotonic() - started >= 0.2  # it waited the request and connect timeouts (a lower bound)
    assert raised.value.message == (
        "An identical request is still being sent by another call; it will not be sent twice."
    )
    assert raised.value.advice == (
        "Call generate_video again in a few seconds with the same arguments to get its task_id."
    )


async def test_a_create_left_sending_by_a_dead_process_becomes_unknown(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger, request_id="heron-1")
    await store._write("UPDATE creates SET owner = ? WHERE key = ?", (dead_owner(), record.key))
    stale = await store.create_record(record.key)
    assert stale is not None
    with anyio.fail_after(10), pytest.raises(OutcomeUnknownError) as raised:
        await ledger.settled(stale, "request_id")
    stopped = "veo-mcp stopped while this create was being sent, so nobody knows whether EvoLink accepted it."
    assert f"its outcome is unknown ({stopped}); it is not sent again" in raised.value.message
    stored = await store.create_record(record.key)
    assert stored is not None and (stored.state, stored.message) == ("outcome_unknown", stopped)


# --- adopt: a task found by id that answers an outcome-unknown create ---------------------------------------------


async def _unknown_create(ledger: CreateLedger, store: Store, created_at: float, **kwargs: Any) -> CreateRecord:
    record, _ = await begin(ledger, allow_duplicate=True, **kwargs)
    with pytest.raises(OutcomeUnknownError):
        await ledger.send(record, failing(OutcomeUnknownError("dropped", sent=PAYLOAD)))
    await store._write("UPDATE creates SET created_at = ? WHERE key = ?", (created_at, record.key))
    return record


def upstream_task(created: float | None, model: str = REQUEST.model) -> Task:
    return Task(id="task-unified-9-found", model=model, created=None if created is None else int(created))


@pytest.mark.parametrize(
    ("offset", "adopted"),
    [
        (0.0, True),
        (ADOPT_WINDOW_S, True),  # created upstream at the end of the window
        (ADOPT_WINDOW_S + 1, False),
        (-ADOPT_CLOCK_SKEW_S, True),  # clocks a minute apart
        (-ADOPT_CLOCK_SKEW_S - 1, False),
    ],
)
async def test_a_task_found_by_id_answers_one_unknown_create_sent_just_before(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture, offset: float, adopted: bool
) -> None:
    caplog.set_level("INFO", logger="veo_mcp.money.ledger")
    ledger = ledger_of(store, tmp_path)
    sent_at = 1_700_000_000.0
    record = await _unknown_create(ledger, store, sent_at, request_id="heron-1")
    found = await ledger.adopt(upstream_task(sent_at + offset))
    assert (found is not None and found.key == record.key) is adopted
    stored = await store.create_record(record.key)
    assert stored is not None
    expected = ("accepted", "task-unified-9-found") if adopted else ("outcome_unknown", None)
    assert (stored.state, stored.task_id) == expected
    said = [r.getMessage() for r in caplog.records if r.name == "veo_mcp.money.ledger" and r.levelname == "INFO"]
    assert said == (["task task-unified-9-found answers the create sent at 1700000000.0; linked"] if adopted else [])


async def test_an_ambiguous_or_unrelated_task_is_not_adopted(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path)
    sent_at = 1_700_000_000.0
    await _unknown_create(ledger, store, sent_at, request_id="one")
    assert await ledger.adopt(upstream_task(None)) is None  # no creation time: cannot tell
    assert await ledger.adopt(upstream_task(sent_at, model="veo3.1-pro")) is None  # another model
    await _unknown_create(ledger, store, sent_at + 5, request_id="two")
    assert await ledger.adopt(upstream_task(sent_at + 10)) is None  # two candidates: cannot tell which
    assert {r.state for r in await ledger.unconfirmed()} == {"outcome_unknown"}


async def _unknown_create_of(
    ledger: CreateLedger, store: Store, asked: dict[str, Any], created_at: float
) -> CreateRecord:
    """An unknown-outcome create of `asked` (a request of its own, not the module's heron)."""
    urls = asked.get("image_urls", [])
    request = parse_video_request(asked, uploaded_image_urls=urls)
    payload = request.to_api_payload()
    record, _ = await ledger.begin(
        request_id=None,
        fingerprint=guards.fingerprint(payload),
        allow_duplicate=True,
        model=request.model,
        prompt=request.prompt,
        payload=payload,
        estimate=estimate_cost(request),
    )
    with pytest.raises(OutcomeUnknownError):
        await ledger.send(record, failing(OutcomeUnknownError("dropped", sent=payload)))
    await store._write("UPDATE creates SET created_at = ? WHERE key = ?", (created_at, record.key))
    return record


def _task_of_length(created: float, seconds: float) -> Task:
    return upstream_task(created).model_copy(update={"task_info": TaskInfo(video_duration=seconds)})


async def test_the_length_of_video_tells_same_model_creates_apart(store: Store, tmp_path: Path) -> None:
    """Two creates of one model, 8 s and 4 s, both of unknown outcome: a task of 4 s is the 4 s one's."""
    ledger = ledger_of(store, tmp_path)
    sent_at = 1_700_000_000.0
    eight = await _unknown_create(ledger, store, sent_at, request_id="eight")
    four = await _unknown_create_of(ledger, store, {"prompt": "a heron at dusk", "duration": 4}, sent_at + 1)
    found = await ledger.adopt(_task_of_length(sent_at + 5, 4))
    assert found is not None and found.key == four.key
    still = await store.create_record(eight.key)
    assert still is not None and (still.state, still.task_id) == ("outcome_unknown", None)


async def test_a_create_with_our_uploaded_images_keeps_its_length_when_matched(store: Store, tmp_path: Path) -> None:
    """An image-to-video create whose images are our own uploads (on the file service, here a loopback simulator's,
    which a user's URL could not name): its length is still known, so a task of another length is not its."""
    ledger = ledger_of(store, tmp_path)
    sent_at = 1_700_000_000.0
    uploaded = "http://127.0.0.1:8765/files/upload-1.png"
    asked = {"prompt": "the heron in this photo takes off", "duration": 8, "image_urls": [uploaded]}
    record = await _unknown_create_of(ledger, store, asked, sent_at)
    assert await ledger.adopt(_task_of_length(sent_at + 5, 4)) is None  # 4 s: not the 8 s create's
    found = await ledger.adopt(_task_of_length(sent_at + 5, 8))
    assert found is not None and found.key == record.key


async def test_a_create_sent_here_waits_for_its_own_answer_and_one_sent_elsewhere_is_joined(
    store: Store, tmp_path: Path
) -> None:
    """In flight in this process, a create is answered by its own answer (a task read by id meanwhile is not taken
    for it); one that another process is sending - it may have its answer and no way to record it (its database out
    of reach) - is joined to the task upstream made, and its sender's own answer, once it can write, agrees."""
    ledger = ledger_of(store, tmp_path)
    record, _ = await begin(ledger)
    assert await ledger.adopt(upstream_task(record.created_at)) is None
    await store._write("UPDATE creates SET owner = ? WHERE key = ?", ("another-machine|4242|token", record.key))
    found = await ledger.adopt(upstream_task(record.created_at))
    assert found is not None and (found.key, found.state, found.task_id) == (
        record.key,
        "accepted",
        "task-unified-9-found",
    )
    assert await ledger.accept(record, generation_for("task-unified-9-found")) is None
    stored = await store.create_record(record.key)
    assert stored is not None and (stored.state, stored.task_id) == ("accepted", "task-unified-9-found")


def test_the_adopt_window_is_fifteen_minutes_with_a_minute_of_skew() -> None:
    assert (ADOPT_WINDOW_S, ADOPT_CLOCK_SKEW_S) == (900.0, 60.0)


# --- principals: each person's request_ids, duplicates, spending and unknown creates are their own -----------------


async def test_each_principal_has_its_own_request_ids_duplicates_spending_and_unknown_creates(
    store: Store, tmp_path: Path
) -> None:
    ledger = ledger_of(store, tmp_path, daily_budget_usd=1.5, hourly_budget_usd=0)
    with acting_as("alice"):
        unknown = await _unknown_create(ledger, store, 1_700_000_000.0, request_id="heron-2")  # sent long ago
        alices, _ = await begin(ledger, request_id="heron-1")
        await ledger.accept(alices, generation_for("task-unified-1-alice"))
        assert (await ledger.for_request("heron-1")) is not None
        assert (await ledger.recent_duplicate(FINGERPRINT, False)) is not None
        assert [r.key for r in await ledger.unconfirmed()] == [unknown.key]
        with pytest.raises(LimitExceededError, match=r"with \$0\.96 already committed today"):  # over her $1.50
            await ledger.check_spending(ESTIMATE)
    # The same request_id, the same request and the same budget: nothing of alice's counts for bob.
    with acting_as("bob"):
        assert await ledger.for_request("heron-1") is None
        assert await ledger.recent_duplicate(FINGERPRINT, False) is None
        assert await ledger.unconfirmed() == []
        assert await ledger.adopt(upstream_task(1_700_000_000.0)) is None  # alice's unknown create is not bob's
        await ledger.check_spending(ESTIMATE)
        bobs, earlier = await begin(ledger, request_id="heron-1")
        assert earlier is None and bobs.key != alices.key and bobs.principal == "bob"
        with pytest.raises(LimitExceededError, match=r"with \$0\.96 already committed today"):  # bob's own, not alice's
            await ledger.check_batch(ESTIMATE.model_copy(update={"usd": 1.5}))
    assert alices.principal == "alice"
    with acting_as("alice"):
        assert (await ledger.adopt(upstream_task(1_700_000_000.0))) is not None


async def test_a_users_no_binds_only_that_user(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path, decline_window_s=600)
    with acting_as("alice"):
        await ledger.record_decline(FINGERPRINT)
        with pytest.raises(ConfirmationRequiredError, match="declined this exact request"):
            await ledger.check_not_declined(FINGERPRINT, ESTIMATE)
    with acting_as("bob"):
        await ledger.check_not_declined(FINGERPRINT, ESTIMATE)  # bob was never asked: his request may be asked
    await ledger.check_not_declined(FINGERPRINT, ESTIMATE)  # nor was the local user


# --- the server's budgets: every principal's creates together ------------------------------------------------------


async def test_the_server_budgets_cap_every_principal_together_even_racing_on_two_connections(
    store: Store, tmp_path: Path
) -> None:
    """Ten principals, each with budgets of their own that would admit them, race two creates each over two
    connections (two replicas' worth); the server's hourly budget admits three creates in all, and no more."""
    second = await Store.open(store.url or store.path)
    try:
        ledgers = [ledger_of(each, tmp_path, server_hourly_budget_usd=3 * 0.96) for each in (store, second)]
        admitted: list[str] = []
        refusals: list[str] = []

        async def create(index: int) -> None:
            with acting_as(f"oauth:person-{index % 10}"):
                try:
                    record, _ = await begin(ledgers[index % 2], prompt=f"take {index}", allow_duplicate=True)
                except LimitExceededError as error:
                    refusals.append(str(error))
                else:
                    admitted.append(record.principal)

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(create, index)
        assert len(admitted) == 3 and len(refusals) == 17
        assert await store.committed_usd_since(0, None) == pytest.approx(3 * 0.96)
        assert all(
            "VEO_MCP_SERVER_HOURLY_BUDGET" in text and "every user of the server shares" in text for text in refusals
        )
        assert all("Only the server's operator can raise" in text for text in refusals)
    finally:
        await second.aclose()


async def test_the_server_daily_budget_refuses_a_batch_whoever_sends_it(store: Store, tmp_path: Path) -> None:
    ledger = ledger_of(store, tmp_path, server_daily_budget_usd=2.0)
    with acting_as("alice"):
        await begin(ledger)  # $0.96 of the server's $2.00
    with acting_as("bob"):
        await ledger.check_batch(ESTIMATE)  # $1.92: still within it
        with pytest.raises(LimitExceededError, match=r"server's daily budget of \$2\.00.*VEO_MCP_SERVER_DAILY_BUDGET"):
            await ledger.check_batch(ESTIMATE.model_copy(update={"usd": 1.05}))
