"""The generations this process knows: looked up, waited on, listed, and kept in step with the shared store.

Every generation lives here once, whatever asked for it first (a create, a restart, another process sharing the
data folder, a task id typed by the user). Unfinished ones are handed to the poller; completed ones with unsaved
videos to `on_completed` (the downloader). Waits never poll upstream: they wait on the record's `changed` event.

Lookups and listings are the current principal's (`veo_mcp.context`): another principal's generation reads exactly
like one nobody knows (`unknown_generation`), and only the local user (stdio, the CLI) may take in a task created
outside this server by asking about its id; over HTTP a user sees only what they created here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable

import anyio

from veo_mcp.background.poller import FetchTask, Poller
from veo_mcp.context import LOCAL_PRINCIPAL, current_principal
from veo_mcp.core.events import ChangeBus, ChangeListener
from veo_mcp.core.generation import Generation
from veo_mcp.evolink.errors import NotFoundError, TemporaryError
from veo_mcp.money.ledger import CreateLedger
from veo_mcp.storage import Store

logger = logging.getLogger(__name__)


def unknown_generation(task_id: str) -> NotFoundError:
    """The one answer for an id the caller may not see: unknown here, or another principal's (no existence leak)."""
    return NotFoundError(
        f"task_id {task_id[:80]!r} names no generation this server knows for you.",
        advice="Check the task id: use one from generate_video or list_generations (it lists the generations you "
        "created); a task of another EvoLink account cannot be read.",
    )


def visible(generation: Generation) -> bool:
    """Whether the current principal may see `generation`: only its owner may."""
    return generation.owner == current_principal()


