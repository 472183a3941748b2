"""The simulator's clock: simulated seconds run `speed` times faster than real ones, and tests (or `POST /_sim/clock`)
move them on with `advance()`. A simulated account kept in a state folder shares one clock between processes."""

from __future__ import annotations

import time
from collections.abc import Callable

from veo_mcp.simulator.state import SimulatorState


class SimClock:
    """Simulated seconds: real monotonic time × speed, plus whatever tests `advance()`."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._start = time.monotonic()
        self._offset = 0.0
        self.on_advance: list[Callable[[], None]] = []  # told when time jumps (callbacks may be due)

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.speed + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds
        self._advanced()

    def _advanced(self) -> None:
        for listener in self.on_advance:
            listener()


class SharedClock(SimClock):
    """The clock of a simulated account kept in a state folder: wall time × speed from a shared anchor, so every
    process sharing the folder reads the same simulated time (`advance()` moves it for all of them)."""

    def __init__(self, speed: float, state: SimulatorState) -> None:
        super().__init__(speed)
        self._state = state
        state.anchor_clock(speed)

    def now(self) -> float:
        anchor = self._state.clock()
        return anchor.at(time.time()) if anchor is not None else 0.0

    def advance(self, seconds: float) -> None:
        self._state.advance_clock(seconds)
        self._advanced()
