"""The store on PostgreSQL: the same tables, statements and guarantees as on SQLite, for replicas that share one database.

Why one query layer for both engines: every rule that keeps money safe (record before send, the request_id and
duplicate guards, budgets) is written once, in the table mixins, against a small DB-API connection. This module makes
a psycopg connection speak that dialect: `?` placeholders, `BEGIN IMMEDIATE` (here a transaction that first takes a
transaction-scoped advisory lock, so read-then-write transactions are serialised across replicas exactly as SQLite
serialises them across processes), the migrations' column types, and a schema version kept in a table instead of
`PRAGMA user_version`. A write outside a transaction takes the same lock, as SQLite's implicit write lock would.

psycopg 3 is both the synchronous driver used here (calls run in a worker thread, like SQLite's) and the asyncio
driver `storage.changes` uses to LISTEN.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from veo_mcp.storage.schema import MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    import psycopg

_T = TypeVar("_T")
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE|ALTER|DROP)\b", re.IGNORECASE)
_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?|%")
_TYPES = ((re.compile(r"\bREAL\b"), "DOUBLE PRECISION"), (re.compile(r"\bINTEGER\b"), "BIGINT"))


# A silent network partition must end in an error within seconds, not hang the store's one connection (and its
# lock) until the kernel gives up hours later: TCP keepalives, and a bound on unacknowledged writes.
CONNECTION_OPTIONS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def translate(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s`, outside quoted text only; every `%` doubled, inside quotes too
    (psycopg reads placeholders everywhere in the statement)."""

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        return {"?": "%s", "%": "%%"}.get(found, found.replace("%", "%%"))

    return _QUOTED_OR_MARK.sub(replace, sql)


def ddl(statement: str) -> str:
    """A migration statement with PostgreSQL's column types (REAL is single precision there; times need double)."""
    for pattern, replacement in _TYPES:
        statement = pattern.sub(replacement, statement)
    return statement


def _adapted(parameters: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_value(value) for value in parameters)


def _value(value: Any) -> Any:
    # SQLite stores booleans as 0/1 in INTEGER columns; PostgreSQL would refuse a boolean there. PostgreSQL text
    # cannot hold NUL, which a hostile argument may carry into an error message: it becomes U+FFFD.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, like `sqlite3.Row` (and `dict(row)` works)."""

    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._names.index(key))
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    names = tuple(column.name for column in cursor.description or ())

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row._names = names
        return row

    return make


class PostgresCursor:
    def __init__(self, cursor: psycopg.Cursor[Any] | None) -> None:
        self._cursor = cursor

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor and self._cursor.description else None

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor and self._cursor.description else []


class PostgresConnection:
    """A psycopg connection that takes the store's SQLite-dialect statements (see the module docstring).

    A connection the server dropped (a restart, a failover, a network cut) is reopened by the next statement that
    starts something new: a `BEGIN IMMEDIATE` or a statement outside a transaction, retried once on the new
    connection when the old one turns out to be gone (a write outside a transaction runs inside BEGIN IMMEDIATE, so
    only BEGIN and reads are retried). A transaction whose connection was lost is never continued on another: its
    later statements fail until its ROLLBACK, which the server already did.
    """

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._db = connect()
        self._transaction = False  # between our BEGIN IMMEDIATE and its COMMIT/ROLLBACK
        self.lock_key = _lock_key(self._db)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        if self._db.closed:
            return self._transaction
        return self._db.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> PostgresCursor:
        command = sql.strip().upper()
        if command == "ROLLBACK" and self._db.closed:  # the server rolled back when the connection went
            self._transaction = False
            return PostgresCursor(None)
        if command == "BEGIN IMMEDIATE":
            self._retrying(self._begin)
            return PostgresCursor(None)
        if command in ("COMMIT", "ROLLBACK"):
            self._transaction = False
            self._db.execute(command)
            return PostgresCursor(None)
        if not self.in_transaction and _WRITE.match(sql):
            with self._locked():
                return self._execute(sql, parameters)
        if not self.in_transaction:
            return self._retrying(lambda: self._execute(sql, parameters))
        return self._execute(sql, parameters)

    def _begin(self) -> None:
        self._db.execute("BEGIN")
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
        self._transaction = True

    def _retrying(self, work: Callable[[], _T]) -> _T:
        import psycopg

        if self._db.closed and not self._transaction:
            self._db = self._connect()
        try:
            return work()
        except psycopg.OperationalError:
            if not self._db.closed:
                raise
            self._db = self._connect()
            return work()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(translate(sql), [_adapted(row) for row in rows])

    def close(self) -> None:
        self._db.close()

    def interrupt(self) -> None:
        """End the statement another thread waits on: its socket is shut down (a cancel request would travel the
        same dead link), so the wait ends with an error and the connection is reopened by the next call."""
        if self._db.closed:
            return
        try:
            with socket.socket(fileno=os.dup(self._db.pgconn.socket)) as stream:
                stream.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed meanwhile

    def dump_text(self) -> str:
        """Every row of every table of ours, as text (tests grep it for secrets)."""
        lines = []
        tables = self._db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            for row in self._db.execute(f'SELECT * FROM "{table}"').fetchall():  # noqa: S608 - our own table names
                lines.append(f"{table}: {tuple(row)!r}")
        return "\n".join(lines)

    def _execute(self, sql: str, parameters: Sequence[Any]) -> PostgresCursor:
        cursor = self._db.cursor()
        cursor.execute(translate(sql), _adapted(parameters))
        return PostgresCursor(cursor)

    def _locked(self) -> _Locked:
        return _Locked(self)


