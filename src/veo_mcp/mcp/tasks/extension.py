"""The tasks extension, on the SDK's public extension seam (`mcp.server.extension.Extension`).

- `settings()`: advertised under `capabilities.extensions["io.modelcontextprotocol/tasks"]` (2026-07-28).
- `intercept_tool_call`: on 2026-07-28, when the client declared the extension for the request, a task tool runs
  exactly as a plain call (its questions travel as `InputRequiredResult`s first, as always); once it has started
  (or reused) a generation, the answer is the task (`resultType: "task"`) instead of the first result. Refusals
  and errors come back as the plain result they are: no task is opened.
- `methods()`: `tasks/get` and `tasks/cancel` on both eras (each in its era's shape), `tasks/result` and
  `tasks/list` on 2025-11-25, `tasks/update` on 2026-07-28. 2025-11-25 task creation is `legacy.LegacyTasks`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import require_client_extension
from mcp_types import CallToolRequestParams, CallToolResult

from veo_mcp.errors import VeoError
from veo_mcp.mcp.sdk_seams import connection_of
from veo_mcp.mcp.tasks.book import TaskBook, TaskFinishedError
from veo_mcp.mcp.tasks.legacy import StatusNotifications
from veo_mcp.mcp.tasks.wire import (
    LEGACY_TASK_VERSIONS,
    MODERN_TASK_VERSIONS,
    TASK_TOOLS,
    TASK_VERSIONS,
    TASKS_EXTENSION,
    UpdateTaskParams,
    legacy_payload,
    legacy_task,
    modern_created,
    modern_got,
    protocol_error,
    wire_dict,
)

Context = ServerRequestContext[Any, Any]


def _declared(ctx: Context) -> bool:
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and TASKS_EXTENSION in (capabilities.extensions or {})


def _modern(ctx: Context) -> bool:
    return ctx.protocol_version in MODERN_TASK_VERSIONS


class TasksExtension(Extension):
    identifier = TASKS_EXTENSION

    def __init__(self, book: TaskBook, notifications: StatusNotifications) -> None:
        self._book = book
        self._notifications = notifications

    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> Sequence[MethodBinding]:
        return [
            MethodBinding("tasks/get", types.GetTaskRequestParams, self._guarded(self._get), TASK_VERSIONS),
            MethodBinding("tasks/cancel", types.CancelTaskRequestParams, self._guarded(self._cancel), TASK_VERSIONS),
            MethodBinding(
                "tasks/result", types.GetTaskPayloadRequestParams, self._guarded(self._result), LEGACY_TASK_VERSIONS
            ),
            MethodBinding("tasks/list", types.PaginatedRequestParams, self._guarded(self._list), LEGACY_TASK_VERSIONS),
            MethodBinding("tasks/update", UpdateTaskParams, self._guarded(self._update), MODERN_TASK_VERSIONS),
        ]

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: Context, call_next: CallNext
    ) -> HandlerResult:
        if params.name not in TASK_TOOLS or not _modern(ctx) or not _declared(ctx):
            return await call_next(ctx)
        result = await call_next(ctx)
        structured = result.structured_content if isinstance(result, CallToolResult) else None
        if not isinstance(result, CallToolResult) or result.is_error or not isinstance(structured, dict):
            return result  # a question to answer first, or a refusal: no task
        try:
            view = await self._book.open(params.name, structured, params.task.ttl if params.task else None)
        except VeoError as error:
            raise protocol_error(error) from None
        return modern_created(view)

    # --- methods ---------------------------------------------------------------------------------------------------

    def _guarded(self, handler: Callable[[Context, Any], Awaitable[HandlerResult]]) -> Any:
        """Check the extension was declared (2026-07-28) and turn domain errors into the protocol's errors."""

        async def guarded(ctx: Context, params: Any) -> HandlerResult:
            if _modern(ctx):
                require_client_extension(ctx, TASKS_EXTENSION)
            try:
                return await handler(ctx, params)
            except VeoError as error:
                raise protocol_error(error) from None

        return guarded

    def _watch(self, ctx: Context, task_id: str) -> None:
        if not _modern(ctx):
            self._notifications.watch(task_id, connection_of(ctx.session))

    async def _get(self, ctx: Context, params: types.GetTaskRequestParams) -> HandlerResult:
        view = await self._book.view(params.task_id)
        if not _modern(ctx):
            self._watch(ctx, view.task_id)
            return wire_dict(types.GetTaskResult(**legacy_task(view).model_dump()))
        result = None
        if view.finished:
            view, result = await self._book.result(view.task_id)  # finished: answers at once
        return modern_got(view, result)

    async def _result(self, ctx: Context, params: types.GetTaskPayloadRequestParams) -> HandlerResult:
        view = await self._book.view(params.task_id)  # the caller's own task, or unknown: checked before any watch
        self._watch(ctx, view.task_id)
        view, result = await self._book.result(view.task_id)
        return legacy_payload(view.task_id, result)

    async def _list(self, ctx: Context, params: types.PaginatedRequestParams) -> HandlerResult:
        views, next_cursor = await self._book.page(params.cursor)
        return wire_dict(types.ListTasksResult(tasks=[legacy_task(view) for view in views], next_cursor=next_cursor))

    async def _cancel(self, ctx: Context, params: types.CancelTaskRequestParams) -> HandlerResult:
        try:
            view = await self._book.cancel(params.task_id)
        except TaskFinishedError:
            if _modern(ctx):
                return {}  # SEP-2663: a finished task stays as it is; the ack says nothing more
            raise
        if _modern(ctx):
            return {}
        return wire_dict(types.CancelTaskResult(**legacy_task(view).model_dump()))

    async def _update(self, ctx: Context, params: UpdateTaskParams) -> HandlerResult:
        """veo-mcp asks its questions before a task exists, so a task never waits for input: answers are ignored."""
        await self._book.view(params.task_id)  # an unknown task is still an error
        return {}
