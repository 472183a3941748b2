"""Claims between replicas: a process on another machine holds its claims while its heartbeat is fresh, loses them
`LAPSE_S` after its last one (or at once when it stopped cleanly), and keeps them when it never heartbeats at all
(SQLite on a shared folder: nothing can tell). Both engines; times are written into the table, not waited for."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.postgres import store_on
from veo_mcp.storage import SpendingWindows, Store
from veo_mcp.storage.owners import LAPSE_S, process_owner

OTHER = "another-machine|4242|token"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_on(request.param, tmp_path) as opened:
        yield opened


async def _held_by_other(store: Store, task_id: str, seen_at: float | None) -> None:
    await store._write(
        "INSERT INTO poll_claims (task_id, owner, claimed_at) VALUES (?, ?, ?)", (task_id, OTHER, time.time())
    )
    if seen_at is not None:
        await store._write("INSERT INTO processes (owner, seen_at) VALUES (?, ?)", (OTHER, seen_at))


async def test_a_claim_holds_while_its_holder_beats_and_lapses_after(store: Store) -> None:
    await _held_by_other(store, "task-1", seen_at=time.time())
    assert await store.claim_poll("task-1") is False
    assert await store.owner_alive(OTHER) is True
    await store._write("UPDATE processes SET seen_at = ? WHERE owner = ?", (time.time() - LAPSE_S - 1, OTHER))
    assert await store.owner_alive(OTHER) is False
    assert await store.claim_poll("task-1") is True
    assert await store.poll_claims() == {"task-1": process_owner()}
    assert await store.claim_poll("task-1") is True  # held: asked again, still ours


async def test_a_holder_that_never_beats_keeps_its_claim(store: Store) -> None:
    await _held_by_other(store, "task-1", seen_at=None)
    assert await store.claim_poll("task-1") is False
    assert await store.poll_claims() == {"task-1": OTHER}


async def test_a_cleanly_stopped_replica_lets_go_at_once(store: Store) -> None:
    await store.heartbeat()
    mine = process_owner()
    assert await store.owner_alive(mine) is True
    await _held_by_other(store, "task-1", seen_at=time.time())
    await store._write("UPDATE processes SET seen_at = ? WHERE owner = ?", (time.time(), OTHER))
    assert await store.claim_poll("task-1") is False
    await store._write("UPDATE processes SET seen_at = 0 WHERE owner = ?", (OTHER,))  # what `stopped()` writes
    assert await store.claim_poll("task-1") is True
    await store.stopped()
    rows = await store._rows("SELECT seen_at FROM processes WHERE owner = ?", (mine,))
    assert [float(row[0]) for row in rows] == [0.0]


async def test_a_download_claim_stands_while_its_lease_lives_even_if_its_replica_went_quiet(store: Store) -> None:
    """A replica whose heartbeat lapsed may only be paused: its download stays its own until its lease (renewed
    while it downloads) runs out, and the claim says so; a replica that stopped cleanly loses it at once."""
    from tests.storage.test_store import _generation

    await store.save_generation(_generation())
    await store._write("UPDATE generations SET download_owner = ?, download_claimed_at = ?", (OTHER, time.time()))
    await store._write("INSERT INTO processes (owner, seen_at) VALUES (?, ?)", (OTHER, time.time()))
    live = await store.claim_download("task-unified-1-abc", lease_s=60)
    await store._write("UPDATE processes SET seen_at = ? WHERE owner = ?", (time.time() - LAPSE_S - 1, OTHER))
    quiet = await store.claim_download("task-unified-1-abc", lease_s=60)
    still_held = await store.download_claimed("task-unified-1-abc", lease_s=60)
    await store._write("UPDATE generations SET download_claimed_at = ?", (time.time() - 61,))
    lapsed = await store.claim_download("task-unified-1-abc", lease_s=60)
    await store._write("UPDATE generations SET download_owner = ?, download_claimed_at = ?", (OTHER, time.time()))
    await store._write("UPDATE processes SET seen_at = 0 WHERE owner = ?", (OTHER,))
    stopped = await store.claim_download("task-unified-1-abc", lease_s=60)
    assert (live.ours, live.holder_quiet) == (False, False)
    assert (quiet.ours, quiet.holder_quiet, still_held) == (False, True, True) and 55 < quiet.lease_left_s <= 60
    assert lapsed.ours and stopped.ours


async def test_a_create_left_sending_by_a_lapsed_replica_becomes_unknown_and_a_live_ones_is_left(store: Store) -> None:
    """Replica A was SIGKILLed while sending a create: once its heartbeat lapses, B records the outcome as unknown
    (never resent). While A still beats, its create is A's business."""
    common = {"fingerprint": "f", "model": "m", "prompt": "p", "payload": {"prompt": "p"}, "estimate_usd": 0.5}
    record, _ = await store.begin_create(
        request_id="from-a",
        duplicate_since=None,
        windows=SpendingWindows(day=0, hour=0, minute=0),
        check=lambda spending: None,
        **common,  # type: ignore[arg-type]
    )
    await store._write("UPDATE creates SET owner = ? WHERE key = ?", (OTHER, record.key))
    await store._write("INSERT INTO processes (owner, seen_at) VALUES (?, ?)", (OTHER, time.time()))
    assert await store.recover_interrupted_creates() == []
    await store._write("UPDATE processes SET seen_at = ? WHERE owner = ?", (time.time() - LAPSE_S - 1, OTHER))
    recovered = await store.recover_interrupted_creates()
    assert [(r.key, r.state) for r in recovered] == [(record.key, "outcome_unknown")]
