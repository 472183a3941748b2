"""Generation changes told across replicas: PostgreSQL NOTIFY after each recorded change, LISTEN on every replica.

Why at this level and not only on the SDK's `SubscriptionBus`: a replica must learn another's change for more than
2026-07-28 listen streams. Waits (`wait_for_generation`), reads, autosave and 2025-era `resources/subscribe`
sessions all follow the replica's own change bus; so the change itself crosses, and each replica's bus then tells
its own sessions on both protocol eras, scoped as usual. A notification only says *which* task changed: the
receiver reads the committed row, so nothing is lost when notifications are coalesced or a listener reconnects (a
reconnect re-reads everything changed meanwhile).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from veo_mcp.storage.postgres import CONNECTION_OPTIONS, redact_url

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

# How often a quiet LISTEN connection is asked whether it still answers.
LISTEN_CHECK_S = 10.0

Heard = Callable[[str], Awaitable[None]]
Reconnected = Callable[[], Awaitable[None]]


class ChangeFeed:
    """NOTIFY/LISTEN on one channel per schema (replicas of one deployment share it; tests in other schemas don't)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._channel = ""
        self._sender: psycopg.AsyncConnection[Any] | None = None
        self._sender_lock = anyio.Lock()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        connection = await psycopg.AsyncConnection.connect(self._url, autocommit=True, **CONNECTION_OPTIONS)
        if not self._channel:
            row = await (await connection.execute("SELECT current_schema()")).fetchone()
            schema = row[0] if row else "public"
            self._channel = "veo_mcp_" + hashlib.sha256(schema.encode()).hexdigest()[:16]
        return connection

    async def notify(self, task_id: str) -> None:
        """Tell the other replicas `task_id` changed (after its change is committed); a failure is only logged:
        they still read the database on their polling schedule."""
        async with self._sender_lock:
            for attempt in (1, 2):
                try:
                    with anyio.fail_after(self._timeout_s):
                        if self._sender is None or self._sender.closed:
                            self._sender = await self._connect()
                        await self._sender.execute("SELECT pg_notify(%s, %s)", (self._channel, task_id))
                    return
                except Exception as error:
                    await self._drop_sender()
                    if attempt == 2:
                        logger.warning("could not tell other replicas about %s: %s", task_id, _safe(error, self._url))

    async def _drop_sender(self) -> None:
        """Forget the sending connection (a hung one is closed without waiting for the server)."""
        sender, self._sender = self._sender, None
        if sender is not None:
            with anyio.move_on_after(1.0):  # closing must not wait long on a link that does not answer
                await sender.close()

    async def run(
        self, heard: Heard, reconnected: Reconnected, *, task_status: Any = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Call `heard(task_id)` for each change another replica announces; reconnect (and call `reconnected`,
        which re-reads what changed meanwhile) when the connection drops. Reports started once it listens."""
        started = False
        pause = 0.5
        while True:
            try:
                listener = await self._connect()
                async with listener:
                    await listener.execute(f"LISTEN {self._channel}")
                    own = await self._own_pid()
                    if not started:
                        task_status.started()
                        started = True
                    else:
                        await reconnected()
                    pause = 0.5
                    while True:  # a link that went silent shows at the next check, not hours later
                        async for notice in listener.notifies(timeout=LISTEN_CHECK_S):
                            if notice.pid != own:
                                await heard(notice.payload)
                        with anyio.fail_after(self._timeout_s):
                            await listener.execute("SELECT 1")
            except Exception as error:
                logger.warning("lost the change feed from other replicas, reconnecting: %s", _safe(error, self._url))
            await anyio.sleep(pause)
            pause = min(pause * 2, 10.0)

    async def _own_pid(self) -> int | None:
        """The backend of our own sender: our own notifications come back from it and are skipped."""
        async with self._sender_lock:
            try:
                if self._sender is None or self._sender.closed:
                    self._sender = await self._connect()
                return int(self._sender.info.backend_pid)
            except Exception:
                return None

    async def aclose(self) -> None:
        async with self._sender_lock:
            if self._sender is not None:
                await self._sender.close()
                self._sender = None


def _safe(error: BaseException, url: str) -> str:
    """An error's text without the URL's password."""
    text = str(error).strip()
    return text.replace(url, redact_url(url))
