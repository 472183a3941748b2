"""2025-11-25 tasks where the SDK offers no seam but middleware, and their status notifications.

`LegacyTasks` is middleware (the SDK's public `middleware=` seam): it adds the `tasks` capability to the initialize
answer, marks the task tools `execution.taskSupport: "optional"` in tools/list, and answers a task-augmented
`tools/call` with a CreateTaskResult. That last part cannot be an extension interceptor: the SDK checks a 2025-era
`tools/call` result against CallToolResult, which a CreateTaskResult is not. The call itself runs exactly as a plain
call does (cost confirmation, budgets, request_id, the duplicate guard); only when it started (or reused) a
generation is a task opened. A refusal opens nothing and answers the protocol's error with the refusal's text.

`StatusNotifications` sends `notifications/tasks/status` to the 2025-era connections that created or asked about a
task, at every change of its status or status message.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND
from pydantic import BaseModel, ValidationError

from veo_mcp.errors import VeoError
from veo_mcp.mcp.sdk_seams import connection_of
from veo_mcp.mcp.tasks.book import TaskBook
from veo_mcp.mcp.tasks.outcome import TaskView
from veo_mcp.mcp.tasks.wire import (
    LEGACY_TASK_VERSIONS,
    STATUS_NOTIFICATION,
    TASK_TOOLS,
    legacy_created,
    legacy_status,
    legacy_tasks_capability,
    protocol_error,
)

logger = logging.getLogger(__name__)


class StatusNotifications:
    """Who hears about a task: the 2025-era connections that created it or asked about it."""

    def __init__(self) -> None:
        self._watching: dict[str, weakref.WeakSet[Connection]] = {}
        self._last: dict[str, tuple[str, str]] = {}

    def watch(self, task_id: str, connection: Connection) -> None:
        if connection.protocol_version in LEGACY_TASK_VERSIONS:
            self._watching.setdefault(task_id, weakref.WeakSet()).add(connection)

    async def __call__(self, view: TaskView) -> None:
        """Task-book listener: one notification per change of status or message, to each watcher."""
        connections = list(self._watching.get(view.task_id, ()))
        if not connections or self._last.get(view.task_id) == (view.status, view.message):
            return
        self._last[view.task_id] = (view.status, view.message)
        params = legacy_status(view)
        for connection in connections:
            try:
                await connection.notify(STATUS_NOTIFICATION, params)
            except Exception as error:
                logger.debug("task status not delivered: %r", error)
        if view.finished:
            self._watching.pop(view.task_id, None)
            self._last.pop(view.task_id, None)


def _wire(result: HandlerResult) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dict(result) if isinstance(result, Mapping) else {}


def _text_of(answer: Mapping[str, Any]) -> str:
    content = answer.get("content") or []
    return " ".join(str(item.get("text", "")) for item in content if isinstance(item, Mapping)).strip()


def _task_request(params: Mapping[str, Any] | None) -> types.TaskMetadata | None:
    """The `task` of a task-augmented call of a task tool; None for a plain call. A tool that cannot run as a task
    (its `execution.taskSupport` is absent, i.e. forbidden) refuses a task-augmented call with -32601, as the
    2025-11-25 specification says, instead of answering with a plain result a client would read as a task."""
    if not isinstance(params, Mapping) or params.get("task") is None:
        return None
    if params.get("name") not in TASK_TOOLS:
        raise MCPError(
            code=METHOD_NOT_FOUND,
            message=f"{params.get('name')!s:.80} cannot run as a task (only {' and '.join(TASK_TOOLS)} can): call it "
            "without `task`.",
        )
    try:
        return types.TaskMetadata.model_validate(params["task"])
    except ValidationError:
        raise MCPError(code=INVALID_PARAMS, message="task must be an object with an optional ttl in ms.") from None


class LegacyTasks:
    def __init__(self, book: TaskBook, notifications: StatusNotifications) -> None:
        self._book = book
        self._notifications = notifications

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "initialize":
            return _advertise(_wire(await call_next(ctx)))
        if ctx.protocol_version not in LEGACY_TASK_VERSIONS:
            return await call_next(ctx)
        if ctx.method == "tools/list":
            return _mark_task_tools(_wire(await call_next(ctx)))
        if ctx.method == "tools/call" and (task := _task_request(ctx.params)) is not None:
            return await self._call_as_task(ctx, call_next, task)
        return await call_next(ctx)

    async def _call_as_task(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext, task: types.TaskMetadata
    ) -> dict[str, Any]:
        answer = _wire(await call_next(ctx))
        text = _text_of(answer)
        structured = answer.get("structuredContent")
        follows = structured.get("batch_id") or structured.get("task_id") if isinstance(structured, dict) else None
        if answer.get("isError") or not isinstance(structured, dict) or follows is None:
            # Refused before anything was created (or it failed): no task, the refusal's own words.
            raise MCPError(code=INVALID_PARAMS, message=text or "The call did not start a generation.", data=answer)
        tool = str((ctx.params or {}).get("name"))
        try:
            view = await self._book.open(tool, structured, task.ttl)
        except VeoError as error:
            raise protocol_error(
                VeoError(
                    f"{follows} was started, but its task could not be recorded: {error}",
                    advice=f"Follow it with wait_for_generation (task_id) or wait_for_batch (batch_id) '{follows}'.",
                )
            ) from None
        self._notifications.watch(view.task_id, connection_of(ctx.session))
        return legacy_created(view, text)


def _advertise(answer: dict[str, Any]) -> dict[str, Any]:
    """Add the tasks capability to a 2025-11-25 initialize answer (the SDK derives capabilities without it)."""
    capabilities = answer.get("capabilities")
    if answer.get("protocolVersion") in LEGACY_TASK_VERSIONS and isinstance(capabilities, dict):
        answer["capabilities"] = {**capabilities, "tasks": legacy_tasks_capability()}
    return answer


def _mark_task_tools(answer: dict[str, Any]) -> dict[str, Any]:
    """Say in tools/list which tools may run as tasks (MCPServer has no field for `execution`)."""
    for tool in answer.get("tools") or []:
        if isinstance(tool, dict) and tool.get("name") in TASK_TOOLS:
            tool["execution"] = {**(tool.get("execution") or {}), "taskSupport": "optional"}
    return answer
