"""The durable record: every create we attempt and every generation we know, in SQLite under the data folder.

Why SQLite: several server processes (Claude Desktop and an IDE, say) may share one data folder, so writes must be
atomic across processes (WAL + `BEGIN IMMEDIATE`), and a crash at any instant must leave a readable file. Calls run
in a worker thread, one at a time per process, so the event loop never waits on the disk.

Two tables carry the money-safety rules:
- `creates`: a row is written *before* a create is sent ("sending"), becomes "accepted" with the task id in the same
  transaction that stores the generation, or "outcome_unknown" when nobody can tell whether EvoLink took it. A row
  left "sending" by a process that died is turned into "outcome_unknown" on the next start; nothing resends it.
  The client's `request_id` is unique here, which is what makes a retried tool call free.
- `generations`: the last known state of each task plus what we saved; downloads are claimed with a lease so two
  processes never fetch the same video twice.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
from pydantic import BaseModel

from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.generations import Generation, SavedFile

_T = TypeVar("_T")

CreateState = Literal["sending", "accepted", "outcome_unknown"]

# Each entry upgrades the schema by one version (PRAGMA user_version). Append, never edit a released entry.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE generations (
        task_id TEXT PRIMARY KEY,
        request_id TEXT,
        fingerprint TEXT,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        request_json TEXT NOT NULL,
        simulated INTEGER NOT NULL,
        estimate_json TEXT,
        status TEXT NOT NULL,
        progress INTEGER NOT NULL,
        estimated_time_s REAL,
        result_urls_json TEXT NOT NULL,
        error_code TEXT,
        error_message TEXT,
        notes_json TEXT NOT NULL,
        files_json TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        completed_at REAL,
        download_state TEXT NOT NULL DEFAULT 'none',
        download_error TEXT,
        download_attempts INTEGER NOT NULL DEFAULT 0,
        download_owner TEXT,
        download_claimed_at REAL
    );
    CREATE INDEX generations_by_created ON generations (created_at);
    CREATE TABLE creates (
        key TEXT PRIMARY KEY,
        request_id TEXT UNIQUE,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        task_id TEXT,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        estimate_usd REAL,
        message TEXT,
        owner TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX creates_by_fingerprint ON creates (fingerprint, created_at);
    CREATE INDEX creates_by_created ON creates (created_at);
    """,
    """
    CREATE TABLE uploads (
        sha256 TEXT PRIMARY KEY,
        file_url TEXT NOT NULL,
        file_name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        uploaded_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be used (newer schema, unreadable file)."""


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


class UploadRecord(BaseModel):
    sha256: str
    file_url: str
    file_name: str
    mime_type: str
    bytes: int
    uploaded_at: float
    expires_at: float


def process_owner() -> str:
    """Who holds a claim: host, pid and a per-process token (so a reused pid is not mistaken for us)."""
    return f"{socket.gethostname()}|{os.getpid()}|{_PROCESS_TOKEN}"


_PROCESS_TOKEN = uuid.uuid4().hex[:12]


def owner_alive(owner: str) -> bool:
    """Whether the process that wrote `owner` may still be running; unknown hosts count as alive."""
    host, _, rest = owner.partition("|")
    pid_text, _, token = rest.partition("|")
    if host != socket.gethostname():
        return True
    if token == _PROCESS_TOKEN:
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # our pid, another token: an earlier process that had our pid is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_GENERATION_COLUMNS = (
    "task_id",
    "request_id",
    "fingerprint",
    "model",
    "prompt",
    "request_json",
    "simulated",
    "estimate_json",
    "status",
    "progress",
    "estimated_time_s",
    "result_urls_json",
    "error_code",
    "error_message",
    "notes_json",
    "files_json",
    "created_at",
    "updated_at",
    "completed_at",
    "download_state",
    "download_error",
    "download_attempts",
)


