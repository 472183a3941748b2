"""The MCP tasks this server runs, on every protocol era: each one follows one generation to its saved video (or,
for generate_batch, one batch to its saved videos; see `batch_outcome.py`).

A task is opened only after its tool call went through everything a plain call goes through (cost confirmation,
budgets, request_id, the duplicate guard) and started (or reused) a generation; its record is stored, so it outlives
restarts. Its status is read from the generation each time (see `outcome.py`); every change to a generation with
tasks is passed to the listeners (2025-era status notifications). Retention: the client's requested TTL, kept
within `TTL_MIN_MS`..`TTL_MAX_MS`; `TTL_DEFAULT_MS` when none is asked for.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
from mcp_types import CallToolResult

from veo_mcp.app import App, Running
from veo_mcp.background.downloads import VideoInfo
from veo_mcp.context import acting_as, current_principal
from veo_mcp.core.batches import Batch, BatchState, UnknownBatchError
from veo_mcp.core.generation import Generation
from veo_mcp.errors import VeoError
from veo_mcp.evolink.errors import NotFoundError
from veo_mcp.mcp.presenters import linked, path_shown, poster_content
from veo_mcp.mcp.tasks.batch_outcome import BATCH_TOOL, batch_final_result, batch_view_of
from veo_mcp.mcp.tasks.outcome import TaskView, final_result, view_of
from veo_mcp.storage import McpTaskRecord

logger = logging.getLogger(__name__)

TTL_MIN_MS = 10 * 60 * 1000
TTL_DEFAULT_MS = 24 * 60 * 60 * 1000
TTL_MAX_MS = 7 * 24 * 60 * 60 * 1000
PAGE_SIZE = 50

TaskListener = Callable[[TaskView], Awaitable[None]]


class UnknownTaskError(VeoError):
    default_advice = (
        "Use a task id this server returned; tasks are kept for the TTL their creation granted (tasks/list shows "
        "the live ones). The generation itself stays available: list_generations lists it."
    )
    action = "check_task_id"


class TaskFinishedError(VeoError):
    default_advice = "Nothing was changed; tasks/result (or tasks/get) gives its outcome."
    action = "none"

    def __init__(self, view: TaskView) -> None:
        super().__init__(f"Task {view.task_id} is already {view.status}, so it cannot be cancelled.")
        self.view = view


def granted_ttl_ms(requested: int | None) -> int:
    """The retention this server grants for a requested TTL (milliseconds)."""
    if requested is None:
        return TTL_DEFAULT_MS
    return max(TTL_MIN_MS, min(TTL_MAX_MS, requested))


def _cancel_message(generation: Generation | None, still_followed: bool) -> str:
    if generation is None:
        return "Cancelled."
    task_id = generation.task_id
    if still_followed:
        local = f"veo-mcp keeps following generation {task_id} for another task that still wants it."
    else:
        local = f"veo-mcp stopped following generation {task_id} and will not save its video."
    if generation.status == "completed":
        upstream = "It had already finished rendering; anything already saved stays in the output folder."
    elif generation.simulated:
        upstream = "The simulator keeps rendering it (simulated: nothing is billed)."
    else:
        upstream = (
            "EvoLink offers no way to cancel a render, so it goes on upstream and is billed as usual; "
            "its result links work for 24 h after it finishes."
        )
    return f"Cancelled. {local} {upstream} get_generation with task_id '{task_id}' follows it again."


class TaskBook:
    def __init__(self, app: App) -> None:
        self._app = app
        self._records: dict[str, McpTaskRecord] = {}  # tasks seen by this process, by MCP task id
        self._of_generation: dict[str, set[str]] = {}
        self._listeners: list[TaskListener] = []
        self._changed = anyio.Event()
        app.bus.subscribe(self._on_change)
        app.batch_listeners.append(self._on_batch)

    def subscribe(self, listener: TaskListener) -> None:
        self._listeners.append(listener)

    def _parts(self) -> Running:
        return self._app.parts

    # --- opening, reading, listing, cancelling -----------------------------------------------------------------

    async def open(self, tool: str, call_result: dict[str, Any], requested_ttl_ms: int | None) -> TaskView:
        """A new task following the generation `call_result` (a generate result) names."""
        record = McpTaskRecord(
            task_id=str(uuid.uuid4()),
            # What the task follows: the generation, or the batch for generate_batch.
            generation_task_id=str(call_result["batch_id" if tool == BATCH_TOOL else "task_id"]),
            tool=tool,
            call_result=call_result,
            created_at=time.time(),
            ttl_ms=granted_ttl_ms(requested_ttl_ms),
            principal=current_principal(),
        )
        await self._parts().store.save_mcp_task(record)
        self._remember(record)
        view, _ = await self._current(record)
        return view

    async def view(self, task_id: str) -> TaskView:
        view, _ = await self._current(await self._record(task_id))
        return view

    async def result(self, task_id: str) -> tuple[TaskView, CallToolResult]:
        """Wait until the task has finished, then its final tool result."""
        while True:
            changed = self._changed
            record = await self._record(task_id)
            view, generation = await self._current(record)
            if view.finished:
                break
            await changed.wait()
        if record.tool == BATCH_TOOL:
            found = await self._batch_state(record)
            return view, await batch_final_result(self._app, record, view, found[0] if found else None)
        files: list[VideoInfo] = []
        parts = self._parts()
        if view.status == "completed" and generation is not None:
            try:
                # Already saved: described, not fetched again; over HTTP each file carries its link.
                files = await linked(self._app, await parts.downloader.save(generation))
            except VeoError as error:
                view = replace(view, status="failed", message=str(error))
        settings = self._app.settings
        poster = await poster_content(generation, settings.data_dir) if generation is not None else None
        output_dir = path_shown(self._app, str(parts.downloader.output_dir(record.principal)), record.principal)
        return view, final_result(record, view, generation, files, output_dir, poster, self._shown(record))

    async def page(self, cursor: str | None) -> tuple[list[TaskView], str | None]:
        """The live tasks, newest first, one page per call (cursor: the previous page's next cursor)."""
        try:
            offset = int(cursor) if cursor else 0
        except ValueError:
            raise UnknownTaskError(
                f"cursor {cursor!r} is not one tasks/list returned.", advice="Omit it to start at the first page."
            ) from None
        store = self._parts().store
        await store.forget_expired_mcp_tasks()
        records, total = await store.mcp_tasks(max(0, offset), PAGE_SIZE, current_principal())
        views = []
        for record in records:
            self._remember(record)
            views.append((await self._current(record))[0])
        following = offset + len(records)
        return views, str(following) if following < total else None

    async def cancel(self, task_id: str) -> TaskView:
        """Stop the task: no more following or saving of its generation unless another live task still wants it."""
        record = await self._record(task_id)
        view, generation = await self._current(record)
        if view.finished:
            raise TaskFinishedError(view)
        parts = self._parts()
        others = [
            other
            for other in await parts.store.mcp_tasks_of(record.generation_task_id)
            if other.cancelled_at is None and other.task_id != task_id
        ]
        if record.tool == BATCH_TOOL:
            return await self._cancel_batch(record, still_followed=bool(others))
        await parts.store.cancel_mcp_task(task_id, _cancel_message(generation, still_followed=bool(others)))
        record = await self._record(task_id)
        if generation is not None and not others:
            await parts.registry.follow(generation, False)
        self._wake()
        cancelled = view_of(record, generation, shown=self._shown(record))
        await self._tell(cancelled)
        return cancelled

    # --- internals -----------------------------------------------------------------------------------------------

    async def _record(self, task_id: str) -> McpTaskRecord:
        record = await self._parts().store.mcp_task(task_id)
        if record is None or record.principal != current_principal():  # another's reads exactly like unknown
            if record is None:
                self._forget(task_id)  # gone (past its retention); another principal's stays followed
            raise UnknownTaskError(f"veo-mcp has no task {task_id!r} (unknown, or past its retention).")
        self._remember(record)
        return record

    def _remember(self, record: McpTaskRecord) -> None:
        self._records[record.task_id] = record
        self._of_generation.setdefault(record.generation_task_id, set()).add(record.task_id)

    def _forget(self, task_id: str) -> None:
        record = self._records.pop(task_id, None)
        if record is not None:
            self._of_generation.get(record.generation_task_id, set()).discard(task_id)

    async def _generation(self, record: McpTaskRecord) -> Generation | None:
        registry = self._parts().registry
        if record.cancelled_at is not None:
            return await registry.peek(record.generation_task_id)
        try:
            return await registry.get(record.generation_task_id)  # a live task wants it followed
        except NotFoundError:
            return None

    async def _cancel_batch(self, record: McpTaskRecord, still_followed: bool) -> TaskView:
        batch_id = record.generation_task_id
        if still_followed:
            message = f"Cancelled. Batch {batch_id} goes on for another task that still wants it."
        else:
            message = (
                f"Cancelled: the queued items of batch {batch_id} will not be sent. Items already created go on "
                "upstream (EvoLink cannot cancel a render; they are billed as usual) and their videos are saved."
            )
        parts = self._parts()
        await parts.store.cancel_mcp_task(record.task_id, message)
        if not still_followed:
            await parts.batches.cancel(batch_id, "Never sent: the batch's MCP task was cancelled.")
        record = await self._record(record.task_id)
        self._wake()
        cancelled, _ = await self._current(record)
        await self._tell(cancelled)
        return cancelled

    async def _batch_state(self, record: McpTaskRecord) -> tuple[BatchState, float] | None:
        """The batch the task follows, and when it last changed; None when it is unknown."""
        batches = self._parts().batches
        try:
            batch = await batches.get(record.generation_task_id)
        except UnknownBatchError:
            return None
        return await batches.state(batch), batch.record.updated_at

    async def _current_batch(self, record: McpTaskRecord) -> TaskView:
        found = await self._batch_state(record)
        state, updated_at = found if found is not None else (None, 0.0)
        if state is not None and record.cancelled_at is None:
            for item in state.items:
                if item.status == "completed" and item.task_id is not None:
                    generation = self._parts().registry.generations.get(item.task_id)
                    if generation is not None:
                        self._save_when_due(generation)
        return batch_view_of(record, state, updated_at)

    async def _current(self, record: McpTaskRecord) -> tuple[TaskView, Generation | None]:
        with acting_as(record.principal):  # also called from change listeners, outside any request
            return await self._current_as_owner(record)

    async def _current_as_owner(self, record: McpTaskRecord) -> tuple[TaskView, Generation | None]:
        if record.tool == BATCH_TOOL:
            return await self._current_batch(record), None
        generation = await self._generation(record)
        if generation is not None and record.cancelled_at is None:
            self._save_when_due(generation)
        return view_of(record, generation, lost=self._lost(generation), shown=self._shown(record)), generation

    def _shown(self, record: McpTaskRecord) -> Callable[[str], str]:
        """How the task's owner is shown a saved file's path (inside their own folder, unless they are local)."""
        return lambda path: path_shown(self._app, path, record.principal)

    def _lost(self, generation: Generation | None) -> bool:
        """Unfinished and followed, yet not polled: the poller stopped because EvoLink no longer knows the task."""
        if generation is None or generation.finished or not generation.followed or generation.error_message is None:
            return False
        return not self._parts().poller.tracks(generation.task_id)

    def _save_when_due(self, generation: Generation) -> None:
        """A task's video is saved even when automatic saving is off: its result is the saved file."""
        due = generation.status == "completed" and generation.download_state == "none"
        if due and generation.followed and generation.download_attempts == 0:
            self._parts().autosaver.enqueue(generation)

    def _wake(self) -> None:
        event, self._changed = self._changed, anyio.Event()
        event.set()

    async def _on_change(self, generation: Generation) -> None:
        """Change-bus listener: wake the waiting results, save what is due, tell the listeners."""
        self._wake()
        now = time.time()
        for task_id in sorted(self._of_generation.get(generation.task_id, ())):
            record = self._records.get(task_id)
            if record is None or record.expires_at <= now:
                continue
            if record.cancelled_at is None:
                self._save_when_due(generation)
            await self._tell(view_of(record, generation, lost=self._lost(generation), shown=self._shown(record)))

    async def _on_batch(self, batch: Batch) -> None:
        """Batch listener: wake the waiting results and tell the listeners about the batch's tasks."""
        self._wake()
        now = time.time()
        for task_id in sorted(self._of_generation.get(batch.batch_id, ())):
            record = self._records.get(task_id)
            if record is None or record.expires_at <= now:
                continue
            view, _ = await self._current(record)
            await self._tell(view)

    async def _tell(self, view: TaskView) -> None:
        for listener in self._listeners:
            try:
                await listener(view)
            except Exception:
                logger.exception("task listener failed for %s", view.task_id)
