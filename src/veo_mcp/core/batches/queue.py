"""The batch queue: queued items are sent through the generate pipeline as the account's capacity allows, each
principal in turn.

Every item goes through `GeneratePipeline.generate` with its derived `request_id`, so every money rule applies to it
(the create ledger, the duplicate guard, the budgets, the create rate) and an item whose create was recorded is never
sent twice. At most `VEO_MCP_MAX_CONCURRENT` generations run upstream at once (creates of unknown outcome count as
running), and when a slot frees the principals with queued items take turns (round robin), so one user's long batch
never keeps another's waiting. A definite "not now" holds the queue and the item stays queued instead of failing: the
account's (a 429 from EvoLink, a refused key or credit) holds everyone, a principal's own (their create-rate brake)
holds only them (see `holds`). The queue is durable: a create on the wire when the server stops is waited for (the
client never abandons one), an item stopped before it was sent stays queued, and the batches with unsent items are
taken up again after a restart, or by a running replica once the process that ran them is gone (its heartbeat
lapsed), unasked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from veo_mcp.background.poller import Poller
from veo_mcp.context import acting_as
from veo_mcp.core.batches.holds import Holds
from veo_mcp.core.batches.model import Batch
from veo_mcp.core.events import ChangeBus
from veo_mcp.core.generation import Generation
from veo_mcp.core.pipeline import GeneratePipeline
from veo_mcp.core.registry import Registry
from veo_mcp.errors import VeoError
from veo_mcp.evolink import OutcomeUnknownError, TemporaryError, parse_video_request
from veo_mcp.evolink.errors import AuthenticationError, InsufficientCreditError
from veo_mcp.money import guards
from veo_mcp.money.ledger import CreateLedger
from veo_mcp.settings import Settings
from veo_mcp.storage import BatchItemRecord, BatchRecord, DatabaseWriteError, Store

logger = logging.getLogger(__name__)

# How long the queue waits before trying again: after a 429 without Retry-After (sooner when a generation
# finishes), after the create-rate brake, after trouble that sent nothing; and at most between two looks.
HOLD_AFTER_429_S = 10.0
HOLD_AFTER_RATE_S = 5.0
HOLD_AFTER_TROUBLE_S = 10.0
HOLD_AFTER_ACCOUNT_S = 60.0  # the key or the credit was refused: nothing was created; the queue waits for the fix
RECHECK_S = 30.0
# How often the store is searched for batch queues no live process runs (a replica that stopped or died ran them).
ORPHAN_SCAN_S = 2.0
# What every principal is told when EvoLink answers 429: the account is busy, never whose generations keep it so.
ACCOUNT_BUSY = (
    "the EvoLink account is busy (EvoLink answered 429: its limit of generations or requests at once was reached); "
    "queued items are sent as soon as a running generation finishes"
)

BatchListener = Callable[[Batch], Awaitable[None]]


class BatchQueue:
    """The batches this process knows, the queues it runs (`claimed`), and the loop that sends their items."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        pipeline: GeneratePipeline,
        registry: Registry,
        poller: Poller,
        ledger: CreateLedger,
        bus: ChangeBus,
        listeners: list[BatchListener],
    ) -> None:
        self._settings = settings
        self._store = store
        self._pipeline = pipeline
        self._registry = registry
        self._poller = poller
        self._ledger = ledger
        self.batches: dict[str, Batch] = {}
        self.claimed: set[str] = set()  # batches whose queue this process runs
        self._of_task: dict[str, set[str]] = {}  # generation task id → batches it is an item of
        self._listeners = listeners
        self._wake = anyio.Event()
        self._holds = Holds()
        self._last_served: str | None = None  # the principal whose item was sent last (round robin)
        bus.subscribe(self._on_generation)

    @property
    def queued(self) -> int:
        """Items of the batches whose queue this process runs that wait to be sent (one being sent is a create under
        way, counted with those: `veo_mcp_queue_length{queue="creates"}`)."""
        return sum(
            sum(1 for item in b.items if item.state == "queued")
            for b in self.batches.values()
            if b.record.cancelled_at is None and b.batch_id in self.claimed
        )

    def remember(self, record: BatchRecord, items: list[BatchItemRecord]) -> Batch:
        """The batch as known here, updated from what the store says (its `changed` is set when that differs)."""
        batch = self.batches.get(record.batch_id)
        if batch is None:
            batch = self.batches[record.batch_id] = Batch(record, items)
        elif (batch.record, batch.items) != (record, items):
            batch.record, batch.items = record, items
            batch.mark_changed()
        for item in items:
            if item.task_id is not None:
                self._of_task.setdefault(item.task_id, set()).add(record.batch_id)
        return batch

    async def note(self, batch: Batch) -> str | None:
        """Why `batch`'s queued items wait, as its owner may be told: this process's word when it runs the queue,
        else which process does (or that the one that did is gone and the queue is being taken over)."""
        if batch.batch_id in self.claimed:
            return self._holds.note(batch.record.principal)
        if batch.record.cancelled_at is not None or not batch.unsent():
            return None
        owner = batch.record.owner
        if owner is not None and await self._store.owner_alive(owner):
            return (
                "another veo-mcp replica runs this batch's queue and sends its queued items as the account's "
                "capacity allows"
            )
        return (
            "waiting for a replica: the veo-mcp process that ran this batch's queue has stopped; a running one "
            f"takes the queue over within {ORPHAN_SCAN_S:g} s"
        )

    async def resume(self) -> None:
        """After a (re)start: take up the batches that still have items to send."""
        for principal, batch_id in await self._store.batches_with_unsent_items():
            stored = await self._store.batch(batch_id, principal)
            if stored is not None:
                self.remember(*stored)
        self.wake()

    async def run(self) -> None:
        """The queue loop, and the look for queues nobody runs any more; runs in the app's task group until
        cancelled."""
        async with anyio.create_task_group() as group:
            group.start_soon(self._take_over_orphans)
            await self._queue_loop()

    async def _queue_loop(self) -> None:
        while True:
            wake = self._wake
            try:
                delay = await self._send_what_fits()
            except DatabaseWriteError as error:
                logger.error("the batch queue cannot write its state: %s", error.message)
                delay = HOLD_AFTER_TROUBLE_S
            with anyio.move_on_after(delay):
                await wake.wait()
            if wake.is_set():
                self._wake = anyio.Event()

    async def _take_over_orphans(self) -> None:
        """Batches whose queue a process that stopped (or died) ran are taken up here, unasked: the same lapse of a
        heartbeat that hands polls and downloads over hands queues over."""
        while True:
            await anyio.sleep(ORPHAN_SCAN_S)
            try:
                orphans = await self._store.orphaned_batches()
            except DatabaseWriteError as error:
                logger.warning("cannot look for batch queues nobody runs: %s", error.message)
                continue
            found = False
            for principal, batch_id in orphans:
                if batch_id in self.claimed:
                    continue
                stored = await self._store.batch(batch_id, principal)
                if stored is not None:
                    logger.info("taking over the queue of batch %s: the process that ran it is gone", batch_id)
                    self.remember(*stored)
                    found = True
            if found:
                self.wake()

    def wake(self) -> None:
        """Look at the queue now (a batch was queued, a slot may have freed)."""
        self._wake.set()

    def _running(self) -> list[Generation]:
        # The account's concurrency is shared by everyone: every principal's running generations count.
        generations = self._registry.generations.values()
        return [g for g in generations if not g.finished and self._poller.tracks(g.task_id)]

    def _principals_in_turn(self) -> list[str]:
        """The principals with queued items, round robin: the one after the last served goes first."""
        waiting = sorted(
            {b.record.principal for b in self.batches.values() if b.record.cancelled_at is None and b.unsent()}
        )
        if self._last_served is None:
            return waiting
        later = [p for p in waiting if p > self._last_served]
        return later + [p for p in waiting if p <= self._last_served]

    async def _next_item(self, principal: str) -> tuple[Batch, BatchItemRecord] | None:
        """`principal`'s next item to send (their oldest batch first) from a queue this process runs, if any."""
        batches = sorted(
            (b for b in self.batches.values() if b.record.principal == principal),
            key=lambda b: b.record.created_at,
        )
        for batch in batches:
            if batch.record.cancelled_at is not None or not batch.unsent():
                continue
            if batch.batch_id not in self.claimed:
                if not await self._store.claim_batch(batch.batch_id, principal):
                    continue  # another live process runs it
                self.claimed.add(batch.batch_id)
                if (stored := await self._store.batch(batch.batch_id, principal)) is not None:
                    batch = self.remember(*stored)  # what the process that ran it did meanwhile
                if batch.record.cancelled_at is not None or not batch.unsent():
                    continue
            return batch, batch.unsent()[0]
        return None

    async def _send_what_fits(self) -> float:
        """Send queued items while there is capacity, one item per principal in turn, so nobody's queue waits
        behind another's; how long to wait before looking again."""
        if (wait := self._holds.account_wait()) > 0:
            for principal in self._principals_in_turn():
                self._holds.tell(principal, self._holds.account_reason())
            return wait
        waits = [RECHECK_S]
        turn = self._principals_in_turn()
        # Creates whose outcome is not known yet may be rendering: they count as running until they are resolved or
        # old enough to have finished (read once a pass; an item sent in it is followed here, or counted below).
        unresolved = await self._ledger.unresolved_creates() if turn else 0
        while turn:
            served: list[str] = []
            for position, principal in enumerate(turn):
                if (own := self._holds.wait_of(principal)) > 0:
                    self._holds.tell(principal, self._holds.reason_of(principal))
                    waits.append(own)
                    continue
                found = await self._next_item(principal)
                if found is None:
                    self._holds.tell(principal, None)
                    continue
                running, (limit, source) = (
                    len(self._running()) + unresolved,
                    self._holds.limit(self._settings.max_concurrent),
                )
                if running >= limit:
                    for waiting in turn[position:]:
                        if self._holds.wait_of(waiting) == 0:
                            self._holds.tell(waiting, self._busy_note(waiting, limit, source))
                    return min(waits)  # woken sooner when a generation finishes
                held = await self._send(*found)
                unresolved += found[1].state == "outcome_unknown"
                self._last_served = principal
                if (account := self._holds.account_wait()) > 0:
                    for waiting in self._principals_in_turn():
                        self._holds.tell(waiting, self._holds.account_reason())
                    return account
                if held is None:
                    self._holds.tell(principal, None)
                    served.append(principal)
                else:
                    waits.append(held)
            turn = served
        return min(waits)

    def _busy_note(self, principal: str, limit: int, source: str) -> str:
        """Why `principal`'s items wait for a slot, counting only their own running generations."""
        own = sum(1 for g in self._running() if g.owner == principal)
        return (
            f"waiting for a free slot: the EvoLink account is busy (at most {limit} generations run at once: "
            f"{source}); you have {own} running"
        )

    async def _send(self, batch: Batch, item: BatchItemRecord) -> float | None:
        """Send one item through the pipeline; a hold (seconds) when the queue must wait, else None."""
        item.state, item.message = "sending", None
        await self._save(batch, item)
        try:
            uploaded = item.payload.get("image_urls", []) if item.arguments.get("image_files") else []
            with acting_as(batch.record.principal):  # the batch's owner pays, under their own limits
                outcome = await self._pipeline.generate(
                    parse_video_request(item.payload, uploaded_image_urls=uploaded),
                    request_id=item.request_id,
                    allow_duplicate=batch.record.allow_duplicate,
                    consent="given",  # the whole batch was confirmed when it was submitted
                )
        except anyio.get_cancelled_exc_class():
            # Stopped before EvoLink made anything (a create on the wire is waited for, and a made task is
            # recorded before generate returns): the item goes back in the queue for the next server.
            with anyio.CancelScope(shield=True):
                item.state = "queued"
                await self._store.update_batch_item(item)
            raise
        except guards.CreateRateError as error:  # the principal's own brake: their queue alone waits
            return await self._hold(batch, item, HOLD_AFTER_RATE_S, error.message)
        except TemporaryError as error:
            if error.status_code != 429:  # trouble that certainly sent nothing: this item's owner tries again soon
                return await self._hold(batch, item, HOLD_AFTER_TROUBLE_S, f"{error.message} Trying again shortly.")
            # EvoLink's concurrency or rate limit: the account's, so everyone waits, told only that it is busy.
            if (running := len(self._running())) > 0:
                self._holds.learn_limit(running)
            hold = error.retry_after if error.retry_after is not None else HOLD_AFTER_429_S
            return await self._hold(batch, item, hold, ACCOUNT_BUSY, account=True, clears_on_finish=True)
        except (AuthenticationError, InsufficientCreditError) as error:
            # A definite "no" about the account, not the item: it stays queued for when the key or credit is fixed.
            reason = f"{error.message} The batch's queued items are sent once that is fixed."
            return await self._hold(batch, item, HOLD_AFTER_ACCOUNT_S, reason, account=True)
        except DatabaseWriteError as error:
            return await self._hold(batch, item, HOLD_AFTER_TROUBLE_S, error.message, account=True)
        except OutcomeUnknownError as error:
            item.state, item.message = "outcome_unknown", str(error)
        except VeoError as error:
            item.state, item.message = "refused", str(error)
        else:
            generation = outcome.generation
            item.state, item.task_id = "created", generation.task_id
            item.reused, item.message = outcome.reused is not None, outcome.warning
            self._of_task.setdefault(generation.task_id, set()).add(batch.batch_id)
        await self._save(batch, item)
        return None

    async def _hold(
        self,
        batch: Batch,
        item: BatchItemRecord,
        seconds: float,
        reason: str,
        *,
        account: bool = False,
        clears_on_finish: bool = False,
    ) -> float:
        """Put `item` back in the queue and hold its owner's queue (everyone's when `account`) for `seconds`, or
        until a generation finishes when `clears_on_finish`."""
        item.state = "queued"
        if account:
            self._holds.hold_account(seconds, reason, clears_on_finish=clears_on_finish)
        else:
            self._holds.hold(batch.record.principal, seconds, reason, clears_on_finish=clears_on_finish)
        await self._save(batch, item)
        return seconds

    async def _save(self, batch: Batch, item: BatchItemRecord) -> None:
        await self._store.update_batch_item(item)
        batch.items = [item if other.position == item.position else other for other in batch.items]
        batch.record = batch.record.model_copy(update={"updated_at": time.time()})
        batch.mark_changed()
        await self.tell(batch)

    async def tell(self, batch: Batch) -> None:
        """Tell every listener that `batch` changed (a failing listener is logged, never the queue's problem)."""
        for listener in self._listeners:
            try:
                await listener(batch)
            except Exception:
                logger.exception("batch listener failed for %s", batch.batch_id)

    async def _on_generation(self, generation: Generation) -> None:
        """Change-bus listener: a finished generation frees a slot; the batches it belongs to changed."""
        if generation.finished:
            self._holds.generation_finished()
            self.wake()
        await self._take_in_joined(generation)
        for batch_id in sorted(self._of_task.get(generation.task_id, ())):
            batch = self.batches.get(batch_id)
            if batch is not None:
                batch.mark_changed()
                await self.tell(batch)

    async def _take_in_joined(self, generation: Generation) -> None:
        """`generation` may be the task of an item whose create's outcome was unknown (joined to it since): its
        batch is read again, so the item shows the task and the batch follows it."""
        if generation.request_id is None:
            return
        for batch in list(self.batches.values()):
            mine = batch.record.principal == generation.owner
            if mine and any(
                i.state == "outcome_unknown" and i.request_id == generation.request_id for i in batch.items
            ):
                stored = await self._store.batch(batch.batch_id, batch.record.principal)
                if stored is not None:
                    self.remember(*stored)
