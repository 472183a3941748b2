"""Where every change to a generation goes: recorded first, then announced.

The recorder (the store) is a stage of its own, not merely the first listener: a change is on disk before any
session, wait or download hears of it, whatever order the listeners were added in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from veo_mcp.core.generation import Generation

logger = logging.getLogger(__name__)

ChangeListener = Callable[[Generation], Awaitable[None]]


class ChangeBus:
    def __init__(self) -> None:
        self._recorder: ChangeListener | None = None
        self._listeners: list[ChangeListener] = []

    def record_with(self, recorder: ChangeListener | None) -> None:
        """Set (or clear) what persists each change before it is announced."""
        self._recorder = recorder

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def publish(self, generation: Generation, *, record: bool = True) -> None:
        """Record `generation`, then tell every listener; a failing listener never stops the others.

        `record=False`: the change was read from the store (another replica recorded it), so it is only announced.
        """
        if record and self._recorder is not None:
            try:
                await self._recorder(generation)
            except Exception:
                logger.exception("could not record the change of %s", generation.task_id)
        for listener in self._listeners:
            try:
                await listener(generation)
            except Exception:
                logger.exception("change listener failed for %s", generation.task_id)