def _generation_values(generation: Generation) -> tuple[Any, ...]:
    return (
        generation.task_id,
        generation.request_id,
        generation.fingerprint,
        generation.model,
        generation.prompt,
        json.dumps(generation.request),
        int(generation.simulated),
        generation.estimate.model_dump_json() if generation.estimate else None,
        generation.status,
        generation.progress,
        generation.estimated_time_s,
        json.dumps(generation.result_urls),
        generation.error_code,
        generation.error_message,
        json.dumps(generation.notes),
        json.dumps([f.model_dump() for f in generation.files]),
        generation.created_at,
        generation.updated_at,
        generation.completed_at,
        generation.download_state,
        generation.download_error,
        generation.download_attempts,
    )


def _generation_from_row(row: sqlite3.Row) -> Generation:
    return Generation(
        task_id=row["task_id"],
        request_id=row["request_id"],
        fingerprint=row["fingerprint"],
        model=row["model"],
        prompt=row["prompt"],
        request=json.loads(row["request_json"]),
        simulated=bool(row["simulated"]),
        estimate=CostEstimate.model_validate_json(row["estimate_json"]) if row["estimate_json"] else None,
        status=row["status"],
        progress=row["progress"],
        estimated_time_s=row["estimated_time_s"],
        result_urls=json.loads(row["result_urls_json"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        notes=json.loads(row["notes_json"]),
        files=[SavedFile.model_validate(item) for item in json.loads(row["files_json"])],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        download_state=row["download_state"],
        download_error=row["download_error"],
        download_attempts=row["download_attempts"],
    )


def _create_from_row(row: sqlite3.Row) -> CreateRecord:
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
    )


class Store:
    """Async facade over one SQLite connection; open with `await Store.open(path)`, close with `aclose()`."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None) -> None:
        self._db = connection
        self.path = path
        self._lock = anyio.Lock()

    @classmethod
    async def open(cls, path: Path | None) -> Store:
        """The database at `path`, created or migrated as needed; None keeps it in memory (embedded simulator)."""
        connection = await anyio.to_thread.run_sync(_connect, path)
        return cls(connection, path)

    async def aclose(self) -> None:
        async with self._lock:
            await anyio.to_thread.run_sync(self._db.close)

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        async with self._lock:
            return await anyio.to_thread.run_sync(work, self._db)

    async def _write(self, sql: str, parameters: Sequence[Any]) -> None:
        """One statement in its own write transaction."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(sql, tuple(parameters))

        await self._run(work)

    async def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self._run(lambda db: db.execute(sql, tuple(parameters)).fetchall())

    # --- generations -------------------------------------------------------------------------------------------

    async def save_generation(self, generation: Generation) -> None:
        await self._write(_UPSERT_GENERATION, _generation_values(generation))

    async def generation(self, task_id: str) -> Generation | None:
        rows = await self._rows("SELECT * FROM generations WHERE task_id = ?", (task_id,))
        return _generation_from_row(rows[0]) if rows else None

    async def generations(self, *, updated_after: float | None = None) -> list[Generation]:
        """Every generation (or those changed after a time), oldest first."""
        rows = await self._rows(
            "SELECT * FROM generations WHERE updated_at > ? ORDER BY created_at",
            (updated_after if updated_after is not None else float("-inf"),),
        )
        return [_generation_from_row(row) for row in rows]

    # --- creates -----------------------------------------------------------------------------------------------

    async def begin_create(
        self,
        *,
        request_id: str | None,
        fingerprint: str,
        model: str,
        prompt: str,
        payload: dict[str, Any],
        estimate_usd: float | None,
        check_spent: Callable[[float], None] | None = None,
        spent_since: float = 0.0,
    ) -> tuple[CreateRecord, bool]:
        """Record a create about to be sent. With a `request_id` already used, returns that record and False.

        `check_spent` sees what is committed since `spent_since` inside the same write transaction and may raise
        to refuse: a budget then holds across every process sharing the database, not just this one.
        """
        now = time.time()
        key = uuid.uuid4().hex
        owner = process_owner()

        def work(db: sqlite3.Connection) -> tuple[CreateRecord, bool]:
            with _transaction(db):
                if request_id is not None:
                    row = db.execute("SELECT * FROM creates WHERE request_id = ?", (request_id,)).fetchone()
                    if row is not None:
                        return _create_from_row(row), False
                if check_spent is not None:
                    check_spent(_committed_since(db, spent_since))
                db.execute(
                    "INSERT INTO creates (key, request_id, fingerprint, state, model, prompt, payload_json, "
                    "estimate_usd, owner, created_at, updated_at) VALUES (?, ?, ?, 'sending', ?, ?, ?, ?, ?, ?, ?)",
                    (key, request_id, fingerprint, model, prompt, json.dumps(payload), estimate_usd, owner, now, now),
                )
                row = db.execute("SELECT * FROM creates WHERE key = ?", (key,)).fetchone()
                return _create_from_row(row), True

        return await self._run(work)

    async def accept_create(self, key: str, generation: Generation) -> None:
        """The create was accepted: store the generation and link it, in one transaction."""
        values = _generation_values(generation)

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(_UPSERT_GENERATION, values)
                db.execute(
                    "UPDATE creates SET state = 'accepted', task_id = ?, message = NULL, updated_at = ? WHERE key = ?",
                    (generation.task_id, time.time(), key),
                )

        await self._run(work)

    async def mark_create_unknown(self, key: str, message: str) -> None:
        await self._write(
            "UPDATE creates SET state = 'outcome_unknown', message = ?, updated_at = ? WHERE key = ?",
            (message, time.time(), key),
        )

    async def forget_create(self, key: str) -> None:
        """EvoLink certainly refused the create (nothing billed): free its request_id for a later try."""
        await self._write("DELETE FROM creates WHERE key = ? AND state = 'sending'", (key,))

    async def create_for_request(self, request_id: str) -> CreateRecord | None:
        rows = await self._rows("SELECT * FROM creates WHERE request_id = ?", (request_id,))
        return _create_from_row(rows[0]) if rows else None

    async def create_record(self, key: str) -> CreateRecord | None:
        rows = await self._rows("SELECT * FROM creates WHERE key = ?", (key,))
        return _create_from_row(rows[0]) if rows else None

    async def recover_interrupted_creates(self) -> list[CreateRecord]:
        """Creates left 'sending' by a process that is gone: their outcome is unknown; never resend them."""
        message = "veo-mcp stopped while this create was being sent, so nobody knows whether EvoLink accepted it."

        def work(db: sqlite3.Connection) -> list[CreateRecord]:
            with _transaction(db):
                rows = db.execute("SELECT * FROM creates WHERE state = 'sending'").fetchall()
                stale = [_create_from_row(row) for row in rows if not owner_alive(row["owner"])]
                for record in stale:
                    db.execute(
                        "UPDATE creates SET state = 'outcome_unknown', message = ?, updated_at = ? WHERE key = ?",
                        (message, time.time(), record.key),
                    )
            return [record.model_copy(update={"state": "outcome_unknown", "message": message}) for record in stale]

        return await self._run(work)

    async def recent_duplicate(self, fingerprint: str, since: float) -> CreateRecord | None:
        """The newest create of the same request since `since` that may still give (or has given) a video."""
        rows = await self._rows(
            "SELECT c.* FROM creates c LEFT JOIN generations g ON g.task_id = c.task_id "
            "WHERE c.fingerprint = ? AND c.created_at >= ? "
            "AND (g.status IS NULL OR g.status NOT IN ('failed', 'cancelled')) "
            "ORDER BY c.created_at DESC LIMIT 1",
            (fingerprint, since),
        )
        return _create_from_row(rows[0]) if rows else None

    async def committed_usd_since(self, since: float) -> float:
        """Estimated spend of creates since `since` that may be billed (failed generations are not)."""
        return await self._run(lambda db: _committed_since(db, since))

    async def unconfirmed_creates(self) -> list[CreateRecord]:
        """Creates whose outcome is unknown or still being sent, newest first."""
        rows = await self._rows("SELECT * FROM creates WHERE state != 'accepted' ORDER BY created_at DESC")
        return [_create_from_row(row) for row in rows]

    # --- downloads ---------------------------------------------------------------------------------------------

    async def claim_download(self, task_id: str, lease_s: float) -> bool:
        """Take the right to download `task_id`'s videos; False while another live process holds it."""
        owner = process_owner()
        now = time.time()

        def work(db: sqlite3.Connection) -> bool:
            with _transaction(db):
                row = db.execute(
                    "SELECT download_owner, download_claimed_at FROM generations WHERE task_id = ?", (task_id,)
                ).fetchone()
                if row is None:
                    return False
                holder, claimed_at = row["download_owner"], row["download_claimed_at"]
                free = (
                    holder is None
                    or holder == owner
                    or claimed_at is None
                    or now - claimed_at > lease_s
                    or not owner_alive(holder)
                )
                if free:
                    db.execute(
                        "UPDATE generations SET download_owner = ?, download_claimed_at = ? WHERE task_id = ?",
                        (owner, now, task_id),
                    )
                return free

        return await self._run(work)

    async def release_download(self, task_id: str) -> None:
        await self._write(
            "UPDATE generations SET download_owner = NULL, download_claimed_at = NULL "
            "WHERE task_id = ? AND download_owner = ?",
            (task_id, process_owner()),
        )

    # --- uploads (local images) -------------------------------------------------------------------------------

    async def upload(self, sha256: str, valid_after: float) -> UploadRecord | None:
        rows = await self._rows("SELECT * FROM uploads WHERE sha256 = ? AND expires_at > ?", (sha256, valid_after))
        return UploadRecord.model_validate(dict(rows[0])) if rows else None

    async def save_upload(self, record: UploadRecord) -> None:
        await self._write(
            "INSERT OR REPLACE INTO uploads (sha256, file_url, file_name, mime_type, bytes, uploaded_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            tuple(record.model_dump().values()),
        )

    async def dump_text(self) -> str:
        """Everything stored, as text (tests grep it for secrets)."""
        return await self._run(lambda db: "\n".join(db.iterdump()))


# Built once from the constant column list above (no input reaches it).
_UPSERT_GENERATION = (
    f"INSERT INTO generations ({', '.join(_GENERATION_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _GENERATION_COLUMNS)}) ON CONFLICT (task_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in _GENERATION_COLUMNS[1:])
)


def _committed_since(db: sqlite3.Connection, since: float) -> float:
    row = db.execute(
        "SELECT COALESCE(SUM(c.estimate_usd), 0) FROM creates c LEFT JOIN generations g ON g.task_id = c.task_id "
        "WHERE c.created_at >= ? AND (g.status IS NULL OR g.status NOT IN ('failed', 'cancelled'))",
        (since,),
    ).fetchone()
    return float(row[0])


class _transaction:
    """`BEGIN IMMEDIATE` … COMMIT/ROLLBACK: takes the write lock up front, so read-then-write is atomic across
    processes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


def _connect(path: Path | None) -> sqlite3.Connection:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path or ":memory:", timeout=30.0, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        _migrate(db)
    except sqlite3.DatabaseError as error:
        raise StoreError(
            f"veo-mcp cannot use its database {path}: {error}. Move the file aside (or set VEO_MCP_DATA_DIR to "
            "another folder) and start again."
        ) from None
    return db


def _migrate(db: sqlite3.Connection) -> None:
    with _transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The database was written by a newer veo-mcp (schema {version}, this one knows {SCHEMA_VERSION}); "
                "upgrade veo-mcp or point VEO_MCP_DATA_DIR at another folder."
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    db.execute(statement)
        if version != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
