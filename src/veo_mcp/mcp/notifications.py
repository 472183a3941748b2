"""Telling clients that a generation changed, on both protocol eras.

2026-07-28 clients listen on `subscriptions/listen` streams fed by the `SubscriptionBus` (the SDK's public seam,
also the one to fan out across replicas). 2025-era clients subscribe with `resources/subscribe` and hear
`notifications/resources/updated` on their own connection, plus list changes and status log messages.

Every notification is its generation's (or batch's) owner's alone: a connection is remembered with the principal it
was seen acting for, a listen stream with the principal that opened it (`ScopedSubscriptionBus`), and a change is
told only to those of its owner, so nobody hears of another user's generations, not even that one exists.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable

import anyio.lowlevel
from mcp.server.connection import Connection
from mcp.server.subscriptions import ServerEvent
from mcp.shared.subscriptions import PromptsListChanged, ResourcesListChanged, ResourceUpdated, ToolsListChanged
from mcp_types import LoggingLevel
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from veo_mcp.context import acting_as, current_principal
from veo_mcp.core.batches import Batch
from veo_mcp.core.generation import Generation

logger = logging.getLogger(__name__)

_LEVELS: tuple[LoggingLevel, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


async def _quietly(send: Awaitable[None]) -> None:
    """A notification to a session that has gone away must not break the others."""
    try:
        await send
    except Exception as error:
        logger.debug("notification not delivered: %r", error)


def _legacy(connection: Connection) -> bool:
    return connection.protocol_version not in MODERN_PROTOCOL_VERSIONS


class ScopedSubscriptionBus:
    """The SDK's `SubscriptionBus`, per principal: a listener (one `subscriptions/listen` stream, registered while its
    request runs as its principal) hears resource events only when published while acting as that same principal.
    Tool and prompt list changes concern everyone alike."""

    def __init__(self) -> None:
        self._listeners: dict[object, tuple[str, Callable[[ServerEvent], None]]] = {}

    async def publish(self, event: ServerEvent) -> None:
        audience = None if isinstance(event, ToolsListChanged | PromptsListChanged) else current_principal()
        for principal, listener in list(self._listeners.values()):
            if audience is not None and principal != audience:
                continue
            try:
                listener(event)
            except Exception:  # one broken stream must not starve the others
                logger.exception("subscription listener raised; continuing")
        await anyio.lowlevel.checkpoint()

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = (current_principal(), listener)

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe


class Watchers:
    """Who to tell about changes: connections subscribed per URI, and every connection seen (list changes, logs)."""

    def __init__(self, bus: ScopedSubscriptionBus) -> None:
        self.bus = bus
        self.subscriptions: dict[str, weakref.WeakSet[Connection]] = {}
        self.connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.levels: weakref.WeakKeyDictionary[Connection, LoggingLevel] = weakref.WeakKeyDictionary()
        # The principal each connection acts for (the SDK binds an HTTP session to the token that opened it).
        self.principals: weakref.WeakKeyDictionary[Connection, str] = weakref.WeakKeyDictionary()
        self._last_status: dict[str, str] = {}

    def seen(self, connection: Connection) -> None:
        """Remember a 2025-era client (a 2026-07-28 request carries a connection of its own each time)."""
        self.principals[connection] = current_principal()
        if _legacy(connection):
            self.connections.add(connection)

    def _of(self, principal: str, connections: Iterable[Connection]) -> list[Connection]:
        """The connections among `connections` that act for `principal`."""
        return [c for c in list(connections) if self.principals.get(c) == principal]

    def subscribe(self, uri: str, connection: Connection) -> None:
        self.principals.setdefault(connection, current_principal())
        self.subscriptions.setdefault(uri, weakref.WeakSet()).add(connection)

    def unsubscribe(self, uri: str, connection: Connection) -> None:
        self.subscriptions.get(uri, weakref.WeakSet()).discard(connection)

    async def changed(self, generation: Generation) -> None:
        """Change-bus listener: resource updated, list changed (first sight), status log (status change)."""
        with acting_as(generation.owner):
            await self._changed(generation)

    async def _changed(self, generation: Generation) -> None:
        uri, owner = generation.uri, generation.owner
        first_time = generation.task_id not in self._last_status
        for connection in self._of(owner, self.subscriptions.get(uri, ())):
            await _quietly(connection.send_resource_updated(uri))
        await self.bus.publish(ResourceUpdated(uri=uri))
        if first_time:
            for connection in self._of(owner, self.connections):
                await _quietly(connection.send_resource_list_changed())
            await self.bus.publish(ResourcesListChanged())
        if self._last_status.get(generation.task_id) != generation.status:
            self._last_status[generation.task_id] = generation.status
            level: LoggingLevel = "warning" if generation.status == "failed" else "info"
            message = f"generation {generation.task_id} is {generation.status}"
            if generation.error_code:
                message += f" ({generation.error_code})"
            await self.log(level, message)

    async def batch_changed(self, batch: Batch) -> None:
        """Batch listener: the batch's resource changed (its items or their generations)."""
        owner = batch.record.principal
        for connection in self._of(owner, self.subscriptions.get(batch.uri, ())):
            await _quietly(connection.send_resource_updated(batch.uri))
        with acting_as(owner):
            await self.bus.publish(ResourceUpdated(uri=batch.uri))

    async def log(self, level: LoggingLevel, message: str) -> None:
        """A log message to the current principal's connections (2025-era only: 2026-07-28 has no
        connection-scoped logs)."""
        for connection in self._of(current_principal(), self.connections):
            threshold = self.levels.get(connection, "info")
            if _LEVELS.index(level) >= _LEVELS.index(threshold):
                await _quietly(connection.log(level, message, logger="veo-mcp"))
