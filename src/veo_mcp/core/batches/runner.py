"""The batch queue: items are sent through the generate pipeline as the account's capacity allows.

Every item goes through `GeneratePipeline.generate` with its derived `request_id`, so every money rule applies to it
(the create ledger, the duplicate guard, the budgets, the create rate) and an item whose create was recorded is never
sent twice. The whole batch was confirmed once, before any of it was sent (`submit`). At most
`VEO_MCP_MAX_CONCURRENT` generations run upstream at once; a definite "not now" - a 429 from EvoLink (its concurrency
or rate limit), a refused key or credit, the create-rate brake - holds the queue and the item stays queued instead of
failing. The queue is durable: a create on the wire when the server stops is waited for (the client never abandons
one), an item stopped before it was sent stays queued, and after a restart the batches with unsent items are taken up
again by whichever process claims them first.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from veo_mcp.background.poller import Poller
from veo_mcp.context import acting_as, current_principal
from veo_mcp.core.batches.model import Batch, BatchState, batch_state
from veo_mcp.core.batches.plan import (
    BatchError,
    PlannedItem,
    PreparedItem,
    planned_items,
    refused_item,
)
from veo_mcp.core.events import ChangeBus
from veo_mcp.core.generation import Generation
from veo_mcp.core.pipeline import Consent, GeneratePipeline
from veo_mcp.core.registry import Registry
from veo_mcp.errors import VeoError
from veo_mcp.evolink import OutcomeUnknownError, TemporaryError, parse_video_request
from veo_mcp.evolink.costs import CostEstimate, total_estimate
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
# After a 429 the queue keeps below the number of generations that were running then, for this long: EvoLink's
# account limit is not published, so it is learned (and tried again later, in case the account's limit grew).
LEARNED_LIMIT_S = 600.0
# A batch another process runs is re-read this often while waiting on it.
FOREIGN_REFRESH_S = 1.0

BatchListener = Callable[[Batch], Awaitable[None]]
Report = Callable[[BatchState], Awaitable[None]]


class UnknownBatchError(VeoError):
    default_advice = "Use a batch_id that generate_batch returned (batch ids look like 'batch-…')."
    action = "check_id"


def unknown_batch(batch_id: str) -> UnknownBatchError:
    """The one answer for a batch the caller may not see: unknown, or another principal's (no existence leak)."""
    return UnknownBatchError(f"veo-mcp has no batch {batch_id!r}.")


