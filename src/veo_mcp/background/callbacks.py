"""Callbacks instead of polling: EvoLink calls this server when a task ends, so it need not be asked every few seconds.

Only when the server can be reached: `VEO_MCP_PUBLIC_URL` is set and the HTTP transport serves it. Each create then
carries a `callback_url` on our own HTTP app with a secret of its own in the path (only its SHA-256 is stored, with
the create). A callback is only a hint: its body is never read for the task's state; the poller asks EvoLink about
the task once, right away. A callback for a create whose answer was never recorded (its sender died or could not
write) is what joins that create to its task: the secret says which create it is, the body only which task id to
ask EvoLink about (see `Registry.join`). Tasks with a callback are polled only every `SAFETY_INTERVAL_S` in case a callback is lost
(EvoLink gives up after 3 retries), and once right after a restart.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from veo_mcp.background.poller import Poller
from veo_mcp.core.generation import Generation
from veo_mcp.storage import CreateRecord, Store
from veo_mcp.storage.owners import process_owner

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/callbacks/evolink/"
SAFETY_INTERVAL_S = 120.0
_SECRET = re.compile(r"[A-Za-z0-9_-]{40,64}")

# What became of a callback: the task is being asked about, the secret is unknown, or the create it belongs to is
# not recorded as accepted yet (the sender should try again).
Received = Literal["hinted", "unknown", "early"]
# Records that a create whose answer was never recorded made the task a callback names (`Registry.join`).
Join = Callable[[CreateRecord, str], Awaitable[Generation | None]]


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedCallback:
    """The callback URL one create carries, and the hash of its secret (what is stored)."""

    url: str
    hash: str


class CallbackHub:
    def __init__(self, public_url: str | None, store: Store, poller: Poller) -> None:
        self._base = public_url.rstrip("/") if public_url else None
        self._store = store
        self._poller = poller
        self.join: Join | None = None  # set once the registry exists

    @property
    def enabled(self) -> bool:
        return self._base is not None

    def issue(self) -> IssuedCallback | None:
        """A callback URL for one create (None when callbacks are off)."""
        if self._base is None:
            return None
        secret = secrets.token_urlsafe(32)
        return IssuedCallback(url=f"{self._base}{CALLBACK_PATH}{secret}", hash=secret_hash(secret))

    def expect(self, task_id: str) -> None:
        """`task_id` was created with one of our callback URLs: poll it only as a safety net."""
        self._poller.expect_callback(task_id, SAFETY_INTERVAL_S)

    async def resume(self) -> None:
        """After a restart: the unfinished tasks that carry our callbacks are polled slowly again."""
        for task_id in await self._store.tasks_with_callbacks():
            self.expect(task_id)

    async def received(self, secret: str, task_id: str | None = None) -> Received:
        """A callback arrived for `secret`: ask EvoLink about its task once (the body is never trusted). `task_id` is
        what the body says: read only for a create whose answer was never recorded, and asked about before use."""
        if not _SECRET.fullmatch(secret):
            return "unknown"
        record = await self._store.callback_create(secret_hash(secret))
        if record is None:
            return "unknown"
        if record.task_id is None:
            if record.state == "sending" and record.owner == process_owner():
                return "early"  # this very process is sending it: its own answer says which task is its
            if task_id is not None and self.join is not None and await self.join(record, task_id) is not None:
                return "hinted"
            return "early" if record.state == "sending" else "unknown"
        if not self._poller.poll_now(record.task_id):
            logger.info("callback for %s, which is not being followed; ignored", record.task_id)
        return "hinted"
