"""Opening the SQLite file: checked before anything is served, never silently replaced.

Why a module of its own: the file is the only memory of which creates were sent (their request_ids), what they cost
and where their videos are. A file found empty or missing where veo-mcp kept its generations before (a marker beside
it says so), or damaged inside, is refused with its path and the remedy: restore it, or start a new database on
purpose (`VEO_MCP_NEW_DATABASE`, which moves the unusable file aside and never touches a healthy one). Starting
silently with an empty store would forget every request_id, so a retried call would pay for a new video. A data
folder veo-mcp cannot write is named, with the setting that moves it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from veo_mcp.local.files import PRIVATE_FILE, private_folder, replaced_atomically
from veo_mcp.storage.database import DEFAULT_TIMEOUT_S, StoreError, transaction
from veo_mcp.storage.schema import MIGRATIONS, SCHEMA_VERSION

logger = logging.getLogger(__name__)

NEW_DATABASE = "VEO_MCP_NEW_DATABASE=1"
_COMPANIONS = ("-wal", "-shm")


def marker_of(path: Path) -> Path:
    """The file that says veo-mcp has kept its generations in `path` (written once the schema is in place)."""
    return path.with_name(f"{path.name}.created")


def connect(path: Path | None, timeout_s: float = DEFAULT_TIMEOUT_S, *, new: bool = False) -> sqlite3.Connection:
    """The database at `path` (None: in memory), checked and migrated; `new` allows starting a new one where the
    file is empty, missing or damaged (it is moved aside first)."""
    if path is not None:
        _refuse_a_lost_file(path, new)
        _writable(path)
    try:
        db = _opened(path, timeout_s)
    except sqlite3.DatabaseError as error:
        if path is None or not new:
            raise _damaged(path, error) from None
        _move_aside(path, "damaged")
        return connect(path, timeout_s, new=True)
    if path is not None and not marker_of(path).exists():
        _mark(path)
    return db


def _opened(path: Path | None, timeout_s: float) -> sqlite3.Connection:
    db = sqlite3.connect(path or ":memory:", timeout=timeout_s, isolation_level=None, check_same_thread=False)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        checked = db.execute("PRAGMA quick_check").fetchone()[0]
        if checked != "ok":
            raise sqlite3.DatabaseError(checked)
        _migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _refuse_a_lost_file(path: Path, new: bool) -> None:
    """A file that is missing or empty where veo-mcp kept its generations is refused (or, with `new`, set aside)."""
    marker = marker_of(path)
    if not marker.exists() or (path.exists() and path.stat().st_size > 0):
        return
    if new:
        if path.exists():
            _move_aside(path, "empty")
        marker.unlink(missing_ok=True)
        logger.warning("starting a new database at %s (%s)", path, NEW_DATABASE)
        return
    since = marker.read_text(encoding="utf-8", errors="replace").strip() or "earlier"
    state = "is empty" if path.exists() else "is missing"
    raise StoreError(
        f"veo-mcp's database {path} {state}, but veo-mcp kept its generations there (since {since}): it was "
        "truncated, deleted or replaced. veo-mcp did not start, so nothing it recorded (request_ids, spending, saved "
        f"videos) is forgotten by mistake. Restore the file from a backup, or start a new, empty database on purpose "
        f"with {NEW_DATABASE} (earlier request_ids are then sent again as new requests)."
    )


def _damaged(path: Path | None, error: sqlite3.DatabaseError) -> StoreError:
    return StoreError(
        f"veo-mcp's database {path} is damaged ({str(error).strip() or 'it cannot be read'}). Restore it from a "
        f"backup (`sqlite3 {path} .recover` may save part of it), or start a new, empty database with "
        f"{NEW_DATABASE}, which moves this file aside."
    )


def _writable(path: Path) -> None:
    """The folder and the file exist and this process may write them (owner-only from the first byte: SQLite gives
    the -wal and -shm files the database file's permissions)."""
    try:
        private_folder(path.parent)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
        os.chmod(path, PRIVATE_FILE)
    except OSError as error:
        raise StoreError(
            f"veo-mcp cannot write its data folder {path.parent}: {error.strerror or error}. Set VEO_MCP_DATA_DIR to "
            "a folder it may write, or make this one writable."
        ) from None


def _mark(path: Path) -> None:
    try:
        with replaced_atomically(marker_of(path)) as sink:  # owner-only, like the database beside it
            sink.write(time.strftime("%Y-%m-%d %H:%M:%S UTC\n", time.gmtime()).encode())
    except OSError as error:
        logger.warning("cannot write %s: %s", marker_of(path), error)


def _move_aside(path: Path, why: str) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    for name in ("", *_COMPANIONS):
        source = path.with_name(path.name + name)
        if source.exists():
            target = path.with_name(f"{path.name}.{why}-{stamp}{name}")
            source.rename(target)
            logger.warning("moved the %s database file %s aside to %s", why, source, target)


def _migrate(db: sqlite3.Connection) -> None:
    with transaction(db):
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
