"""One poller for all generations: each active task is asked about once per interval, however many watch it.

The poller only schedules: it asks upstream through `fetch`, applies the answer to the generation and publishes the
change on the bus. Tools, waits and resource subscribers never call upstream themselves; they read the registry's
records and wait on their `changed` events. The interval follows the task's `estimated_time` and progress (see
`poll_interval_for`), bounded by settings and jittered so many tasks do not poll in lockstep.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

from veo_mcp.context import about_task, acting_as
from veo_mcp.core.events import ChangeBus
from veo_mcp.core.generation import Generation
from veo_mcp.evolink.errors import AuthenticationError, EvoLinkError, NotFoundError
from veo_mcp.evolink.polling import poll_interval_for
from veo_mcp.evolink.schemas import Task

logger = logging.getLogger(__name__)

FetchTask = Callable[[str], Awaitable[Task]]
# Whether this process is the one to poll a task upstream (replicas sharing a database take turns: see
# `storage.replicas`), and how a process that is not reads what the polling one recorded (True: it changed).
ClaimTask = Callable[[str], Awaitable[bool]]
ObserveTask = Callable[[Generation], Awaitable[bool]]

# A task upstream answers 404 for, at the longest poll pause this many times in a row, is taken as gone.
UNKNOWN_POLLS = 20


class Poller:
    def __init__(
        self,
        fetch: FetchTask,
        bus: ChangeBus,
        *,
        min_interval_s: float,
        max_interval_s: float,
        max_concurrent_polls: int = 16,
        claim: ClaimTask | None = None,
        observe: ObserveTask | None = None,
    ) -> None:
        self._fetch = fetch
        self._claim = claim
        self._observe = observe
        self._held: set[str] = set()  # tasks this process polls upstream (all of them without `claim`)
        self._bus = bus
        self._min = min_interval_s
        self._max = max_interval_s
        self._active: dict[str, Generation] = {}
        self._next_poll: dict[str, float] = {}  # active task id → when to ask next (anyio clock)
        self._due: list[tuple[float, str]] = []  # heap of (when, task id); entries not in _next_poll are stale
        self._in_flight: set[str] = set()
        self._callbacks: dict[str, float] = {}  # task id → safety interval: its end is announced by a callback
        self._hinted: set[str] = set()  # hinted while a poll was under way: ask once more right after it
        self._limit = anyio.Semaphore(max_concurrent_polls)
        self._wake = anyio.Event()

    def track(self, generation: Generation, *, poll_now: bool = False) -> None:
        """Poll `generation` until it finishes; the first poll follows the task's estimate unless `poll_now`."""
        if generation.finished:
            return
        self._active[generation.task_id] = generation
        self._schedule(generation.task_id, 0.0 if poll_now else self._interval(generation))

    def tracks(self, task_id: str) -> bool:
        """Whether `task_id` is being polled."""
        return task_id in self._next_poll

    def expect_callback(self, task_id: str, safety_interval_s: float) -> None:
        """`task_id` announces its end with a callback: poll it only every `safety_interval_s`, as a safety net."""
        self._callbacks[task_id] = safety_interval_s
        if task_id in self._next_poll and task_id not in self._in_flight:
            self._schedule(task_id, safety_interval_s)

    def polls_upstream(self, task_id: str) -> bool:
        """Whether this process asked upstream about `task_id` last time (another replica may hold it)."""
        return self._claim is None or task_id in self._held

    def poll_now(self, task_id: str) -> bool:
        """Ask about `task_id` at once (a callback said it changed); False when it is not being polled."""
        if task_id not in self._next_poll:
            return False
        if task_id in self._in_flight:
            self._hinted.add(task_id)  # the answer on its way may predate the change
        else:
            self._schedule(task_id, 0.0)
        return True

    def untrack(self, task_id: str) -> None:
        """Stop polling `task_id` (a poll already under way still reports its answer)."""
        self._stop(task_id)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Poller]:
        async with anyio.create_task_group() as group:
            group.start_soon(self._loop, group)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    def _interval(self, generation: Generation) -> float:
        """Follow the last answer's estimate; with no answer yet (a resumed record), ask soon. A task with a
        callback is asked only at its safety interval (or right away when a callback came during a poll)."""
        if generation.task_id in self._hinted:
            self._hinted.discard(generation.task_id)
            return 0.0
        if (safety := self._callbacks.get(generation.task_id)) is not None:
            return safety
        if generation.last_task is None:
            return self._min
        return poll_interval_for(generation.last_task, min_s=self._min, max_s=self._max)

    def _schedule(self, task_id: str, delay: float) -> None:
        due = anyio.current_time() + delay
        self._next_poll[task_id] = due
        heapq.heappush(self._due, (due, task_id))
        if self._due[0] == (due, task_id):
            self._wake.set()  # sooner than what the loop sleeps towards

    async def _loop(self, group: TaskGroup) -> None:
        """Start every due poll, then sleep until the next one is due (or something sooner is scheduled)."""
        while True:
            now = anyio.current_time()
            while self._due and self._due[0][0] <= now:
                due, task_id = heapq.heappop(self._due)
                if self._next_poll.get(task_id) != due or task_id in self._in_flight:
                    continue  # stale entry: rescheduled or stopped since
                self._in_flight.add(task_id)
                group.start_soon(self._poll, task_id)
            self._wake = anyio.Event()
            wait = self._due[0][0] - now if self._due else 3600.0
            with anyio.move_on_after(wait):
                await self._wake.wait()

    async def _poll(self, task_id: str) -> None:
        generation = self._active[task_id]
        with acting_as(generation.owner), about_task(task_id):  # its log lines name whom and what it is for
            await self._poll_one(task_id, generation)

    async def _poll_one(self, task_id: str, generation: Generation) -> None:
        try:
            if not await self._ours(task_id):
                await self._follow_other(generation)
                return
            async with self._limit:
                task = await self._fetch(task_id)
        except NotFoundError as error:
            await self._unknown_upstream(generation, error)
            return
        except AuthenticationError as error:
            logger.error("cannot poll %s: %s", task_id, error)
            self._reschedule(task_id, self._max)
            return
        except EvoLinkError as error:
            logger.warning("poll of %s failed, will retry: %s", task_id, error)
            self._reschedule(task_id, self._max)
            return
        finally:
            self._in_flight.discard(task_id)
        generation.unknown_since = None
        changed = generation.apply(task)
        if generation.finished:
            self._stop(task_id)
            self._callbacks.pop(task_id, None)
        else:
            self._reschedule(task_id, self._interval(generation))
        if changed:
            await self._bus.publish(generation)  # recording it takes in another replica's cancel, if any
        if not generation.followed:
            self._stop(task_id)

    async def _ours(self, task_id: str) -> bool:
        if self._claim is None:
            return True
        try:
            ours = await self._claim(task_id)
        except Exception as error:  # the database is unreachable for now: nobody can tell who polls; ask later
            logger.warning("cannot tell who polls %s: %s", task_id, error)
            ours = False
        (self._held.add if ours else self._held.discard)(task_id)
        return ours

    async def _follow_other(self, generation: Generation) -> None:
        """Another replica polls this task: take in what it recorded, on the same schedule."""
        self._in_flight.discard(generation.task_id)
        changed = False
        if self._observe is not None:
            try:
                changed = await self._observe(generation)
            except Exception as error:
                logger.warning("cannot read %s from the database: %s", generation.task_id, error)
        if not generation.followed or (generation.finished and generation.download_state != "saving"):
            self._stop(generation.task_id)
        else:  # still running, or finished while the other replica saves its video: look again
            self._reschedule(generation.task_id, self._interval(generation))
        if changed:
            await self._bus.publish(generation, record=False)

    async def _unknown_upstream(self, generation: Generation, error: NotFoundError) -> None:
        """A 404 for a task we know: brief ones happen (an upstream replica behind), so keep asking at the longest
        pause; only after `UNKNOWN_POLLS` such pauses in a row is the task taken as gone and tracking stopped."""
        now = anyio.current_time()
        if generation.unknown_since is None:
            generation.unknown_since = now
        if now - generation.unknown_since < UNKNOWN_POLLS * self._max:
            logger.warning("task %s is unknown upstream for now (%s); asking again", generation.task_id, error)
            self._reschedule(generation.task_id, self._max)
            return
        logger.warning("task %s has been unknown upstream for a while: %s", generation.task_id, error)
        generation.error_message = str(error)
        self._stop(generation.task_id)
        generation.mark_changed()
        await self._bus.publish(generation)

    def _reschedule(self, task_id: str, delay: float) -> None:
        if task_id in self._next_poll:
            self._schedule(task_id, delay)

    def _stop(self, task_id: str) -> None:
        self._next_poll.pop(task_id, None)
        self._active.pop(task_id, None)
