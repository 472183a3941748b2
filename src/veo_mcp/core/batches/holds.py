"""Why the batch queue waits, and whose business that is.

Two kinds of "not now" hold the queue. The account's own (EvoLink's 429, its refusal of the key or the credit, trouble
that sent nothing, a database that cannot be written) holds every principal's batches: they share the one EvoLink
key. A principal's own (their create-rate brake) holds only their batches: another user's queue goes on. Each
principal is told only about the holds that concern them, in words that show nobody else's activity: a 429 says
that the account is busy, never who keeps it busy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio

logger = logging.getLogger(__name__)

# After a 429 the queue keeps below the number of generations that were running then, for this long: EvoLink's
# account limit is not published, so it is learned (and tried again later, in case the account's limit grew).
LEARNED_LIMIT_S = 600.0


@dataclass
class Hold:
    """Nothing is sent before `until` (the anyio clock), or before a generation finishes when `clears_on_finish`."""

    until: float = 0.0
    reason: str | None = None
    clears_on_finish: bool = False

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)


class Holds:
    """The account's hold, each principal's own, and what each principal's queue is told while it waits."""

    def __init__(self) -> None:
        self._account = Hold()
        self._own: dict[str, Hold] = {}
        self._notes: dict[str, str] = {}  # principal → why their queued items wait (the latest word)
        self._learned: tuple[int, float] | None = None  # (limit, until when, anyio clock)

    def hold_account(self, seconds: float, reason: str, *, clears_on_finish: bool) -> None:
        self._account = Hold(anyio.current_time() + seconds, reason, clears_on_finish)
        logger.info("batch queue held for everyone for %g s: %s", seconds, reason)

    def hold(self, principal: str, seconds: float, reason: str, *, clears_on_finish: bool = False) -> None:
        self._own[principal] = Hold(anyio.current_time() + seconds, reason, clears_on_finish)
        logger.info("batch queue of %s held for %g s: %s", principal, seconds, reason)

    def account_wait(self) -> float:
        """Seconds until the account's hold ends (0: not held)."""
        return self._account.remaining(anyio.current_time())

    def wait_of(self, principal: str) -> float:
        """Seconds until `principal`'s queue may send again (the account's hold included; 0: now)."""
        own = self._own.get(principal)
        now = anyio.current_time()
        return max(self._account.remaining(now), own.remaining(now) if own is not None else 0.0)

    def account_reason(self) -> str | None:
        return self._account.reason if self.account_wait() > 0 else None

    def reason_of(self, principal: str) -> str | None:
        """Why `principal`'s queue is held now (the account's reason first), None when it is not."""
        if (account := self.account_reason()) is not None:
            return account
        own = self._own.get(principal)
        return own.reason if own is not None and own.remaining(anyio.current_time()) > 0 else None

    def generation_finished(self) -> None:
        """A slot freed: holds that wait for one end now."""
        if self._account.clears_on_finish:
            self._account = Hold()
        for principal, hold in list(self._own.items()):
            if hold.clears_on_finish:
                del self._own[principal]

    # --- what each principal is told ---------------------------------------------------------------------------

    def note(self, principal: str) -> str | None:
        """Why `principal`'s queued items wait: a hold on them now, else the queue's latest word (a full account)."""
        return self.reason_of(principal) or self._notes.get(principal)

    def tell(self, principal: str, note: str | None) -> None:
        if note is None:
            self._notes.pop(principal, None)
        else:
            self._notes[principal] = note

    # --- the account's concurrency, learned from EvoLink's 429s --------------------------------------------------

    def learn_limit(self, running: int) -> None:
        self._learned = (running, anyio.current_time() + LEARNED_LIMIT_S)

    def limit(self, configured: int) -> tuple[int, str]:
        """How many generations may run at once now, and where that limit comes from."""
        if self._learned is not None:
            learned, until = self._learned
            if anyio.current_time() >= until:
                self._learned = None
            elif learned < configured:
                return learned, "EvoLink's concurrency limit, learned from its last 429"
        return configured, "VEO_MCP_MAX_CONCURRENT"
