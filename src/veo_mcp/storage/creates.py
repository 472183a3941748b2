"""The `creates` table carries the money-safety rules.

A row is written *before* a create is sent ("sending"), becomes "accepted" with the task id in the same transaction
that stores the generation, or "outcome_unknown" when nobody can tell whether EvoLink took it. A row left "sending"
by a process that died is turned into "outcome_unknown" on the next start; nothing resends it. The client's
`request_id` is unique here, which is what makes a retried tool call free.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.core.generation import Generation
from veo_mcp.storage.database import Connection, Database, Row, transaction
from veo_mcp.storage.generations import UPSERT_GENERATION, generation_values
from veo_mcp.storage.owners import alive_in, process_owner

CreateState = Literal["sending", "accepted", "outcome_unknown"]
# Why `begin_create` recorded nothing new: the request_id was used before, or an identical request is recent.
Earlier = Literal["request_id", "duplicate"]


class SpendingWindows(BaseModel):
    """Where each spending window starts (timestamps)."""

    day: float
    hour: float
    minute: float


class Spending(BaseModel):
    """What the creates recorded so far commit, per window: read inside the create's own write transaction."""

    today_usd: float
    last_hour_usd: float
    creates_last_minute: int
    # Every principal's together: the server-wide budgets cap the one EvoLink key all of them share.
    server_today_usd: float = 0.0
    server_last_hour_usd: float = 0.0


class CreateRecord(BaseModel):
    """One create we attempted: what was asked, and whether EvoLink took it."""

    key: str
    request_id: str | None
    fingerprint: str
    state: CreateState
    task_id: str | None
    model: str
    prompt: str
    payload: dict[str, Any]
    estimate_usd: float | None
    message: str | None
    owner: str
    created_at: float
    updated_at: float
    principal: str = LOCAL_PRINCIPAL


