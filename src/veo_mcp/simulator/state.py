"""The simulated account's lasting state: tasks, uploads, request counts and the clock, in one SQLite file.

Why: EvoLink remembers a task however many processes ask about it. The simulator embedded in `veo-mcp` runs inside
whichever process needs it (a server a client starts per call, a CLI follow-up, a restart), so its account lives in
the data folder and every process sharing that folder sees the same tasks on the same clock. A simulator without a
state folder (the tests', a benchmark's) keeps everything in memory, as before.

The clock is anchored to wall time (`epoch`, `speed`, `offset`), so processes agree on simulated time; one that
runs at another speed re-anchors it where it stands, and `advance()` moves everyone's clock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clock (id INTEGER PRIMARY KEY CHECK (id = 0), epoch REAL, speed REAL, offset REAL);
CREATE TABLE IF NOT EXISTS tasks (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL,
    gets INTEGER NOT NULL DEFAULT 0, callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_delivered INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS task_frames (task_id TEXT NOT NULL, position INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (task_id, position));
CREATE TABLE IF NOT EXISTS uploads (file_id TEXT PRIMARY KEY, body TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    epoch: float  # wall time (Unix seconds) at which simulated time was `offset`
    speed: float
    offset: float

    def at(self, wall: float) -> float:
        return self.offset + (wall - self.epoch) * self.speed


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task row: its fields (JSON), counters and the images its video starts (and ends) with."""

    seq: int
    body: dict[str, Any]
    frames: tuple[bytes, ...]
    gets: int
    callback_attempts: int
    callback_delivered: bool


class SimulatorState:
    """One SQLite file shared by every process that simulates the same account (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # private before SQLite makes its -wal and -shm
        self.path = path
        self._lock = threading.Lock()  # one connection, used from the event loop and from worker threads
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, values: tuple[Any, ...] = ()) -> None:
        with self._lock:
            self._db.execute(sql, values)

    def _rows(self, sql: str, values: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, values).fetchall()

    # --- the clock ----------------------------------------------------------------------------------------

    def clock(self) -> ClockAnchor | None:
        rows = self._rows("SELECT epoch, speed, offset FROM clock WHERE id = 0")
        return ClockAnchor(*rows[0]) if rows else None

    def anchor_clock(self, speed: float) -> ClockAnchor:
        """The shared clock, started now at 0 if new, re-anchored where it stands if it ran at another speed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute("SELECT epoch, speed, offset FROM clock WHERE id = 0").fetchall()
                now = time.time()
                anchor = ClockAnchor(*rows[0]) if rows else None
                if anchor is None or anchor.speed != speed:
                    anchor = ClockAnchor(now, speed, anchor.at(now) if anchor is not None else 0.0)
                    self._db.execute(
                        "INSERT OR REPLACE INTO clock (id, epoch, speed, offset) VALUES (0, ?, ?, ?)",
                        (anchor.epoch, anchor.speed, anchor.offset),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return anchor

    def advance_clock(self, seconds: float) -> None:
        self._write("UPDATE clock SET offset = offset + ? WHERE id = 0", (seconds,))

    # --- tasks --------------------------------------------------------------------------------------------

    def add_task(self, task_id: str, body: dict[str, Any], frames: tuple[bytes, ...]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO tasks (id, body) VALUES (?, ?)", (task_id, json.dumps(body)))
                self._db.executemany(
                    "INSERT INTO task_frames (task_id, position, data) VALUES (?, ?, ?)",
                    [(task_id, position, data) for position, data in enumerate(frames)],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def tasks_after(self, seq: int) -> list[StoredTask]:
        """Tasks added after `seq` (in order), by any process."""
        return [self._stored(row) for row in self._rows(_TASK_COLUMNS + " WHERE seq > ? ORDER BY seq", (seq,))]

    def task(self, task_id: str) -> StoredTask | None:
        rows = self._rows(_TASK_COLUMNS + " WHERE id = ?", (task_id,))
        return self._stored(rows[0]) if rows else None

    def counters(self) -> dict[str, tuple[int, int, bool]]:
        """Every task's (gets, callback attempts, callback delivered), as all processes counted them."""
        rows = self._rows("SELECT id, gets, callback_attempts, callback_delivered FROM tasks")
        return {task_id: (gets, attempts, bool(delivered)) for task_id, gets, attempts, delivered in rows}

    def count_task(self, task_id: str, column: str) -> None:
        if column not in ("gets", "callback_attempts"):
            raise ValueError(column)
        self._write(f"UPDATE tasks SET {column} = {column} + 1 WHERE id = ?", (task_id,))  # noqa: S608 - checked

    def set_base_url(self, task_id: str, base_url: str) -> None:
        with self._lock:
            row = self._db.execute("SELECT body FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is not None:
                body = {**json.loads(row[0]), "base_url": base_url}
                self._db.execute("UPDATE tasks SET body = ? WHERE id = ?", (json.dumps(body), task_id))

    def callback_delivered(self, task_id: str) -> None:
        self._write("UPDATE tasks SET callback_delivered = 1 WHERE id = ?", (task_id,))

    def _stored(self, row: tuple[Any, ...]) -> StoredTask:
        seq, task_id, body, gets, attempts, delivered = row
        frames = tuple(
            data
            for (data,) in self._rows("SELECT data FROM task_frames WHERE task_id = ? ORDER BY position", (task_id,))
        )
        return StoredTask(seq, json.loads(body), frames, gets, attempts, bool(delivered))

    # --- uploads and request counts -----------------------------------------------------------------------

    def add_upload(self, file_id: str, body: dict[str, Any], data: bytes) -> None:
        self._write("INSERT INTO uploads (file_id, body, data) VALUES (?, ?, ?)", (file_id, json.dumps(body), data))

    def upload(self, file_id: str) -> tuple[dict[str, Any], bytes] | None:
        rows = self._rows("SELECT body, data FROM uploads WHERE file_id = ?", (file_id,))
        return (json.loads(rows[0][0]), bytes(rows[0][1])) if rows else None

    def upload_count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM uploads")[0][0])

    def upload_ids(self) -> list[str]:
        return [file_id for (file_id,) in self._rows("SELECT file_id FROM uploads")]

    def count_request(self, name: str) -> None:
        self._write("INSERT INTO counts (name, n) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET n = n + 1", (name,))

    def request_counts(self) -> dict[str, int]:
        return {name: int(n) for name, n in self._rows("SELECT name, n FROM counts")}


_TASK_COLUMNS = "SELECT seq, id, body, gets, callback_attempts, callback_delivered FROM tasks"
