"""A server stops the same clean way whatever its transport and whoever asks: SIGTERM (an orchestrator, `kill`) or
SIGINT (Ctrl-C) ends the transport, then `App.running` stops cleanly (the replica's heartbeat is marked stopped so
its claims pass on at once, SQLite's write-ahead log is checkpointed); the process exits 0 after SIGTERM, 130 after
Ctrl-C (README's exit codes: interrupted).

Why not the defaults: SIGTERM's default kills the process before any cleanup, and uvicorn re-raises the signal it
caught once it has shut down, which kills the process the same way. A stop is bounded: a second signal, or a clean
stop that takes longer than `STOP_LIMIT_S`, ends the process at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import anyio
import anyio.abc

from veo_mcp.cli.logs import say

STOP_LIMIT_S = 20.0
# Exit codes when a stop could not finish cleanly (a second signal, or past STOP_LIMIT_S).
FORCED = 1


async def stop_on_signals(
    request_stop: Callable[[int], None], *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Call `request_stop` (with the signal) at the first SIGTERM or SIGINT; end the process at a second one, or
    when the stop takes longer than `STOP_LIMIT_S`."""
    if sys.platform == "win32":  # pragma: no cover - no POSIX signals to receive there
        task_status.started()
        return
    stopping = False
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for received in signals:
            name = signal.Signals(received).name
            if stopping:
                say(f"veo-mcp: {name} again: stopping at once.")
                os._exit(FORCED)
            stopping = True
            if received != signal.SIGINT:  # Ctrl-C's own word is "stopped." once stopped
                say(f"veo-mcp: {name} received: stopping (a second signal stops at once).")
            threading.Thread(target=_force_after, args=(STOP_LIMIT_S,), daemon=True).start()
            request_stop(received)


def _force_after(seconds: float) -> None:
    """The last resort of a stop that hangs: whatever it is waiting for, the process ends."""
    time.sleep(seconds)
    say(f"veo-mcp: the clean stop took longer than {seconds:g} s; stopping at once.")
    os._exit(FORCED)