def _create_from_row(row: Row) -> CreateRecord:
    return CreateRecord(
        key=row["key"],
        request_id=row["request_id"],
        fingerprint=row["fingerprint"],
        state=row["state"],
        task_id=row["task_id"],
        model=row["model"],
        prompt=row["prompt"],
        payload=json.loads(row["payload_json"]),
        estimate_usd=row["estimate_usd"],
        message=row["message"],
        owner=row["owner"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        principal=row["principal"],
    )


class CreateTable(Database):
    async def begin_create(
        self,
        *,
        request_id: str | None,
        fingerprint: str,
        duplicate_since: float | None,
        model: str,
        prompt: str,
        payload: dict[str, Any],
        estimate_usd: float | None,
        windows: SpendingWindows,
        check: Callable[[Spending], None],
        callback_hash: str | None = None,
        principal: str = LOCAL_PRINCIPAL,
    ) -> tuple[CreateRecord, Earlier | None]:
        """Record a create about to be sent, or return the earlier create that answers it (and why).

        Everything that decides whether money is spent happens inside one `BEGIN IMMEDIATE` transaction, so it
        holds across every process sharing the database: the `request_id` lookup, the duplicate guard (an
        identical request since `duplicate_since`), and `check`, which sees the spending windows and may raise.
        All of it is `principal`'s own: their request_ids, their recent requests, their spending.
        """
        now = time.time()
        key = uuid.uuid4().hex
        owner = process_owner()

        def work(db: Connection) -> tuple[CreateRecord, Earlier | None]:
            with transaction(db):
                if request_id is not None:
                    row = db.execute(
                        "SELECT * FROM creates WHERE principal = ? AND request_id = ?", (principal, request_id)
                    ).fetchone()
                    if row is not None:
                        return _create_from_row(row), "request_id"
                duplicate = None if duplicate_since is None else _duplicate(db, principal, fingerprint, duplicate_since)
                if duplicate is not None:
                    return _create_from_row(duplicate), "duplicate"
                check(_spending(db, principal, windows))
                db.execute(
                    "INSERT INTO creates (key, request_id, fingerprint, state, model, prompt, payload_json, "
                    "estimate_usd, owner, created_at, updated_at, callback_hash, principal) "
                    "VALUES (?, ?, ?, 'sending', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        request_id,
                        fingerprint,
                        model,
                        prompt,
                        json.dumps(payload),
                        estimate_usd,
                        owner,
                        now,
                        now,
                        callback_hash,
                        principal,
                    ),
                )
                row = db.execute("SELECT * FROM creates WHERE key = ?", (key,)).fetchone()
                return _create_from_row(row), None

        return await self._run(work)

    async def spending(self, windows: SpendingWindows, principal: str = LOCAL_PRINCIPAL) -> Spending:
        return await self._run(lambda db: _spending(db, principal, windows))

    async def accept_create(self, key: str, generation: Generation, reserved_usd: float | None = None) -> None:
        """The create was accepted: store the generation and link it, in one transaction, with what EvoLink reserved
        for it when it said (the budgets count that from now on)."""
        values = generation_values(generation)

        def work(db: Connection) -> None:
            with transaction(db):
                db.execute(UPSERT_GENERATION, values)
                db.execute(
                    "UPDATE creates SET state = 'accepted', task_id = ?, message = NULL, updated_at = ?, "
                    "reserved_usd = COALESCE(?, reserved_usd) WHERE key = ?",
                    (generation.task_id, time.time(), reserved_usd, key),
                )

        await self._run(work)

    async def link_create(self, key: str, task_id: str) -> None:
        """The smallest write that records an accepted create's task id (when the full record could not be written)."""
        await self._write(
            "UPDATE creates SET state = 'accepted', task_id = ?, message = NULL, updated_at = ? WHERE key = ?",
            (task_id, time.time(), key),
        )

    async def mark_create_unknown(self, key: str, message: str) -> None:
        await self._write(
            "UPDATE creates SET state = 'outcome_unknown', message = ?, updated_at = ? WHERE key = ?",
            (message, time.time(), key),
        )

    async def forget_create(self, key: str) -> None:
        """EvoLink certainly refused the create (nothing billed): free its request_id for a later try."""
        await self._write("DELETE FROM creates WHERE key = ? AND state = 'sending'", (key,))

    async def create_for_request(self, request_id: str, principal: str = LOCAL_PRINCIPAL) -> CreateRecord | None:
        rows = await self._rows("SELECT * FROM creates WHERE principal = ? AND request_id = ?", (principal, request_id))
        return _create_from_row(rows[0]) if rows else None

    async def create_record(self, key: str) -> CreateRecord | None:
        rows = await self._rows("SELECT * FROM creates WHERE key = ?", (key,))
        return _create_from_row(rows[0]) if rows else None

    async def recover_interrupted_creates(self) -> list[CreateRecord]:
        """Creates left 'sending' by a process that is gone: their outcome is unknown; never resend them."""
        message = "veo-mcp stopped while this create was being sent, so nobody knows whether EvoLink accepted it."

        def work(db: Connection) -> list[CreateRecord]:
            with transaction(db):
                rows = db.execute("SELECT * FROM creates WHERE state = 'sending'").fetchall()
                stale = [_create_from_row(row) for row in rows if not alive_in(db, row["owner"])]
                for record in stale:
                    db.execute(
                        "UPDATE creates SET state = 'outcome_unknown', message = ?, updated_at = ? WHERE key = ?",
                        (message, time.time(), record.key),
                    )
            return [record.model_copy(update={"state": "outcome_unknown", "message": message}) for record in stale]

        return await self._run(work)

    async def recent_duplicate(
        self, fingerprint: str, since: float, principal: str = LOCAL_PRINCIPAL
    ) -> CreateRecord | None:
        """The newest create of the same request since `since` that may still give (or has given) a video."""
        row = await self._run(lambda db: _duplicate(db, principal, fingerprint, since))
        return None if row is None else _create_from_row(row)

    async def committed_usd_since(self, since: float, principal: str | None = LOCAL_PRINCIPAL) -> float:
        """Estimated spend of `principal`'s creates (everyone's: None) since `since` that may be billed (failed
        generations are not)."""
        return await self._run(lambda db: _committed_since(db, principal, since))

    async def committed_usd_by_principal(self) -> dict[str, float]:
        """Estimated spend that may be billed, per principal, since the beginning (the operator's metrics)."""
        rows = await self._rows(
            "SELECT c.principal, COALESCE(SUM(c.estimate_usd), 0) FROM creates c "
            "LEFT JOIN generations g ON g.task_id = c.task_id "
            "WHERE g.status IS NULL OR g.status NOT IN ('failed', 'cancelled') GROUP BY c.principal"
        )
        return {row[0]: float(row[1]) for row in rows}

    # --- callbacks ---------------------------------------------------------------------------------------------

    async def callback_create(self, callback_hash: str) -> CreateRecord | None:
        """The create whose callback URL carries the secret with this hash."""
        rows = await self._rows("SELECT * FROM creates WHERE callback_hash = ?", (callback_hash,))
        return _create_from_row(rows[0]) if rows else None

    async def tasks_with_callbacks(self) -> list[str]:
        """Task ids of unfinished generations whose create carries one of our callback URLs."""
        rows = await self._rows(
            "SELECT c.task_id FROM creates c JOIN generations g ON g.task_id = c.task_id "
            "WHERE c.callback_hash IS NOT NULL AND g.status NOT IN ('completed', 'failed', 'cancelled')"
        )
        return [row["task_id"] for row in rows]

    # --- declines ---------------------------------------------------------------------------------------------

    async def record_decline(self, fingerprint: str) -> None:
        """The user said no to this request's cost: remembered, so the model cannot simply ask again."""
        await self._write(
            "INSERT INTO declines (fingerprint, declined_at) VALUES (?, ?) "
            "ON CONFLICT (fingerprint) DO UPDATE SET declined_at = excluded.declined_at",
            (fingerprint, time.time()),
        )

    async def declined_since(self, fingerprint: str, since: float) -> float | None:
        """When the user declined this request, if they did after `since`."""
        rows = await self._rows(
            "SELECT declined_at FROM declines WHERE fingerprint = ? AND declined_at >= ?", (fingerprint, since)
        )
        return float(rows[0][0]) if rows else None

    async def unconfirmed_creates(self, principal: str | None = None) -> list[CreateRecord]:
        """Creates whose outcome is unknown or still being sent (`principal`'s, or everyone's), newest first."""
        if principal is None:
            rows = await self._rows("SELECT * FROM creates WHERE state != 'accepted' ORDER BY created_at DESC")
        else:
            rows = await self._rows(
                "SELECT * FROM creates WHERE state != 'accepted' AND principal = ? ORDER BY created_at DESC",
                (principal,),
            )
        return [_create_from_row(row) for row in rows]


