"""Who a piece of work is for and which generation it concerns, carried through async calls.

Why: over HTTP one server serves several people. Scoping (whose generations a call may see), log lines (every line
names its principal and task) and metrics all need to know "for whom" without threading it through every function.
The stdio server and the CLI are one local user, `LOCAL_PRINCIPAL`. Context variables follow asyncio tasks, so a
poller started for a request keeps the principal it was started with only if it is started inside `acting_as`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

LOCAL_PRINCIPAL = "local"

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
