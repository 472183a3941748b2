"""The store's answers that only another part of the product reads, each pinned where it is made (on SQLite and on
PostgreSQL): a retried batch without a request_id found by what it asks for, the operator's counts and committed
spend, a download claim this process holds, and the SQLite file's own edges (a lost file refused unless a new one is
asked for, an in-memory store that leaves no file, a failed marker write that names its file)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.postgres import store_on
from tests.storage.test_store import _generation
from veo_mcp.storage import SpendingWindows, Store
from veo_mcp.storage import sqlite as sqlite_store
from veo_mcp.storage.batches import BatchItemRecord, BatchRecord
from veo_mcp.storage.database import StoreError
from veo_mcp.storage.postgres import _first_line


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with store_on(request.param, tmp_path) as opened:
        yield opened


def _batch(
    batch_id: str, created_at: float, fingerprint: str = "fp-kites"
) -> tuple[BatchRecord, list[BatchItemRecord]]:
    record = BatchRecord(
        batch_id=batch_id,
        request_id=None,
        fingerprint=fingerprint,
        label="kites",
        estimate_usd=0.4,
        created_at=created_at,
        updated_at=created_at,
        principal="alice",
    )
    item = BatchItemRecord(
        batch_id=batch_id,
        principal="alice",
        position=0,
        arguments={},
        payload={},
        notes=[],
        request_id=f"{batch_id}:0",
        estimate_usd=0.4,
        duration=4,
    )
    return record, [item]


async def test_a_retried_batch_without_a_request_id_is_found_by_its_requests_while_it_is_recent(store: Store) -> None:
    now = time.time()
    first, first_items = _batch("batch-first", now - 30)
    stored, _, reused = await store.add_batch(first, first_items, same_since=now - 60)
    assert (stored.batch_id, reused) == ("batch-first", False)

    retried, retried_items = _batch("batch-retried", now)
    found, items, reused = await store.add_batch(retried, retried_items, same_since=now - 60)
    assert (found.batch_id, reused, [item.batch_id for item in items]) == ("batch-first", True, ["batch-first"])
    recent = await store.recent_batch("fp-kites", now - 60, "alice")
    assert recent is not None and recent.batch_id == "batch-first"

    # Made before the window: not the same call retried, a new batch. Other requests or another user: never.
    assert await store.recent_batch("fp-kites", now - 10, "alice") is None
    assert await store.recent_batch("fp-other", now - 60, "alice") is None
    assert await store.recent_batch("fp-kites", now - 60, "bob") is None
    later, later_items = _batch("batch-later", now)
    stored, _, reused = await store.add_batch(later, later_items, same_since=now - 10)
    assert (stored.batch_id, reused) == ("batch-later", False)

    # A cancelled batch answers no retry.
    await store.cancel_batch("batch-first", "alice", "cancelled by its owner")
    await store.cancel_batch("batch-later", "alice", "cancelled by its owner")
    again, again_items = _batch("batch-again", now)
    stored, _, reused = await store.add_batch(again, again_items, same_since=now - 60)
    assert (stored.batch_id, reused) == ("batch-again", False)


async def test_generations_are_counted_by_status(store: Store) -> None:
    assert await store.status_counts() == {}
    await store.save_generation(_generation("task-a", status="completed"))
    await store.save_generation(_generation("task-b", status="completed"))
    await store.save_generation(_generation("task-c", status="failed"))
    assert await store.status_counts() == {"completed": 2, "failed": 1}


async def test_committed_spend_is_summed_per_principal_without_failed_generations(store: Store) -> None:
    async def create(request_id: str, principal: str, usd: float) -> str:
        record, _ = await store.begin_create(
            request_id=request_id,
            fingerprint=f"fp-{request_id}",
            duplicate_since=None,
            model="veo-3.1-fast-generate-preview",
            prompt="p",
            payload={"prompt": "p"},
            estimate_usd=usd,
            windows=SpendingWindows(day=0, hour=0, minute=0),
            check=lambda spending: None,
            principal=principal,
        )
        return record.key

    await create("a-1", "alice", 0.5)
    await create("a-2", "alice", 0.25)
    failed = await create("a-3", "alice", 4.0)
    await create("b-1", "bob", 1.5)
    await store._write("UPDATE creates SET task_id = ? WHERE key = ?", ("task-failed", failed))
    await store.save_generation(_generation("task-failed", status="failed"))
    assert await store.committed_usd_by_principal() == {"alice": 0.75, "bob": 1.5}


async def test_a_download_claim_this_process_holds_is_claimed(store: Store) -> None:
    await store.save_generation(_generation())
    assert await store.download_claimed("task-unified-1-abc", lease_s=60) is False
    claim = await store.claim_download("task-unified-1-abc", lease_s=60)
    assert claim.ours
    # Even once its lease would have run out: the claim is this process's own until it releases it.
    await store._write("UPDATE generations SET download_claimed_at = ?", (time.time() - 3600,))
    assert await store.download_claimed("task-unified-1-abc", lease_s=60) is True
    await store.release_download("task-unified-1-abc")
    assert await store.download_claimed("task-unified-1-abc", lease_s=60) is False


async def test_a_lost_sqlite_file_is_refused_unless_a_new_one_is_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "veo-mcp.sqlite3"
    sqlite_store.connect(path).close()
    path.unlink()
    with pytest.raises(StoreError, match="is missing"):
        sqlite_store.connect(path)  # no new database unless asked: the default
    sqlite_store.connect(path, new=True).close()
    assert path.exists()


def test_an_in_memory_store_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = sqlite_store.connect(None)
    db.execute("SELECT 1").fetchone()
    db.close()
    assert list(tmp_path.iterdir()) == []


def test_a_marker_that_cannot_be_written_is_named_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "veo-mcp.sqlite3"

    def refused(_: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sqlite_store, "replaced_atomically", refused)
    caplog.set_level(logging.WARNING, logger="veo_mcp")
    sqlite_store.connect(path).close()
    assert caplog.messages == [f"cannot write {sqlite_store.marker_of(path)}: [Errno 13] Permission denied"]


def test_a_postgres_error_is_shown_by_its_first_line_or_its_kind() -> None:
    assert _first_line(ValueError("permission denied for schema veo\nLINE 1: CREATE TABLE ...\n  ^")) == (
        "permission denied for schema veo"
    )
    assert _first_line(ValueError("  \n ")) == "ValueError"


async def test_a_closing_store_folds_its_log_into_the_file_even_while_another_process_reads_it(tmp_path: Path) -> None:
    """SQLite keeps writes in a write-ahead log beside the file. A stopped server folds it in (and empties it) even
    when another process still has the file open, which would otherwise leave the log to grow with every start."""
    path = tmp_path / "veo-mcp.sqlite3"
    reader = await Store.open(path, new=True)
    writer = await Store.open(path)
    await writer.save_generation(_generation("task-unified-1-abc"))
    log = path.with_name(path.name + "-wal")
    assert log.stat().st_size > 0  # the control: the write is in the log
    await writer.aclose()
    assert log.stat().st_size == 0
    assert [g.task_id for g in await reader.generations()] == ["task-unified-1-abc"]
    await reader.aclose()


async def test_who_owns_a_generation_and_an_mcp_task_survives_a_restart(store: Store) -> None:
    """Read back after a restart, Alice's generation and MCP task are still hers: not the local user's, whom every
    other user's work would then be shown (and billed) to."""
    from veo_mcp.storage.mcp_tasks import McpTaskRecord

    await store.save_generation(_generation("task-unified-1-alice", owner="alice"))
    record = McpTaskRecord(
        task_id="mcp-task-1",
        generation_task_id="task-unified-1-alice",
        tool="generate_video",
        call_result={},
        created_at=time.time(),
        ttl_ms=60_000,
        principal="alice",
    )
    await store.save_mcp_task(record)
    generation = await store.generation("task-unified-1-alice")
    task = await store.mcp_task("mcp-task-1")
    assert generation is not None and generation.owner == "alice"
    assert task is not None and task.principal == "alice"
