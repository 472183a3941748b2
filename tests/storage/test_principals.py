"""Every row belongs to a principal: a store written before principals existed keeps working (its rows become the
local user's), and request_ids, duplicates, spending, MCP tasks and batches are each principal's own."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.storage import MIGRATIONS, SCHEMA_VERSION, McpTaskRecord, SpendingWindows, Store

WINDOWS = SpendingWindows(day=0, hour=0, minute=0)
OPEN: dict[str, Any] = {"duplicate_since": 0.0, "windows": WINDOWS, "check": lambda spending: None}


def _old_store(path: Path) -> None:
    """A database as the release before principals wrote it (schema 5), with a row in every table."""
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:5]:
        db.executescript(migration)
    db.execute("PRAGMA user_version = 5")
    now = time.time()
    db.execute(
        "INSERT INTO generations (task_id, request_id, fingerprint, model, prompt, request_json, simulated, "
        "status, progress, result_urls_json, notes_json, files_json, created_at, updated_at) "
        "VALUES ('task-unified-1-old', 'old-1', 'fp-old', 'veo3.1-fast', 'an old heron', '{}', 1, 'completed', 100, "
        "'[]', '[]', '[]', ?, ?)",
        (now, now),
    )
    db.execute(
        "INSERT INTO creates (key, request_id, fingerprint, state, task_id, model, prompt, payload_json, "
        "estimate_usd, owner, created_at, updated_at) VALUES ('k-old', 'old-1', 'fp-old', 'accepted', "
        "'task-unified-1-old', 'veo3.1-fast', 'an old heron', '{}', 0.48, 'pid:1', ?, ?)",
        (now, now),
    )
    db.execute(
        "INSERT INTO mcp_tasks (task_id, generation_task_id, tool, call_result_json, created_at, ttl_ms) "
        "VALUES ('mcp-old', 'task-unified-1-old', 'generate_video', ?, ?, 3600000)",
        (json.dumps({"task_id": "task-unified-1-old"}), now),
    )
    db.execute(
        "INSERT INTO batches (batch_id, request_id, fingerprint, label, created_at, updated_at) "
        "VALUES ('batch-old', 'b-1', 'fp-batch', 'two shots', ?, ?)",
        (now, now),
    )
    db.execute(
        "INSERT INTO batch_items (batch_id, position, arguments_json, payload_json, notes_json, request_id, duration, "
        "state, task_id, updated_at) VALUES ('batch-old', 0, '{}', '{}', '[]', 'b-1:x:0', 4, 'created', "
        "'task-unified-1-old', ?)",
        (now,),
    )
    db.commit()
    db.close()


async def test_a_store_from_before_principals_keeps_working_as_the_local_users(tmp_path: Path) -> None:
    path = tmp_path / "veo-mcp.sqlite3"
    _old_store(path)
    store = await Store.open(path)
    try:
        old = await store.generation("task-unified-1-old")
        assert old is not None and old.owner == LOCAL_PRINCIPAL and old.prompt == "an old heron"
        record = await store.create_for_request("old-1")
        assert record is not None and record.principal == LOCAL_PRINCIPAL and record.task_id == "task-unified-1-old"
        assert await store.create_for_request("old-1", "alice") is None
        assert (await store.spending(WINDOWS)).today_usd == 0.48
        assert (await store.spending(WINDOWS, "alice")).today_usd == 0.0
        tasks, total = await store.mcp_tasks(0, 10)
        assert total == 1 and tasks[0].principal == LOCAL_PRINCIPAL
        assert await store.mcp_tasks(0, 10, "alice") == ([], 0)
        batch = await store.batch("batch-old", LOCAL_PRINCIPAL)
        assert batch is not None and batch[0].principal == LOCAL_PRINCIPAL
        assert [(i.principal, i.task_id) for i in batch[1]] == [(LOCAL_PRINCIPAL, "task-unified-1-old")]
        assert await store.batch("batch-old", "alice") is None
        # The old request_id is the local user's alone: Alice's call with it is a create of her own.
        mine, earlier = await store.begin_create(
            request_id="old-1",
            fingerprint="fp-old",
            model="veo3.1-fast",
            prompt="alice's heron",
            payload={},
            estimate_usd=0.48,
            principal="alice",
            **OPEN,
        )
        assert earlier is None and mine.principal == "alice" and mine.key != "k-old"
        again, earlier = await store.begin_create(
            request_id="old-1", fingerprint="x", model="m", prompt="p", payload={}, estimate_usd=0.48, **OPEN
        )
        assert earlier == "request_id" and again.key == "k-old"  # the local user's own earlier create
    finally:
        await store.aclose()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_duplicates_and_spending_are_each_principals_own(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "veo-mcp.sqlite3")
    try:
        values: dict[str, Any] = {"model": "veo3.1-fast", "prompt": "p", "payload": {}, "estimate_usd": 1.0}
        first, _ = await store.begin_create(request_id=None, fingerprint="same", principal="alice", **values, **OPEN)
        bobs, earlier = await store.begin_create(request_id=None, fingerprint="same", principal="bob", **values, **OPEN)
        assert earlier is None and bobs.key != first.key  # Alice's identical request is no duplicate of Bob's
        again, earlier = await store.begin_create(
            request_id=None, fingerprint="same", principal="alice", **values, **OPEN
        )
        assert earlier == "duplicate" and again.key == first.key
        assert (await store.spending(WINDOWS, "alice")).today_usd == 1.0
        assert (await store.spending(WINDOWS, "alice")).creates_last_minute == 1
        assert (await store.spending(WINDOWS, LOCAL_PRINCIPAL)).today_usd == 0.0
        assert [r.key for r in await store.unconfirmed_creates("bob")] == [bobs.key]
        assert len(await store.unconfirmed_creates()) == 2
        now = time.time()
        task = McpTaskRecord(
            task_id="t-1", generation_task_id="g", tool="generate_video", call_result={}, created_at=now, ttl_ms=60_000
        )
        await store.save_mcp_task(task.model_copy(update={"principal": "alice"}))
        assert (await store.mcp_task("t-1")) is not None and (await store.mcp_tasks(0, 5, "alice"))[1] == 1
        assert (await store.mcp_tasks(0, 5, "bob"))[1] == 0
    finally:
        await store.aclose()