class Registry:
    def __init__(
        self,
        *,
        store: Store,
        bus: ChangeBus,
        poller: Poller,
        fetch: FetchTask,
        ledger: CreateLedger,
        simulated: bool,
        on_completed: Callable[[Generation], None],
        stall_after_s: float | None = None,
        saves_itself: bool = True,
    ) -> None:
        self.generations: dict[str, Generation] = {}
        self._store = store
        self._bus = bus
        self._poller = poller
        self._fetch = fetch
        self._ledger = ledger
        self._simulated = simulated
        self._on_completed = on_completed
        self._stall_after_s = stall_after_s
        self._saves_itself = saves_itself
        self._synced_at = 0.0

    async def resume(self) -> None:
        """After a (re)start: outcome of interrupted creates, tracking of unfinished tasks, pending downloads."""
        for record in await self._store.recover_interrupted_creates():
            logger.warning("create %s was interrupted while sending: outcome unknown, not resent", record.key)
        self._synced_at = time.time()
        for generation in await self._store.generations():
            self.take_in(generation, poll_now=True)

    def take_in(self, generation: Generation, *, poll_now: bool) -> None:
        """Start knowing a stored generation: track it if unfinished, save its videos if due."""
        if generation.download_state == "saving":
            generation.download_state = "none"  # the process saving it is gone (or it is us, restarted)
        if generation.download_state == "failed":
            generation.download_state, generation.download_attempts = "none", 0
        self._configure(generation)
        self.generations[generation.task_id] = generation
        if not generation.followed:
            return  # a cancelled MCP task stopped following it; `get` resumes
        self._poller.track(generation, poll_now=poll_now)
        if generation.status == "completed":
            self._on_completed(generation)

    async def add(self, generation: Generation) -> None:
        """A generation just created (or first looked up) here: track it and announce it."""
        self._configure(generation)
        self.generations[generation.task_id] = generation
        self._poller.track(generation)
        await self._bus.publish(generation)

    def _configure(self, generation: Generation) -> None:
        generation.stall_after_s = self._stall_after_s
        generation.saves_itself = self._saves_itself

    async def refresh(self) -> None:
        """Take in what other processes sharing the data folder wrote since the last look."""
        since, self._synced_at = self._synced_at - 1.0, time.time()
        for stored in await self._store.generations(updated_after=since):
            known = self.generations.get(stored.task_id)
            if known is None:
                self.take_in(stored, poll_now=False)
            elif known.adopt(stored):
                await self._bus.publish(known, record=False)

    async def heard(self, task_id: str) -> None:
        """Another replica recorded a change of `task_id`: take it in (a new one is announced: the list changed)."""
        stored = await self._store.generation(task_id)
        if stored is None:
            return
        known = self.generations.get(task_id)
        if known is None:
            self.take_in(stored, poll_now=False)
            await self._bus.publish(self.generations[task_id], record=False)
        elif known.adopt(stored):
            await self._bus.publish(known, record=False)

    def known(self) -> list[Generation]:
        """Every generation of the current principal this process knows, newest first."""
        mine = [g for g in self.generations.values() if visible(g)]
        return sorted(mine, key=lambda g: g.created_at, reverse=True)

    async def listing(self, status: str | None, offset: int, limit: int) -> tuple[list[Generation], int]:
        await self.refresh()
        items = self.known()
        if status:
            items = [g for g in items if g.status == status]
        return items[offset : offset + limit], len(items)

    async def lookup(self, task_id: str) -> Generation | None:
        """A known generation by id (from memory or the store), whoever owns it: for work already scoped (a batch's
        items, an MCP task's generation), never for answering a caller directly."""
        known = self.generations.get(task_id)
        if known is None and (stored := await self._store.generation(task_id)) is not None:
            self.take_in(stored, poll_now=True)
            known = self.generations[task_id]
        return known

    async def peek(self, task_id: str) -> Generation | None:
        """A known generation of the current principal by id, as it is: never fetched, never followed again."""
        known = await self.lookup(task_id)
        return known if known is not None and visible(known) else None

    async def get(self, task_id: str) -> Generation:
        """A generation by id: from memory, from the store (another process made it), or fetched from upstream.

        Asking about a generation nobody follows any more (its MCP task was cancelled) follows it again.
        """
        known = await self.peek(task_id)
        if known is None and (task_id in self.generations or current_principal() != LOCAL_PRINCIPAL):
            raise unknown_generation(task_id)  # another principal's, or not ours to look up upstream
        if known is not None:
            if not known.followed:
                await self.follow(known, True)
            if known.forget_missing_files():  # moved or deleted since it was saved: fetched again while links live
                await self._bus.publish(known)
                self._on_completed(known)
            return known
        try:
            task = await self._fetch(task_id)
        except NotFoundError as error:
            if error.status_code is None:
                raise  # not a task id at all: said before anything was asked, whoever's it could be
            # Upstream's own words would set an id nobody has apart from another principal's (answered above).
            raise unknown_generation(task_id) from None
        generation = Generation(
            task_id=task.id,
            model=task.model or "unknown",
            prompt="(created outside this server)",
            request={},
            simulated=self._simulated,
            created_at=float(task.created) if task.created else time.time(),
            owner=current_principal(),
        )
        if (record := await self._ledger.adopt(task)) is not None:
            generation.prompt, generation.request = record.prompt, record.payload
            generation.request_id, generation.fingerprint = record.request_id, record.fingerprint
            generation.notes.append(
                "This is the task of a create whose outcome was unknown; its request_id now answers with it."
            )
        generation.apply(task)
        await self.add(generation)
        return generation

    async def follow(self, generation: Generation, followed: bool) -> None:
        """Start or stop polling and saving `generation` (recorded, so a restart keeps the choice)."""
        if generation.followed == followed:
            return
        generation.followed = followed
        if followed:
            self.take_in(generation, poll_now=True)
        else:
            self._poller.untrack(generation.task_id)
        generation.mark_changed()
        await self._bus.publish(generation)

    async def wait(self, task_id: str, timeout_s: float, on_change: ChangeListener | None = None) -> Generation:
        """Wait until there is nothing more to wait for (finished and, if rendered, saved or its save failed: see
        `Generation.save_settled`), until it stalls, or until `timeout_s` passes; never longer (0: look once).
        Reports each change through `on_change`.

        A generation that stalls during the wait ends it at once (the caller should tell the user, not keep
        waiting); one already stalled is waited on for progress until the timeout.
        """
        report: Callable[[Generation], Awaitable[None]] = on_change or _nothing
        deadline = time.time() + timeout_s
        generation: Generation | None = None
        with anyio.move_on_after(timeout_s) if timeout_s > 0 else contextlib.nullcontext():
            generation = await self.get(task_id)
            await report(generation)
            was_stalled = generation.stalled()
            while timeout_s > 0 and not generation.save_settled(deadline):
                stalls_at = generation.stalls_at()
                quiet = math.inf if was_stalled or stalls_at is None else max(0.0, stalls_at - time.time())
                with anyio.move_on_after(quiet) as stalling:
                    await generation.changed.wait()
                if stalling.cancelled_caught:
                    break  # it stalled during this wait
                await report(generation)
                was_stalled = generation.stalled()
        if generation is None:
            raise TemporaryError(f"EvoLink did not answer about {task_id} within {timeout_s:g} s.")
        return generation


async def _nothing(generation: Generation) -> None:
    return None
