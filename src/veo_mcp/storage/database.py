"""One database connection shared by every table, used from a worker thread, one statement batch at a time.

Why SQLite by default: several server processes (Claude Desktop and an IDE, say) may share one data folder, so
writes must be atomic across processes (WAL + `BEGIN IMMEDIATE`), and a crash at any instant must leave a readable
file. Calls run in a worker thread, one at a time per process, so the event loop never waits on the disk. Replicas
on several machines share PostgreSQL instead (`storage.postgres`), through the same statements: the table mixins
see only the small `Connection` below, which both `sqlite3` and the PostgreSQL adapter provide.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import anyio
import anyio.lowlevel

from veo_mcp.errors import LocalFileError
from veo_mcp.storage.postgres import UNREACHABLE_ADVICE, PostgresConnection

_T = TypeVar("_T")


class Row(Protocol):
    """A result row: by position or by column name (`sqlite3.Row`, `storage.postgres.Row`)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the tables use of a DB-API connection, in SQLite's dialect (`?` placeholders, `BEGIN IMMEDIATE`)."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...

    def close(self) -> None: ...

    def interrupt(self) -> None:
        """End the statement running in another thread now, with an error (thread-safe)."""


class StoreError(Exception):
    """The database cannot be used (newer schema, unreadable file)."""


class DatabaseWriteError(LocalFileError):
    """A read or write of the database failed (disk full, permissions, I/O): nothing about it was recorded."""

    default_advice = (
        "Free some space on that disk or fix the folder's permissions (VEO_MCP_DATA_DIR moves it); veo-mcp "
        "keeps what it could not record in memory and writes it as soon as it can."
    )


# How long one database call may take, waiting for the connection included, unless VEO_MCP_DATABASE_TIMEOUT says.
DEFAULT_TIMEOUT_S = 15.0


class Database:
    """Async access to one SQLite connection; the table mixins of `Store` build on `_run`, `_write` and `_rows`.

    Every call ends within its deadline (`timeout_s`, the wait for the connection included): a statement still
    running then is interrupted (SQLite's `interrupt`, PostgreSQL's socket shut down: a blackholed link never
    answers, and the worker thread cannot be abandoned) and the call fails with a `DatabaseWriteError` that says so.
    """

    def __init__(
        self,
        connection: Connection,
        path: Path | None,
        *,
        where: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._db = connection
        self.path = path
        self.timeout_s = timeout_s
        self.where = where or str(path or "its in-memory database")
        # The PostgreSQL URL (replicas on other machines may share this store), else None.
        self.url: str | None = None
        self._lock = anyio.Lock()
        # OperationalError: locked, full, I/O; DatabaseError: the file was damaged while in use.
        self._failures: tuple[type[BaseException], ...] = (sqlite3.DatabaseError, OSError)
        self._advice: str | None = None  # DatabaseWriteError's own (disks, folders) on SQLite
        if not isinstance(connection, sqlite3.Connection):
            import psycopg

            # Unreachable, out of space or read-only (a standby after a failover): nothing was written.
            self._failures = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction, OSError)
            self._advice = UNREACHABLE_ADVICE

    async def aclose(self) -> None:
        """Close the connection; on SQLite its write-ahead log is folded into the database first (a stopped
        server leaves one file, not a log that grows with every start)."""
        async with self._lock:
            await anyio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        if isinstance(self._db, sqlite3.Connection):
            with contextlib.suppress(sqlite3.Error):  # another process reading it: the next close folds it
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    async def _run(self, work: Callable[[Connection], _T], *, timeout_s: float | None = None) -> _T:
        limit = self.timeout_s if timeout_s is None else timeout_s
        deadline = anyio.current_time() + limit
        acquired = False
        with anyio.move_on_after(limit):
            await self._lock.acquire()
            acquired = True
        if not acquired:
            raise self._no_answer(limit)  # another call held the connection all that time
        try:
            return await self._in_thread(work, deadline, limit)
        finally:
            self._lock.release()

    async def _in_thread(self, work: Callable[[Connection], _T], deadline: float, limit: float) -> _T:
        """`work` in the worker thread, interrupted at `deadline`; a cancel waits for it (at most until then)."""
        outcome: list[Any] = []
        interrupted = anyio.Event()
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as group:
                group.start_soon(self._interrupt_at, deadline, interrupted)
                try:
                    outcome.append(await anyio.to_thread.run_sync(work, self._db))
                except BaseException as error:
                    outcome.append(error)
                group.cancel_scope.cancel()
        await anyio.lowlevel.checkpoint()  # a cancel that came meanwhile takes effect now
        result = outcome[0]
        if not isinstance(result, BaseException):
            return cast(_T, result)
        if interrupted.is_set() and isinstance(result, (*self._failures, sqlite3.Error)):
            raise self._no_answer(limit) from result
        if isinstance(result, self._failures):
            raise DatabaseWriteError(
                f"veo-mcp could not use its database {self.where}: {str(result).strip()}.", advice=self._advice
            ) from result
        raise result

    async def _interrupt_at(self, deadline: float, interrupted: anyio.Event) -> None:
        await anyio.sleep_until(deadline)
        interrupted.set()
        self._db.interrupt()

    def _no_answer(self, limit: float) -> DatabaseWriteError:
        return DatabaseWriteError(
            f"veo-mcp's database {self.where} did not answer within {limit:g} s (VEO_MCP_DATABASE_TIMEOUT).",
            advice=self._advice
            or "Another program may be holding the database file locked; veo-mcp tries again at the next call.",
        )

    async def _write(self, sql: str, parameters: Sequence[Any]) -> None:
        """One statement in its own write transaction."""

        def work(db: Connection) -> None:
            with transaction(db):
                db.execute(sql, tuple(parameters))

        await self._run(work)

    async def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[Row]:
        return await self._run(lambda db: db.execute(sql, tuple(parameters)).fetchall())

    async def ping(self, timeout_s: float | None = None) -> None:
        """A trivial query: raises `DatabaseWriteError` when the database cannot be used or does not answer within
        `timeout_s` (readiness checks)."""
        await self._run(lambda db: db.execute("SELECT 1").fetchone(), timeout_s=timeout_s)

    async def dump_text(self) -> str:
        """Everything stored, as text (tests grep it for secrets)."""

        def work(db: Connection) -> str:
            if isinstance(db, PostgresConnection):
                return db.dump_text()
            return "\n".join(cast(sqlite3.Connection, db).iterdump())

        return await self._run(work)


class transaction:
    """`BEGIN IMMEDIATE` … COMMIT/ROLLBACK: takes the write lock up front, so read-then-write is atomic across
    processes."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def __enter__(self) -> Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # SQLite may have rolled back already (disk full does)
            self._db.execute("ROLLBACK")
