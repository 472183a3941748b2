"""A server stops the same clean way whatever its transport and whoever asks: SIGTERM (an orchestrator, `kill`) or
SIGINT (Ctrl-C) ends the transport, then `App.running` stops cleanly (the replica's heartbeat is marked stopped so
its claims pass on at once, SQLite's write-ahead log is checkpointed) and the process exits 0.

Why not the defaults: SIGTERM's default kills the process before any cleanup, and uvicorn re-raises the signal it
caught once it has shut down, which kills the process the same way. A stop is bounded: a second signal, or a clean
stop that takes longer than `STOP_LIMIT_S`, ends the process at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel

from veo_mcp.cli.logs import say

logger = logging.getLogger(__name__)

STOP_LIMIT_S = 20.0
# Exit codes when a stop could not finish cleanly (a second signal, or past STOP_LIMIT_S).
FORCED = 1


async def stop_on_signals(
    request_stop: Callable[[], None], *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Call `request_stop` at the first SIGTERM or SIGINT; end the process at a second one, or when the stop takes
    longer than `STOP_LIMIT_S`."""
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
            say(f"veo-mcp: {name} received: stopping (a second signal stops at once).")
            threading.Thread(target=_force_after, args=(STOP_LIMIT_S,), daemon=True).start()
            request_stop()


def _force_after(seconds: float) -> None:
    """The last resort of a stop that hangs: whatever it is waiting for, the process ends."""
    time.sleep(seconds)
    say(f"veo-mcp: the clean stop took longer than {seconds:g} s; stopping at once.")
    os._exit(FORCED)


class StdinLines:
    """The process's stdin as lines, read by a daemon thread: a stop never waits for a client that says nothing
    (the SDK's own reader blocks a worker thread the stop would have to wait for)."""

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[str](16)
        self._token = anyio.lowlevel.current_token()
        stream = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        threading.Thread(target=self._read, args=(stream,), daemon=True, name="veo-mcp stdin").start()

    def _read(self, stream: Any) -> None:
        try:
            for line in stream:
                anyio.from_thread.run(self._send.send, line, token=self._token)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, RuntimeError):
            return  # the server stopped reading (or the event loop is gone)
        finally:
            with contextlib.suppress(RuntimeError):  # the event loop is gone: nobody is reading
                anyio.from_thread.run_sync(self._send.close, token=self._token)

    async def __aiter__(self) -> AsyncIterator[str]:
        async with self._receive:
            async for line in self._receive:
                yield line
