"""Who holds a claim in the database (a create being sent, a download, a batch queue, a task's polling), and whether
that process still lives.

On one machine a process's pid answers that. Replicas on other machines (sharing PostgreSQL) write a heartbeat into
the `processes` table every `HEARTBEAT_S`; one whose heartbeat is older than `LAPSE_S` is gone, and every claim it
held can be taken over. A process on another machine that never wrote a heartbeat (SQLite on a shared folder) is
taken as alive: nothing can tell, and taking its claim could pay or download twice.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import TYPE_CHECKING

from veo_mcp.storage.postgres import PostgresConnection

if TYPE_CHECKING:
    from veo_mcp.storage.database import Connection

# How often a replica says it is alive, and how long after its last word its claims lapse.
HEARTBEAT_S = 2.0
LAPSE_S = 10.0


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
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one of another user's counts: it cannot be signalled,
    but it exists)."""
    try:
        os.kill(pid, 0)  # pragma: no mutate (another signal number would really signal that process)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive_in(db: Connection, owner: str) -> bool:
    """`owner_alive`, with the heartbeat a process on another machine left in the database."""
    host = owner.partition("|")[0]
    if host == socket.gethostname():
        return owner_alive(owner)
    row = db.execute("SELECT seen_at FROM processes WHERE owner = ?", (owner,)).fetchone()
    if row is None:
        return True
    return bool(database_now(db) - float(row[0]) < LAPSE_S)


def database_now(db: Connection) -> float:
    """The clock heartbeats are written and judged by: on PostgreSQL the server's (replicas' own clocks may
    disagree by more than `LAPSE_S`), on SQLite this machine's (the processes sharing it share its clock)."""
    if isinstance(db, PostgresConnection):
        return float(db.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()[0])
    return time.time()


def gone_in(db: Connection, owner: str) -> bool:
    """Whether the process that wrote `owner` is certainly gone: on this machine its pid is dead, elsewhere it said
    so as it stopped (a lapsed heartbeat may be a pause: see `alive_in`)."""
    host = owner.partition("|")[0]
    if host == socket.gethostname():
        return not owner_alive(owner)
    row = db.execute("SELECT seen_at FROM processes WHERE owner = ?", (owner,)).fetchone()
    return row is not None and float(row[0]) == 0.0
