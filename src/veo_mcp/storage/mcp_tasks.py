"""The `mcp_tasks` table: each MCP task (a task-augmented tool call) and the generation it follows.

A row outlives the process, so a client that created a task before a restart can still ask about it and fetch its
result afterwards. Rows expire `ttl_ms` after creation (the retention the client was granted) and are removed then.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.storage.database import Database, Row


class McpTaskRecord(BaseModel):
    task_id: str
    generation_task_id: str
    tool: str
    call_result: dict[str, Any]
    created_at: float
    ttl_ms: int
    cancelled_at: float | None = None
    cancel_message: str | None = None
    principal: str = LOCAL_PRINCIPAL  # who created it: only they may read, list or cancel it

    @property
    def expires_at(self) -> float:
        return self.created_at + self.ttl_ms / 1000


def _record_from_row(row: Row) -> McpTaskRecord:
    return McpTaskRecord(
        task_id=row["task_id"],
        generation_task_id=row["generation_task_id"],
        tool=row["tool"],
        call_result=json.loads(row["call_result_json"]),
        created_at=row["created_at"],
        ttl_ms=row["ttl_ms"],
        cancelled_at=row["cancelled_at"],
        cancel_message=row["cancel_message"],
        principal=row["principal"],
    )


# Live: not yet past its retention. The expression is the same in every query below.
_LIVE = "created_at + ttl_ms / 1000.0 > ?"


class McpTaskTable(Database):
    async def save_mcp_task(self, record: McpTaskRecord) -> None:
        await self._write(
            "INSERT INTO mcp_tasks (task_id, generation_task_id, tool, call_result_json, created_at, ttl_ms, "
            "cancelled_at, cancel_message, principal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.task_id,
                record.generation_task_id,
                record.tool,
                json.dumps(record.call_result),
                record.created_at,
                record.ttl_ms,
                record.cancelled_at,
                record.cancel_message,
                record.principal,
            ),
        )

    async def mcp_task(self, task_id: str) -> McpTaskRecord | None:
        """The task, unless it is unknown or past its retention."""
        rows = await self._rows(f"SELECT * FROM mcp_tasks WHERE task_id = ? AND {_LIVE}", (task_id, time.time()))  # noqa: S608
        return _record_from_row(rows[0]) if rows else None

    async def mcp_tasks(
        self, offset: int, limit: int, principal: str = LOCAL_PRINCIPAL
    ) -> tuple[list[McpTaskRecord], int]:
        """One page of `principal`'s live tasks, newest first, and how many there are."""
        now = time.time()
        rows = await self._rows(
            f"SELECT * FROM mcp_tasks WHERE principal = ? AND {_LIVE} "  # noqa: S608
            "ORDER BY created_at DESC, task_id LIMIT ? OFFSET ?",
            (principal, now, limit, offset),
        )
        total = await self._rows(
            f"SELECT COUNT(*) FROM mcp_tasks WHERE principal = ? AND {_LIVE}",  # noqa: S608
            (principal, now),
        )
        return [_record_from_row(row) for row in rows], int(total[0][0])

    async def mcp_tasks_of(self, generation_task_id: str) -> list[McpTaskRecord]:
        """The live tasks following one generation, oldest first."""
        rows = await self._rows(
            f"SELECT * FROM mcp_tasks WHERE generation_task_id = ? AND {_LIVE} ORDER BY created_at",  # noqa: S608
            (generation_task_id, time.time()),
        )
        return [_record_from_row(row) for row in rows]

    async def cancel_mcp_task(self, task_id: str, message: str) -> None:
        await self._write(
            "UPDATE mcp_tasks SET cancelled_at = ?, cancel_message = ? WHERE task_id = ? AND cancelled_at IS NULL",
            (time.time(), message, task_id),
        )

    async def forget_expired_mcp_tasks(self) -> None:
        """Remove the tasks whose retention has passed (their generations stay)."""
        await self._write("DELETE FROM mcp_tasks WHERE created_at + ttl_ms / 1000.0 <= ?", (time.time(),))
