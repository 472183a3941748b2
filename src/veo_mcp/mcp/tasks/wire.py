"""How a task looks on each protocol era.

- 2025-11-25: tasks are in the core spec (`tools/call` with `task`, `tasks/get|result|list|cancel`,
  `notifications/tasks/status`); the SDK ships their types (`mcp_types.Task`, ...) but serves none of the methods.
- 2026-07-28: tasks moved to the `io.modelcontextprotocol/tasks` extension (SEP-2663): a flat task with `ttlMs` and
  `pollIntervalMs`, tagged `resultType: "task"` when it answers `tools/call`; `tasks/get` inlines the finished
  result (or the error); `tasks/result` and `tasks/list` are gone, `tasks/update` is new. The SDK has no types for
  it, so the few shapes are declared here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, RequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ConfigDict, Field

from veo_mcp.errors import VeoError
from veo_mcp.mcp.tasks.book import TaskFinishedError, UnknownTaskError
from veo_mcp.mcp.tasks.outcome import TaskView

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
LEGACY_TASK_VERSIONS: frozenset[str] = frozenset({"2025-11-25"})  # the only handshake revision with tasks
MODERN_TASK_VERSIONS: frozenset[str] = frozenset(MODERN_PROTOCOL_VERSIONS)
TASK_VERSIONS: frozenset[str] = LEGACY_TASK_VERSIONS | MODERN_TASK_VERSIONS
RELATED_TASK_META = "io.modelcontextprotocol/related-task"
IMMEDIATE_RESPONSE_META = "io.modelcontextprotocol/model-immediate-response"
STATUS_NOTIFICATION = "notifications/tasks/status"

# The tools that may run as tasks: each result names what the task follows (a generation, or a batch).
TASK_TOOLS: tuple[str, ...] = ("generate_video", "generate_batch")

# JSON-RPC has no code for "the work itself failed"; the message carries what happened and what to do.
TASK_FAILED_CODE = INTERNAL_ERROR


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wire_dict(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True, exclude={"result_type"})


def protocol_error(error: VeoError) -> MCPError:
    """The protocol's error for a task request that cannot be answered (unknown task id: invalid params)."""
    code = INVALID_PARAMS if isinstance(error, UnknownTaskError | TaskFinishedError) else INTERNAL_ERROR
    return MCPError(code=code, message=str(error))


# --- 2025-11-25 ------------------------------------------------------------------------------------------------


def legacy_tasks_capability() -> dict[str, Any]:
    """`capabilities.tasks` for 2025-11-25 clients: list, cancel, and task-augmented tools/call."""
    capability = types.ServerTasksCapability(
        list=types.TasksListCapability(),
        cancel=types.TasksCancelCapability(),
        requests=types.ServerTasksRequestsCapability(
            tools=types.TasksToolsCapability(call=types.TasksCallCapability())
        ),
    )
    return wire_dict(capability)


def legacy_task(view: TaskView) -> types.Task:
    return types.Task(
        task_id=view.task_id,
        status=view.status,
        status_message=view.message,
        created_at=iso(view.created_at),
        last_updated_at=iso(view.updated_at),
        ttl=view.ttl_ms,
        poll_interval=view.poll_interval_ms,
    )


def legacy_created(view: TaskView, first_text: str) -> dict[str, Any]:
    """The CreateTaskResult; the tool's own first answer goes to the model while the task runs."""
    created = wire_dict(types.CreateTaskResult(task=legacy_task(view)))
    created["_meta"] = {IMMEDIATE_RESPONSE_META: first_text}
    return created


def legacy_status(view: TaskView) -> dict[str, Any]:
    return wire_dict(types.TaskStatusNotificationParams(**legacy_task(view).model_dump()))


def legacy_payload(task_id: str, result: CallToolResult) -> dict[str, Any]:
    """tasks/result: the tool's final result, tagged with its task."""
    payload = wire_dict(result)
    payload["_meta"] = {**payload.get("_meta", {}), RELATED_TASK_META: {"taskId": task_id}}
    return payload


# --- 2026-07-28 (SEP-2663) --------------------------------------------------------------------------------------


class UpdateTaskParams(RequestParams):
    """`tasks/update` params: answers to a task's input requests (veo-mcp tasks never ask, so none are due)."""

    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(alias="taskId")
    input_responses: dict[str, Any] = Field(default_factory=dict, alias="inputResponses")


class ModernTask(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    task_id: str = Field(serialization_alias="taskId")
    status: str
    status_message: str | None = Field(None, serialization_alias="statusMessage")
    created_at: str = Field(serialization_alias="createdAt")
    last_updated_at: str = Field(serialization_alias="lastUpdatedAt")
    ttl_ms: int | None = Field(serialization_alias="ttlMs")
    poll_interval_ms: int | None = Field(None, serialization_alias="pollIntervalMs")


class ModernCreated(ModernTask):
    result_type: Literal["task"] = Field("task", serialization_alias="resultType")


class ModernGot(ModernTask):
    result_type: Literal["complete"] = Field("complete", serialization_alias="resultType")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def _modern_fields(view: TaskView) -> dict[str, Any]:
    return {
        "task_id": view.task_id,
        "status": view.status,
        "status_message": view.message,
        "created_at": iso(view.created_at),
        "last_updated_at": iso(view.updated_at),
        "ttl_ms": view.ttl_ms,
        "poll_interval_ms": view.poll_interval_ms,
    }


def modern_created(view: TaskView) -> dict[str, Any]:
    return ModernCreated(**_modern_fields(view)).model_dump(mode="json", exclude_none=True)


def modern_got(view: TaskView, result: CallToolResult | None) -> dict[str, Any]:
    """tasks/get: the task, with the finished result inlined (completed) or the error (failed)."""
    got = ModernGot(**_modern_fields(view))
    if result is not None and view.status == "completed":
        got.result = wire_dict(result)
    elif view.status == "failed":
        data = wire_dict(result) if result is not None else None
        got.error = {"code": TASK_FAILED_CODE, "message": view.message, **({"data": data} if data else {})}
    return got.model_dump(mode="json", exclude_none=True)