def _duplicate(db: Connection, principal: str, fingerprint: str, since: float) -> Row | None:
    row: Row | None = db.execute(
        "SELECT c.* FROM creates c LEFT JOIN generations g ON g.task_id = c.task_id "
        "WHERE c.principal = ? AND c.fingerprint = ? AND c.created_at >= ? "
        "AND (g.status IS NULL OR g.status NOT IN ('failed', 'cancelled')) "
        "ORDER BY c.created_at DESC LIMIT 1",
        (principal, fingerprint, since),
    ).fetchone()
    return row


def _spending(db: Connection, principal: str, windows: SpendingWindows) -> Spending:
    count = db.execute(
        "SELECT COUNT(*) FROM creates WHERE principal = ? AND created_at >= ?", (principal, windows.minute)
    ).fetchone()[0]
    return Spending(
        today_usd=_committed_since(db, principal, windows.day),
        last_hour_usd=_committed_since(db, principal, windows.hour),
        creates_last_minute=int(count),
        server_today_usd=_committed_since(db, None, windows.day),
        server_last_hour_usd=_committed_since(db, None, windows.hour),
    )


_COMMITTED = (
    "SELECT COALESCE(SUM(COALESCE(c.reserved_usd, c.estimate_usd)), 0) FROM creates c "
    "LEFT JOIN generations g ON g.task_id = c.task_id "
    "WHERE c.created_at >= ? AND (g.status IS NULL OR g.status NOT IN ('failed', 'cancelled'))"
)


def _committed_since(db: Connection, principal: str | None, since: float) -> float:
    """Estimated spend since `since` that may be billed: `principal`'s, or everyone's (None)."""
    if principal is None:
        row = db.execute(_COMMITTED, (since,)).fetchone()
    else:
        row = db.execute(_COMMITTED + " AND c.principal = ?", (since, principal)).fetchone()
    return float(row[0])
