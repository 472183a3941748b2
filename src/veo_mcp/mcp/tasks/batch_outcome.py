"""What an MCP task running `generate_batch` says: its status and message from the batch, and the final result.

A batch task is `working` while items are queued, rendering or being saved, `completed` once every item has finished
and every completed one is saved (the result lists every item: its status, task id and saved files, or why it did
not complete), `failed` when no video of the batch could be saved, and `cancelled` after tasks/cancel (nothing more of
the batch is sent; what was created goes on upstream and is saved).
"""

from __future__ import annotations

from mcp_types import CallToolResult, TextContent

from veo_mcp.app import App
from veo_mcp.core.batches import BatchState
from veo_mcp.mcp.presenters import (
    batch_counts,
    batch_link,
    batch_next_step,
    batch_shown,
    batch_text,
    linked_batch,
    tool_result,
)
from veo_mcp.mcp.results import GenerateBatchResult
from veo_mcp.mcp.tasks.outcome import POLL_UNKNOWN_MS, TERMINAL, TaskStatus, TaskView
from veo_mcp.storage import McpTaskRecord

BATCH_TOOL = "generate_batch"
_SAVE_FINAL = ("saved", "expired", "failed")


class BatchTaskResult(GenerateBatchResult):
    """generate_batch's result once its task has finished (a `GenerateBatchResult` with the task's id)."""

    mcp_task_id: str


def batch_task_state(record: McpTaskRecord, state: BatchState | None) -> tuple[TaskStatus, str]:
    if record.cancelled_at is not None:
        return "cancelled", record.cancel_message or "Cancelled."
    if state is None:
        return "failed", f"veo-mcp no longer knows batch {record.generation_task_id}."
    if not state.finished:
        queue = f"; queue: {state.queue}" if state.queue else ""
        return "working", f"{state.done} of {state.total} finished ({batch_counts(state)}){queue}"
    completed = [item for item in state.items if item.status == "completed"]
    unsaved = [item for item in completed if item.download_status not in _SAVE_FINAL]
    if unsaved:
        return "working", f"All rendered; saving {len(unsaved)} video(s) now."
    saved = [item for item in completed if item.download_status == "saved"]
    if not saved:
        reasons = "; ".join(f"[{item.index}] {item.status}: {item.message or ''}".strip() for item in state.items)
        return "failed", f"No video of batch {state.batch_id} could be made or saved ({reasons[:1500]})."
    return "completed", f"Done: {len(saved)} of {state.total} videos saved ({batch_counts(state)})."


def batch_view_of(record: McpTaskRecord, state: BatchState | None, updated_at: float) -> TaskView:
    status, message = batch_task_state(record, state)
    return TaskView(
        task_id=record.task_id,
        generation_task_id=record.generation_task_id,
        status=status,
        message=message,
        created_at=record.created_at,
        updated_at=max(record.created_at, record.cancelled_at or 0.0, updated_at),
        ttl_ms=record.ttl_ms,
        poll_interval_ms=None if status in TERMINAL or state is None else POLL_UNKNOWN_MS,
    )


async def batch_final_result(
    app: App, record: McpTaskRecord, view: TaskView, state: BatchState | None
) -> CallToolResult:
    if state is None:
        return CallToolResult(content=[TextContent(type="text", text=view.message)], is_error=True)
    first = record.call_result
    report = BatchTaskResult.of(
        state,
        next_step=batch_next_step(state),
        reused=bool(first.get("reused")),
        cost_summary=str(first.get("cost_summary", "")),
        simulated=bool(first.get("simulated")),
        notes=list(first.get("notes") or []),
        mcp_task_id=record.task_id,
    )
    result = await linked_batch(app, report)
    text = batch_text(batch_shown(app, state), "" if view.status == "completed" else f"{view.message} ")
    called = tool_result(result, f"{text}\n{result.next_step}", [batch_link(state)])
    called.is_error = view.status != "completed"
    return called
