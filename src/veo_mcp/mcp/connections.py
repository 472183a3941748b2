"""Connections the HTTP server holds: bounded in time and per client address, so half-open ones cannot starve it.

Why: uvicorn waits for a request head (and a request body) without any limit, so a client that opens connections and
sends a few bytes, or none, holds a file descriptor each forever; some thousands of them and nobody else, `/healthz`
included, gets through. `GuardedH11Protocol` is uvicorn's own h11 protocol with three bounds added: a request head
must arrive within `VEO_MCP_HTTP_HEADER_TIMEOUT`, a body must not pause longer than `VEO_MCP_HTTP_BODY_TIMEOUT`, and
one client address holds at most `VEO_MCP_HTTP_MAX_CONNECTIONS_PER_CLIENT` connections (the rest are closed as soon
as they are accepted; 0 turns the cap off, for a reverse proxy that is the only client). Streams that answered their
request (SSE) are not bounded: the request was read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

# Connections accepted in one go before any is looked at: each holds a file descriptor until the loop's next turn, so
# a flood of connects cannot use up the descriptors between two turns (uvicorn's default takes 2048 at once).
ACCEPT_BATCH = 128
RESOURCE_LOG_EVERY_S = 60.0


@dataclass
class ConnectionLimits:
    """The bounds, and the connections each client address holds now (shared by every connection's protocol)."""

    header_timeout_s: float
    body_timeout_s: float
    per_client: int
    held: Counter[str] = field(default_factory=Counter)
    refused: int = 0

    def admit(self, address: str) -> bool:
        if self.per_client and self.held[address] >= self.per_client:
            self.refused += 1
            if self.refused in (1, 10, 100, 1000) or self.refused % 10_000 == 0:
                logger.warning(
                    "refused %d connection(s) so far: %s already holds %d (VEO_MCP_HTTP_MAX_CONNECTIONS_PER_CLIENT)",
                    self.refused,
                    address,
                    self.held[address],
                )
            return False
        self.held[address] += 1
        return True

    def release(self, address: str) -> None:
        self.held[address] -= 1
        if self.held[address] <= 0:
            del self.held[address]

    def protocol(self) -> type[H11Protocol]:
        """The protocol class uvicorn builds each connection with (`uvicorn.Config(http=...)`)."""
        limits = self

        class Guarded(GuardedH11Protocol):
            _limits = limits

        return Guarded


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head and body, and the per-address cap."""

    _limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._address: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else "unknown"
        if not self._limits.admit(address):
            transport.abort()  # no answer: one would cost what the cap saves
            return
        self._address = address
        self._arm(self._limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            self._limits.release(self._address)
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._rearm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._rearm()

    def _rearm(self) -> None:
        """Head still awaited: its deadline stands; body under way: it may pause `body_timeout_s`; else none."""
        if self.transport is None or self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm(self._limits.body_timeout_s)
        elif state is h11.IDLE and self.conn.our_state is h11.IDLE:
            if self._deadline is None:
                self._arm(self._limits.header_timeout_s)
        else:
            self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        """The head or body did not arrive in time: the connection is closed (a 408 only when one can be sent)."""
        self._deadline = None
        if self.transport.is_closing():
            return
        # A body stopped half-way (h11 is waiting for the rest; the response is not begun: h11 puts this side in
        # SEND_RESPONSE as soon as a head arrives): the application waits for it; tell the client, then close.
        if self.conn.their_state is h11.SEND_BODY and self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                response = h11.Response(
                    status_code=408,
                    reason=b"Request Timeout",
                    headers=[(b"connection", b"close"), (b"content-length", b"0")],
                )
                self.transport.write(self.conn.send(response) or b"")
                self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:
                pass
        self.transport.close()


class OutOfDescriptorsFilter(logging.Filter):
    """asyncio logs a traceback at every accept that finds no file descriptor left, many a second while a flood lasts:
    one line a minute says it (with how many were held back), so the log cannot fill the disk."""

    def __init__(self, every_s: float = RESOURCE_LOG_EVERY_S) -> None:
        super().__init__()
        self._every_s = every_s
        self._last: float | None = None
        self._held_back = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        now = time.monotonic()
        if self._last is not None and now - self._last < self._every_s:
            self._held_back += 1
            return False
        record.msg = (
            f"{record.getMessage()}: no file descriptor left for new connections ({self._held_back} more such "
            f"messages in the last {self._every_s:g} s were not logged); raise the open-file limit (ulimit -n) or "
            "lower VEO_MCP_HTTP_MAX_CONNECTIONS_PER_CLIENT"
        )
        record.args, record.exc_info, record.exc_text = None, None, None
        self._last, self._held_back = now, 0
        return True
