"""A client side for MCP tasks in tests, on the SDK's `Client`.

- 2026-07-28: `TaskExtension` declares the tasks extension and claims the `resultType: "task"` answer of tools/call;
  `client.call_tool` then follows the task with `tasks/get` to its inlined result (as FastMCP's client does), and
  the extension keeps what it saw. `create_task` takes the task itself instead.
- Either era: `task_request` sends a `tasks/*` request as it is (the SDK client passes methods it does not know).
  The SDK client cannot create 2025-era tasks (its tools/call check refuses a CreateTaskResult), so 2025-era
  creation is covered by the TypeScript SDK in tests/mcp/clients; 2025-era clients here read tasks other clients
  created (the task book is one per server) and hear `notifications/tasks/status`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client.extension import ClaimContext, ClientExtension, NotificationBinding, ResultClaim
from mcp.client.session import ClientSession
from pydantic import ConfigDict, Field, TypeAdapter

TASKS = "io.modelcontextprotocol/tasks"
_ANY = TypeAdapter(dict[str, Any])
POLL_S = 0.02  # the tests' simulator renders in well under a second
MAX_POLLS = 1000


class CreatedTask(types.Result):
    """The 2026-07-28 answer of a tools/call run as a task (SEP-2663)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    status_message: str | None = Field(None, alias="statusMessage")
    ttl_ms: int | None = Field(None, alias="ttlMs")
    poll_interval_ms: int | None = Field(None, alias="pollIntervalMs")


class _Raw(types.Request[dict[str, Any], str]):
    method: str
    params: dict[str, Any]


async def task_request(client: Client, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send a `tasks/*` request as it is; its answer as a plain dict (protocol errors raise MCPError)."""
    return await client.session.send_request(_Raw(method=method, params=params or {}), _ANY)


async def follow(session: ClientSession, task_id: str, seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """2026-07-28: `tasks/get` until the task has finished; its last answer."""
    for _ in range(MAX_POLLS):
        got = await session.send_request(_Raw(method="tasks/get", params={"taskId": task_id}), _ANY)
        if seen is not None:
            seen.append(got)
        if got["status"] in ("completed", "failed", "cancelled"):
            return got
        await anyio.sleep(POLL_S)
    raise AssertionError(f"task {task_id} did not finish")


class TaskExtension(ClientExtension):
    """Declares the tasks extension; on 2025-era sessions it hears `notifications/tasks/status`."""

    identifier = TASKS

    def __init__(self, on_status: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
        self._on_status = on_status
        self.created: list[CreatedTask] = []
        self.answers: list[dict[str, Any]] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=self._resolve)]

    async def _resolve(self, created: CreatedTask, context: ClaimContext) -> types.CallToolResult:
        self.created.append(created)
        got = await follow(context.session, created.task_id, self.answers)
        if got["status"] == "completed":
            return types.CallToolResult.model_validate(got["result"])
        message = (got.get("error") or {}).get("message") or got.get("statusMessage") or got["status"]
        return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)

    def notifications(self) -> list[NotificationBinding[Any]]:
        if self._on_status is None:
            return []
        on_status = self._on_status

        async def heard(params: types.TaskStatusNotificationParams) -> None:
            await on_status(params.model_dump(by_alias=True, exclude_none=True))

        return [
            NotificationBinding(
                method="notifications/tasks/status", params_type=types.TaskStatusNotificationParams, handler=heard
            )
        ]


async def create_task(client: Client, arguments: dict[str, Any], tool: str = "generate_video") -> CreatedTask:
    """A task tool (generate_video by default) as a task, without following it (the client must carry
    `TaskExtension`)."""
    created = await client.session.call_tool(tool, arguments, allow_claimed=True)
    assert isinstance(created, CreatedTask), created
    return created
