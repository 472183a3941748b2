"""The `batches` and `batch_items` tables: a batch is durable, so its queue survives restarts.

A batch row holds what identifies it (its id, the caller's `request_id`, a fingerprint of all its requests) and which
process runs its queue (`owner`, a claim like the download claim). Each item row holds the request to send, the
`request_id` derived for it (the create ledger makes a retried item free) and what became of it: `queued` (not sent
yet), `sending`, `created` (with its task id), `refused` (a rule or EvoLink said no; nothing billed),
`outcome_unknown` (never resent) or `cancelled` (never sent).
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.storage.database import Connection, Database, Row, transaction
from veo_mcp.storage.owners import alive_in, process_owner

ItemState = Literal["queued", "sending", "created", "refused", "outcome_unknown", "cancelled"]
UNSENT_STATES: tuple[ItemState, ...] = ("queued", "sending")


class BatchRecord(BaseModel):
    batch_id: str
    request_id: str | None
    fingerprint: str
    label: str
    estimate_usd: float | None
    allow_duplicate: bool = False
    owner: str | None = None
    created_at: float
    updated_at: float
    cancelled_at: float | None = None
    principal: str = LOCAL_PRINCIPAL  # whose batch it is (`veo_mcp.context`)


class BatchItemRecord(BaseModel):
    batch_id: str
    principal: str = LOCAL_PRINCIPAL  # whose batch it is an item of: with batch_id, the batch's key
    position: int
    arguments: dict[str, Any]
    payload: dict[str, Any]
    notes: list[str]
    request_id: str
    estimate_usd: float | None
    duration: int
    state: ItemState = "queued"
    task_id: str | None = None
    message: str | None = None
    reused: bool = False
    updated_at: float = 0.0


def _batch_from_row(row: Row) -> BatchRecord:
    return BatchRecord.model_validate({**dict(row), "allow_duplicate": bool(row["allow_duplicate"])})


def _item_from_row(row: Row) -> BatchItemRecord:
    values = dict(row)
    values["arguments"] = json.loads(values.pop("arguments_json"))
    values["payload"] = json.loads(values.pop("payload_json"))
    values["notes"] = json.loads(values.pop("notes_json"))
    values["reused"] = bool(values["reused"])
    return BatchItemRecord.model_validate(values)


def _items(db: Connection, batch_id: str, principal: str) -> list[BatchItemRecord]:
    rows = db.execute(
        "SELECT * FROM batch_items WHERE principal = ? AND batch_id = ? ORDER BY position", (principal, batch_id)
    ).fetchall()
    return [_item_from_row(row) for row in rows]


def _batch_row(db: Connection, batch_id: str, principal: str) -> Row | None:
    row: Row | None = db.execute(
        "SELECT * FROM batches WHERE principal = ? AND batch_id = ?", (principal, batch_id)
    ).fetchone()
    return row


def _insert(db: Connection, batch: BatchRecord, items: list[BatchItemRecord]) -> None:
    db.execute(
        "INSERT INTO batches (batch_id, request_id, fingerprint, label, estimate_usd, allow_duplicate, owner, "
        "created_at, updated_at, principal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            batch.batch_id,
            batch.request_id,
            batch.fingerprint,
            batch.label,
            batch.estimate_usd,
            int(batch.allow_duplicate),
            batch.owner,
            batch.created_at,
            batch.updated_at,
            batch.principal,
        ),
    )
    db.executemany(
        "INSERT INTO batch_items (principal, batch_id, position, arguments_json, payload_json, notes_json, "
        "request_id, estimate_usd, duration, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                batch.principal,
                batch.batch_id,
                item.position,
                json.dumps(item.arguments),
                json.dumps(item.payload),
                json.dumps(item.notes),
                item.request_id,
                item.estimate_usd,
                item.duration,
                item.state,
                batch.created_at,
            )
            for item in items
        ],
    )


class BatchTable(Database):
    async def add_batch(
        self, batch: BatchRecord, items: list[BatchItemRecord], *, same_since: float | None
    ) -> tuple[BatchRecord, list[BatchItemRecord], bool]:
        """Record a new batch, owned by this process; or the batch that already answers it, and True.

        An earlier batch of the same principal answers when it has the same id (the same `request_id` and requests),
        or - when `same_since` is given - the same fingerprint and was made since then (a retried call without a
        request_id). Another principal's batch never does, whatever its id.
        """

        def work(db: Connection) -> tuple[BatchRecord, list[BatchItemRecord], bool]:
            with transaction(db):
                row = _batch_row(db, batch.batch_id, batch.principal)
                if row is None and same_since is not None:
                    row = db.execute(
                        "SELECT * FROM batches WHERE principal = ? AND fingerprint = ? AND created_at >= ? "
                        "AND cancelled_at IS NULL ORDER BY created_at DESC LIMIT 1",
                        (batch.principal, batch.fingerprint, same_since),
                    ).fetchone()
                if row is not None:
                    earlier = _batch_from_row(row)
                    return earlier, _items(db, earlier.batch_id, earlier.principal), True
                stored = batch.model_copy(update={"owner": process_owner()})
                _insert(db, stored, items)
                return stored, _items(db, batch.batch_id, batch.principal), False

        return await self._run(work)

    async def recent_batch(
        self, fingerprint: str, since: float, principal: str = LOCAL_PRINCIPAL
    ) -> BatchRecord | None:
        """`principal`'s newest batch of the same requests made since `since` (not cancelled)."""
        rows = await self._rows(
            "SELECT * FROM batches WHERE principal = ? AND fingerprint = ? AND created_at >= ? "
            "AND cancelled_at IS NULL ORDER BY created_at DESC LIMIT 1",
            (principal, fingerprint, since),
        )
        return _batch_from_row(rows[0]) if rows else None

    async def batch(self, batch_id: str, principal: str) -> tuple[BatchRecord, list[BatchItemRecord]] | None:
        """`principal`'s batch `batch_id` and its items; None when `principal` has no such batch."""

        def work(db: Connection) -> tuple[BatchRecord, list[BatchItemRecord]] | None:
            row = _batch_row(db, batch_id, principal)
            return None if row is None else (_batch_from_row(row), _items(db, batch_id, principal))

        return await self._run(work)

    async def batches_with_unsent_items(self) -> list[tuple[str, str]]:
        """(principal, batch_id) of the batches (oldest first) that still have items to send and were not cancelled."""
        rows = await self._rows(
            "SELECT DISTINCT b.principal, b.batch_id, b.created_at FROM batches b JOIN batch_items i "
            "ON i.principal = b.principal AND i.batch_id = b.batch_id "
            "WHERE b.cancelled_at IS NULL AND i.state IN ('queued', 'sending') ORDER BY b.created_at"
        )
        return [(row["principal"], row["batch_id"]) for row in rows]

    async def claim_batch(self, batch_id: str, principal: str) -> bool:
        """Take the right to run the queue of `principal`'s `batch_id`; False while another live process runs it."""
        owner = process_owner()

        def work(db: Connection) -> bool:
            with transaction(db):
                row = _batch_row(db, batch_id, principal)
                if row is None:
                    return False
                holder = row["owner"]
                if holder is not None and holder != owner and alive_in(db, holder):
                    return False
                db.execute(
                    "UPDATE batches SET owner = ? WHERE principal = ? AND batch_id = ?", (owner, principal, batch_id)
                )
                return True

        return await self._run(work)

    async def update_batch_item(self, item: BatchItemRecord) -> None:
        now = time.time()

        def work(db: Connection) -> None:
            with transaction(db):
                db.execute(
                    "UPDATE batch_items SET state = ?, task_id = ?, message = ?, reused = ?, updated_at = ? "
                    "WHERE principal = ? AND batch_id = ? AND position = ?",
                    (
                        item.state,
                        item.task_id,
                        item.message,
                        int(item.reused),
                        now,
                        item.principal,
                        item.batch_id,
                        item.position,
                    ),
                )
                db.execute(
                    "UPDATE batches SET updated_at = ? WHERE principal = ? AND batch_id = ?",
                    (now, item.principal, item.batch_id),
                )

        await self._run(work)

    async def cancel_batch(self, batch_id: str, principal: str, message: str) -> None:
        """Nothing more is sent: `principal`'s batch is marked cancelled and its unsent items with it."""
        now = time.time()

        def work(db: Connection) -> None:
            with transaction(db):
                db.execute(
                    "UPDATE batches SET cancelled_at = ?, updated_at = ? "
                    "WHERE principal = ? AND batch_id = ? AND cancelled_at IS NULL",
                    (now, now, principal, batch_id),
                )
                db.execute(
                    "UPDATE batch_items SET state = 'cancelled', message = ?, updated_at = ? "
                    "WHERE principal = ? AND batch_id = ? AND state = 'queued'",
                    (message, now, principal, batch_id),
                )

        await self._run(work)

    async def batch_task_ids(self, batch_id: str, principal: str) -> list[str]:
        """The task ids `principal`'s batch's items created, in item order."""
        rows = await self._rows(
            "SELECT task_id FROM batch_items WHERE principal = ? AND batch_id = ? AND task_id IS NOT NULL "
            "ORDER BY position",
            (principal, batch_id),
        )
        return [row["task_id"] for row in rows]
