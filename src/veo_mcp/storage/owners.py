"""Who holds a claim in the database (a create being sent, a download), and whether that process still lives."""

from __future__ import annotations

import os
import socket
import uuid


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
