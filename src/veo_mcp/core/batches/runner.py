"""Batches as their owners see them: planned, confirmed once and submitted, read, waited on and cancelled.

The queue that sends their items lives in `queue`; this is the face the tools and the CLI use. The whole batch was
confirmed once, before any of it was sent (`submit`); every item then goes through the generate pipeline with its
derived `request_id`, so no item whose create was recorded is ever sent twice.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from veo_mcp.background.poller import Poller
from veo_mcp.context import current_principal
from veo_mcp.core.batches.model import Batch, BatchState, batch_state
from veo_mcp.core.batches.plan import (
    BatchError,
    PlannedItem,
    PreparedItem,
    planned_items,
    refused_item,
)
from veo_mcp.core.batches.queue import BatchListener, BatchQueue
from veo_mcp.core.events import ChangeBus
from veo_mcp.core.generation import Generation
from veo_mcp.core.pipeline import Consent, GeneratePipeline
from veo_mcp.core.registry import Registry
from veo_mcp.errors import VeoError
from veo_mcp.evolink import TemporaryError
from veo_mcp.evolink.costs import CostEstimate, total_estimate
from veo_mcp.money import guards
from veo_mcp.money.ledger import CreateLedger
from veo_mcp.settings import Settings
from veo_mcp.storage import BatchItemRecord, BatchRecord, Store

logger = logging.getLogger(__name__)

# A batch another process runs is re-read this often while waiting on it.
FOREIGN_REFRESH_S = 1.0

Report = Callable[[BatchState], Awaitable[None]]
__all__ = ["BatchListener", "BatchPlan", "BatchRunner", "Submitted", "UnknownBatchError"]


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
        self._ledger = ledger
        self._listeners: list[BatchListener] = listeners if listeners is not None else []
        self._queue = BatchQueue(
            settings=settings,
            store=store,
            pipeline=pipeline,
            registry=registry,
            poller=poller,
            ledger=ledger,
            bus=bus,
            listeners=self._listeners,
        )

    @property
    def queued(self) -> int:
        """Items of the batches whose queue this process runs that wait to be sent (not the one being sent)."""
        return self._queue.queued

    def subscribe(self, listener: BatchListener) -> None:
        self._listeners.append(listener)

    async def resume(self) -> None:
        """After a (re)start: take up the batches that still have items to send."""
        await self._queue.resume()

    async def run(self) -> None:
        """The queue; runs in the app's task group until cancelled."""
        await self._queue.run()

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
        batch = self._queue.remember(stored, items)
        if not reused:
            self._queue.claimed.add(batch.batch_id)
            logger.info("batch %s queued: %d items, %s", batch.batch_id, len(items), plan.total.summary)
        self._queue.wake()
        await self._queue.tell(batch)
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

    async def get(self, batch_id: str) -> Batch:
        """The current principal's batch by id (another principal's reads as unknown); one whose queue another
        process runs is read again from the store."""
        known = self._queue.batches.get(batch_id)
        if known is not None and batch_id in self._queue.claimed:
            return _mine(known)
        stored = await self._store.batch(batch_id, current_principal())
        if stored is None:
            raise unknown_batch(batch_id)
        return self._queue.remember(*stored)

    async def state(self, batch: Batch) -> BatchState:
        generations: dict[str, Generation] = {}
        for task_id in batch.task_ids():
            if (generation := await self._registry.lookup(task_id)) is not None:
                generations[task_id] = generation
        return batch_state(batch, generations, await self._queue.note(batch))

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
                with anyio.move_on_after(FOREIGN_REFRESH_S if batch_id not in self._queue.claimed else math.inf):
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
        batch = self._queue.remember(*stored)
        await self._queue.tell(batch)
        return batch

    # --- the queue ----------------------------------------------------------------------------------------------