def _mine(batch: Batch) -> Batch:
    if batch.record.principal != current_principal():
        raise unknown_batch(batch.batch_id)
    return batch


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A checked batch: its items, what it costs in total, and either the earlier batch answering it or the cost
    question (None when no confirmation is needed)."""

    items: list[PlannedItem]
    fingerprint: str
    batch_id: str
    request_id: str | None
    allow_duplicate: bool
    total: CostEstimate
    label: str
    earlier: BatchRecord | None
    question: str | None


@dataclass(frozen=True, slots=True)
class Submitted:
    batch: Batch
    reused: bool


def _label(items: Sequence[PlannedItem]) -> str:
    prompt = " ".join(items[0].item.request.prompt.split())
    prompt = prompt if len(prompt) <= 60 else prompt[:59] + "…"
    return prompt + (f" (+{len(items) - 1} more)" if len(items) > 1 else "")


class BatchRunner:
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
        listeners: list[BatchListener] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._pipeline = pipeline
        self._registry = registry
        self._poller = poller
        self._ledger = ledger
        self._batches: dict[str, Batch] = {}
        self._of_task: dict[str, set[str]] = {}  # generation task id → batches it is an item of
        self._claimed: set[str] = set()  # batches whose queue this process runs
        self._listeners: list[BatchListener] = listeners if listeners is not None else []
        self._wake = anyio.Event()
        self._held_until = 0.0
        self._hold_clears_on_finish = False
        self._note: str | None = None
        self._learned: tuple[int, float] | None = None  # (limit, until when, anyio clock)
        bus.subscribe(self._on_generation)

    @property
    def queued(self) -> int:
        """Items of this process's batches that wait in the queue to be sent."""
        return sum(len(b.unsent()) for b in self._batches.values() if b.record.cancelled_at is None)

    def subscribe(self, listener: BatchListener) -> None:
        self._listeners.append(listener)

    # --- planning and submitting --------------------------------------------------------------------------------

    async def plan(
        self, prepared: Sequence[PreparedItem], *, request_id: str | None, allow_duplicate: bool
    ) -> BatchPlan:
        """Every check that needs nobody's answer, for every item and for the total; raises the first refusal."""
        if not prepared:
            raise BatchError("The batch has no items.")
        items, fingerprint, batch_id = planned_items(prepared, request_id, allow_duplicate)
        total = total_estimate([item.estimate for item in items])
        earlier = await self._earlier(batch_id, fingerprint, request_id, allow_duplicate)
        question = None
        if earlier is None:
            for item in items:
                try:
                    guards.check_request_limit(self._ledger.settings(), item.estimate)
                    if not item.item.images:
                        await self._pipeline.check_addresses(item.item.request)
                except VeoError as error:
                    raise refused_item(item.item.index, error) from None
            await self._ledger.check_batch(total)
            await self._ledger.check_not_declined(fingerprint, total)
            self._pipeline.check_output([item.item.request for item in items])
            if guards.needs_confirmation(self._ledger.settings(), total):
                question = guards.batch_confirmation_question(self._ledger.settings(), total, len(items))
        label = _label(items)
        return BatchPlan(items, fingerprint, batch_id, request_id, allow_duplicate, total, label, earlier, question)

    async def _earlier(
        self, batch_id: str, fingerprint: str, request_id: str | None, allow_duplicate: bool
    ) -> BatchRecord | None:
        if (stored := await self._store.batch(batch_id, current_principal())) is not None:
            return stored[0]
        since = self._same_since(request_id, allow_duplicate)
        return None if since is None else await self._store.recent_batch(fingerprint, since, current_principal())

    def _same_since(self, request_id: str | None, allow_duplicate: bool) -> float | None:
        window = self._settings.duplicate_window_s
        if request_id is not None or allow_duplicate or window <= 0:
            return None
        return time.time() - window

    async def submit(
        self,
        prepared: Sequence[PreparedItem],
        *,
        request_id: str | None,
        allow_duplicate: bool,
        consent: Consent,
        confirm_cost: bool,
    ) -> Submitted:
        """Queue the batch (planned again: nothing is trusted from an earlier round), or return the batch that
        already answers it. Above the threshold the user's own answer decides; `confirm_cost` counts only when
        nobody could ask them."""
        plan = await self.plan(prepared, request_id=request_id, allow_duplicate=allow_duplicate)
        if plan.earlier is not None:
            return Submitted(await self.get(plan.earlier.batch_id), reused=True)
        if plan.question is not None and consent != "given":
            if consent == "declined":
                await self._ledger.record_decline(plan.fingerprint)
                raise guards.declined(plan.total)
            if consent == "dismissed":
                raise guards.dismissed(plan.total)
            if not confirm_cost:
                raise guards.confirmation_required(self._ledger.settings(), plan.total, plan.question, "generate_batch")
        records = [await self._item_record(plan.batch_id, item) for item in plan.items]
        now = time.time()
        record = BatchRecord(
            batch_id=plan.batch_id,
            request_id=plan.request_id,
            fingerprint=plan.fingerprint,
            label=plan.label,
            estimate_usd=plan.total.usd,
            allow_duplicate=plan.allow_duplicate,
            created_at=now,
            updated_at=now,
            principal=current_principal(),
        )
        same_since = self._same_since(plan.request_id, plan.allow_duplicate)
        stored, items, reused = await self._store.add_batch(record, records, same_since=same_since)
        batch = self._remember(stored, items)
        if not reused:
            self._claimed.add(batch.batch_id)
            logger.info("batch %s queued: %d items, %s", batch.batch_id, len(items), plan.total.summary)
        self._wake_queue()
        await self._tell(batch)
        return Submitted(batch, reused)

    async def _item_record(self, batch_id: str, planned: PlannedItem) -> BatchItemRecord:
        """An item as stored: its local images uploaded now (after the confirmation), so the queue needs no files."""
        item = planned.item
        request, payload, notes = await self._pipeline.uploaded(item.request, planned.payload, item.images)
        return BatchItemRecord(
            batch_id=batch_id,
            principal=current_principal(),
            position=item.index,
            arguments=item.arguments,
            payload=payload,
            notes=notes,
            request_id=planned.request_id,
            estimate_usd=planned.estimate.usd,
            duration=request.effective_duration,
        )

    # --- reading ------------------------------------------------------------------------------------------------

    def _remember(self, record: BatchRecord, items: list[BatchItemRecord]) -> Batch:
        batch = self._batches.get(record.batch_id)
        if batch is None:
            batch = self._batches[record.batch_id] = Batch(record, items)
        elif (batch.record, batch.items) != (record, items):
            batch.record, batch.items = record, items
            batch.mark_changed()
        for item in items:
            if item.task_id is not None:
                self._of_task.setdefault(item.task_id, set()).add(record.batch_id)
        return batch

    async def get(self, batch_id: str) -> Batch:
        """The current principal's batch by id (another principal's reads as unknown); one whose queue another
        process runs is read again from the store."""
        known = self._batches.get(batch_id)
        if known is not None and batch_id in self._claimed:
            return _mine(known)
        stored = await self._store.batch(batch_id, current_principal())
        if stored is None:
            raise unknown_batch(batch_id)
        return self._remember(*stored)

    async def state(self, batch: Batch) -> BatchState:
        generations: dict[str, Generation] = {}
        for task_id in batch.task_ids():
            if (generation := await self._registry.lookup(task_id)) is not None:
                generations[task_id] = generation
        return batch_state(batch, generations, self._note)

    async def task_ids(self, batch_id: str) -> list[str]:
        return (await self.get(batch_id)).task_ids()

    async def wait(self, batch_id: str, timeout_s: float, report: Report | None = None) -> BatchState:
        """Wait until every item has finished (a rendered one once its videos are saved or their save failed) or
        `timeout_s` passes; never longer (0: look once). Reports each change."""
        if timeout_s <= 0:
            now = await self.state(await self.get(batch_id))
            if report is not None:
                await report(now)
            return now
        state: BatchState | None = None
        with anyio.move_on_after(timeout_s):
            batch = await self.get(batch_id)
            while True:
                changed = batch.changed
                state = await self.state(batch)
                if report is not None:
                    await report(state)
                if state.finished:
                    break
                with anyio.move_on_after(FOREIGN_REFRESH_S if batch_id not in self._claimed else math.inf):
                    await changed.wait()
                batch = await self.get(batch_id)
        if state is None:
            raise TemporaryError(f"The batch {batch_id} could not be read within {timeout_s:g} s.")
        return state if state.finished else await self.state(await self.get(batch_id))

    async def cancel(self, batch_id: str, message: str) -> Batch:
        """Send nothing more of `batch_id`: its queued items are cancelled (created ones go on upstream)."""
        await self.get(batch_id)  # the caller's own batch, or unknown
        await self._store.cancel_batch(batch_id, current_principal(), message)
        stored = await self._store.batch(batch_id, current_principal())
        if stored is None:
            raise unknown_batch(batch_id)
        batch = self._remember(*stored)
        await self._tell(batch)
        return batch

    # --- the queue ----------------------------------------------------------------------------------------------

    async def resume(self) -> None:
        """After a (re)start: take up the batches that still have items to send."""
        for principal, batch_id in await self._store.batches_with_unsent_items():
            stored = await self._store.batch(batch_id, principal)
            if stored is not None:
                self._remember(*stored)
        self._wake_queue()

    async def run(self) -> None:
        """The queue loop; runs in the app's task group until cancelled."""
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

    def _wake_queue(self) -> None:
        self._wake.set()

    def _running_count(self) -> int:
        # The account's concurrency is shared by everyone: every principal's running generations count.
        generations = self._registry.generations.values()
        return sum(1 for g in generations if not g.finished and self._poller.tracks(g.task_id))

    def _limit(self) -> tuple[int, str]:
        """How many generations may run at once now, and where that limit comes from."""
        limit, source = self._settings.max_concurrent, "VEO_MCP_MAX_CONCURRENT"
        if self._learned is not None:
            learned, until = self._learned
            if anyio.current_time() >= until:
                self._learned = None
            elif learned < limit:
                limit, source = learned, "EvoLink's concurrency limit, learned from its last 429"
        return limit, source

    async def _send_what_fits(self) -> float:
        """Send queued items while there is capacity; how long to wait before looking again."""
        now = anyio.current_time()
        if self._held_until > now:
            return self._held_until - now
        queued = sorted(
            (b for b in self._batches.values() if b.record.cancelled_at is None and b.unsent()),
            key=lambda b: b.record.created_at,
        )
        for batch in queued:
            if batch.batch_id not in self._claimed:
                if not await self._store.claim_batch(batch.batch_id, batch.record.principal):
                    continue  # another live process runs it
                self._claimed.add(batch.batch_id)
            while batch.record.cancelled_at is None and (unsent := batch.unsent()):
                item = unsent[0]
                running = self._running_count()
                limit, source = self._limit()
                if running >= limit:
                    self._note = (
                        f"waiting for a free slot: {running} generations are running and at most {limit} may run "
                        f"at once ({source})"
                    )
                    return RECHECK_S  # woken sooner when a generation finishes
                held = await self._send(batch, item)
                if held is not None:
                    return held
        self._note = None
        return RECHECK_S

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
        except guards.CreateRateError as error:
            return await self._hold(batch, item, HOLD_AFTER_RATE_S, error.message, clears_on_finish=False)
        except TemporaryError as error:
            # A 429 (concurrency or rate limit), or trouble that certainly sent nothing: wait, never fail the item.
            limited = error.status_code == 429
            if limited and (running := self._running_count()) > 0:
                self._learned = (running, anyio.current_time() + LEARNED_LIMIT_S)
            reason = (
                f"EvoLink's limit was reached ({error.message}); waiting for a running generation to finish"
                if limited
                else f"{error.message} Trying again shortly."
            )
            hold = error.retry_after if error.retry_after is not None else HOLD_AFTER_429_S
            return await self._hold(batch, item, hold if limited else HOLD_AFTER_TROUBLE_S, reason, limited)
        except (AuthenticationError, InsufficientCreditError) as error:
            # A definite "no" about the account, not the item: it stays queued for when the key or credit is fixed.
            reason = f"{error.message} The batch's queued items are sent once that is fixed."
            return await self._hold(batch, item, HOLD_AFTER_ACCOUNT_S, reason, clears_on_finish=False)
        except DatabaseWriteError as error:
            return await self._hold(batch, item, HOLD_AFTER_TROUBLE_S, error.message, clears_on_finish=False)
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
        self, batch: Batch, item: BatchItemRecord, seconds: float, reason: str, clears_on_finish: bool
    ) -> float:
        """Put `item` back in the queue and hold the queue for `seconds` (or until a generation finishes)."""
        item.state = "queued"
        self._note = reason
        self._held_until = anyio.current_time() + seconds
        self._hold_clears_on_finish = clears_on_finish
        logger.info("batch queue held for %g s: %s", seconds, reason)
        await self._save(batch, item)
        return seconds

    async def _save(self, batch: Batch, item: BatchItemRecord) -> None:
        await self._store.update_batch_item(item)
        batch.items = [item if other.position == item.position else other for other in batch.items]
        batch.record = batch.record.model_copy(update={"updated_at": time.time()})
        batch.mark_changed()
        await self._tell(batch)

    async def _tell(self, batch: Batch) -> None:
        for listener in self._listeners:
            try:
                await listener(batch)
            except Exception:
                logger.exception("batch listener failed for %s", batch.batch_id)

    async def _on_generation(self, generation: Generation) -> None:
        """Change-bus listener: a finished generation frees a slot; the batches it belongs to changed."""
        if generation.finished:
            if self._hold_clears_on_finish:
                self._held_until = 0.0
            self._wake_queue()
        for batch_id in sorted(self._of_task.get(generation.task_id, ())):
            batch = self._batches.get(batch_id)
            if batch is not None:
                batch.mark_changed()
                await self._tell(batch)