class _Locked:
    """One statement in its own transaction under the store's advisory lock."""

    def __init__(self, connection: PostgresConnection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._connection.execute("COMMIT" if kind is None else "ROLLBACK")


def _lock_key(connection: psycopg.Connection[Any]) -> int:
    """The advisory lock of this store: one per schema, so stores in other schemas of the database never wait on it."""
    row = connection.execute("SELECT current_schema()").fetchone()
    schema = row[0] if row else "public"
    return int.from_bytes(hashlib.sha256(f"veo-mcp:{schema}".encode()).digest()[:8], "big", signed=True)


def connect_postgres(url: str, timeout_s: float = 15.0) -> PostgresConnection:
    """A connection to the store at `url`, its schema created or migrated (under the lock: replicas start together).
    A statement the server runs longer than `timeout_s` is cancelled there, and a connection attempt gives up then."""
    import psycopg

    from veo_mcp.storage.database import StoreError

    options = {**CONNECTION_OPTIONS, "connect_timeout": max(2, min(10, math.ceil(timeout_s)))}

    def connect() -> psycopg.Connection[Any]:
        connection = psycopg.connect(url, autocommit=True, row_factory=_row_factory, **options)
        connection.execute("SELECT set_config('statement_timeout', %s, false)", (f"{round(timeout_s * 1000)}",))
        return connection

    try:
        connection = PostgresConnection(connect)
    except psycopg.Error as error:
        raise StoreError(
            f"veo-mcp cannot reach its database at {redact_url(url)}: {str(error).strip()}. Check "
            "VEO_MCP_DATABASE_URL and that the server is running."
        ) from None
    try:
        _migrate(connection)
    except psycopg.Error as error:
        connection.close()
        raise StoreError(
            f"veo-mcp cannot create or upgrade its tables in the database at {redact_url(url)}: "
            f"{_first_line(error)}. Give its user the right to create tables in that schema (the schema must exist: "
            "options=-csearch_path=... in VEO_MCP_DATABASE_URL names it), or point VEO_MCP_DATABASE_URL elsewhere."
        ) from None
    except BaseException:
        connection.close()
        raise
    return connection


def _first_line(error: BaseException) -> str:
    """The server's message without the statement excerpt and caret psycopg adds below it."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _migrate(connection: PostgresConnection) -> None:
    from veo_mcp.storage.database import StoreError

    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS veo_schema (version BIGINT NOT NULL)")
        row = connection.execute("SELECT version FROM veo_schema").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The database was written by a newer veo-mcp (schema {version}, this one knows {SCHEMA_VERSION}); "
                "upgrade veo-mcp on every replica, or point VEO_MCP_DATABASE_URL at another database."
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    connection.execute(ddl(statement))
        connection.execute("DELETE FROM veo_schema")
        connection.execute("INSERT INTO veo_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


# The advice of a `DatabaseWriteError` on PostgreSQL (the SQLite one speaks of disks and folders).
UNREACHABLE_ADVICE = (
    "Check that the PostgreSQL server named above is running and reachable from this machine; veo-mcp reconnects "
    "on its own at the next call, and keeps what it could not record in memory and writes it as soon as it can."
)


def redact_url(url: str) -> str:
    """`url` without its password (it goes into error messages and logs): after the user name (up to the last `@`
    before the query, so an unencoded `@` or `/` in it is covered too) and as a `password=` query parameter."""
    url = re.sub(r"(://[^:/@?#]*):[^?#]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)
