"""Who a piece of work is for and which generation it concerns, carried through async calls.

Why: over HTTP one server serves several people. Scoping (whose generations a call may see), log lines (every line
names its principal and task) and metrics all need to know "for whom" without threading it through every function.
The stdio server and the CLI are one local user, `LOCAL_PRINCIPAL`. Context variables follow asyncio tasks, so a
poller started for a request keeps the principal it was started with only if it is started inside `acting_as`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

LOCAL_PRINCIPAL = "local"
# Principals from an OAuth issuer are named "oauth:<sub>": a users-file name cannot contain ':', so they never meet.
OAUTH_PREFIX = "oauth:"
_FOLDER_SAFE = re.compile(r"[^A-Za-z0-9._-]")

_principal: ContextVar[str] = ContextVar("veo_mcp_principal", default=LOCAL_PRINCIPAL)
_task_id: ContextVar[str | None] = ContextVar("veo_mcp_task_id", default=None)


def current_principal() -> str:
    """The principal the current work is done for (`LOCAL_PRINCIPAL` when nobody said otherwise)."""
    return _principal.get()


def current_task_id() -> str | None:
    """The generation the current work concerns, when there is one."""
    return _task_id.get()


@contextmanager
def acting_as(principal: str) -> Iterator[None]:
    """Run the enclosed work for `principal`."""
    token = _principal.set(principal)
    try:
        yield
    finally:
        _principal.reset(token)


@contextmanager
def about_task(task_id: str | None) -> Iterator[None]:
    """Mark the enclosed work (and its log lines) as concerning generation `task_id`."""
    token = _task_id.set(task_id)
    try:
        yield
    finally:
        _task_id.reset(token)


# Folder names principals may not have: where the local user's test patterns go, and names a filesystem hides or
# refuses (Windows device names).
RESERVED_FOLDERS = frozenset(
    {"simulated", "con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
)


def principal_folder(principal: str) -> str | None:
    """The output subfolder `principal`'s videos would get first: None for the local user (the output folder itself).

    Path-safe whatever the name (an OAuth `sub` may hold any character): unsafe characters become '_', and a
    short hash of the real name is added whenever that changed it. The folder actually used is recorded per principal
    (`folder_candidates` lists what is tried, `storage.folders` keeps them apart).
    """
    if principal == LOCAL_PRINCIPAL:
        return None
    safe = _FOLDER_SAFE.sub("_", principal).strip("._") or "user"
    if safe != principal:
        safe = f"{safe[:48]}-{_digest(principal, 10)}"
    return safe


def folder_candidates(principal: str) -> list[str]:
    """The folders tried, in order, for `principal` (never a reserved name); the last ones carry ever longer hashes of
    the real name, so one is free even when someone chose a name like another's folder."""
    first = principal_folder(principal)
    if first is None:
        return []
    base = _FOLDER_SAFE.sub("_", principal).strip("._")[:48] or "user"
    candidates = [first] if first.casefold() not in RESERVED_FOLDERS else []
    hashed = [f"{base}-{_digest(principal, length)}" for length in (12, 20, 64)]
    return candidates + hashed + [f"{hashed[-1]}-{number}" for number in range(2, 100)]


def _digest(principal: str, length: int) -> str:
    return hashlib.sha256(principal.encode()).hexdigest()[:length]
