"""What an MCP task says about its generation: status and status message, poll interval, and the final result.

Era-neutral: `wire.py` turns a `TaskView` into 2025-11-25 or 2026-07-28 shapes. A task is `working` while the video
renders and while it is being saved, `completed` once every video is saved (the result is then what a finished
wait_for_generation + download_video give), `failed` when the render or the saving failed (the message is the same
text, advice included, get_generation gives), and `cancelled` after tasks/cancel (or when EvoLink cancelled it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mcp_types import CallToolResult, ImageContent, TextContent
from pydantic import Field

from veo_mcp.background.downloads import VideoInfo
from veo_mcp.core.generation import Generation
from veo_mcp.mcp.presenters import file_links, generation_link, saved_files_text, state_text, tool_result
from veo_mcp.mcp.results import GenerateResult
from veo_mcp.storage import McpTaskRecord

TaskStatus = Literal["working", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

# Polling advice: about a dozen polls over the estimated render, within these bounds; 5 s with no estimate.
POLL_MIN_MS = 1_000
POLL_MAX_MS = 15_000
POLL_UNKNOWN_MS = 5_000
POLLS_PER_ESTIMATE = 12


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task as a client sees it now (times are Unix seconds)."""

    task_id: str
    generation_task_id: str
    status: TaskStatus
    message: str
    created_at: float
    updated_at: float
    ttl_ms: int
    poll_interval_ms: int | None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class TaskResult(GenerateResult):
    """generate_video's result once its task has finished: the generation's final state and its saved videos.

    A `GenerateResult` with more fields, so it still matches generate_video's output schema."""

    mcp_task_id: str = Field(description="The MCP task this is the result of.")
    finished: bool
    progress: int
    files: list[VideoInfo] = Field(description="Saved videos: path, bytes, duration, resolution, audio.")
    output_dir: str
    poster_uri: str | None = Field(description="Resource with a JPEG frame of the first saved video.")
    result_urls: list[str]
    results_expire_at: str | None
    error_code: str | None
    error_message: str | None
    advice: str | None
    download_status: str


def poll_interval_ms(generation: Generation) -> int:
    """How often to ask about the task: from the render's estimate, quicker once it is being saved."""
    if generation.status == "completed":
        return POLL_MIN_MS
    estimate = generation.eta_seconds() or generation.estimated_time_s
    if not estimate:
        return POLL_UNKNOWN_MS
    return max(POLL_MIN_MS, min(POLL_MAX_MS, math.ceil(estimate * 1000 / POLLS_PER_ESTIMATE)))


def _working_message(generation: Generation) -> str:
    """Every status names the generation (its task_id and resource), so a client that stops waiting for the task -
    a host's timeout, say - can still follow it with one get_generation or wait_for_generation call."""
    if generation.status == "completed" and generation.download_state == "failed":
        return f"Rendered; saving the video of {generation.task_id} failed and is tried again. {generation.next_step()}"
    if generation.status == "completed":
        return f"Rendered; saving the video of {generation.task_id} now."
    message = f"Generation {generation.task_id} ({generation.uri}): {generation.status} {generation.progress}%"
    if (eta := generation.eta_seconds()) is not None:
        message += f", about {eta} s left"
    return message + (" [simulated]" if generation.simulated else "")


def task_state(
    record: McpTaskRecord,
    generation: Generation | None,
    *,
    lost: bool = False,
    shown: Callable[[str], str] = str,
) -> tuple[TaskStatus, str]:
    """The task's status and status message, from its record and its generation's current state (`lost`: EvoLink
    stopped knowing the unfinished generation, so nobody polls it any more)."""
    if record.cancelled_at is not None:
        return "cancelled", record.cancel_message or "Cancelled."
    if generation is None:
        return "failed", f"veo-mcp no longer knows generation {record.generation_task_id}."
    state = generation.state()
    if generation.status == "failed":
        return "failed", state_text(state)
    if generation.status == "cancelled":
        return "cancelled", state_text(state)
    if generation.status != "completed" and lost:
        return "failed", (
            f"EvoLink no longer knows generation {generation.task_id} ({generation.error_message}); veo-mcp stopped "
            "following it. Check the EvoLink dashboard's task list, or generate it again."
        )
    if generation.status != "completed":
        return "working", _working_message(generation)
    if generation.download_state == "saved":
        return "completed", "Done: saved " + ", ".join(shown(f.path) for f in state.files)
    if generation.download_state == "expired":
        return "failed", state_text(state)
    if generation.download_state == "failed" and generation.save_settled():
        return "failed", f"The video of {generation.task_id} could not be saved. {generation.next_step()}"
    return "working", _working_message(generation)


def view_of(
    record: McpTaskRecord, generation: Generation | None, *, lost: bool = False, shown: Callable[[str], str] = str
) -> TaskView:
    """The task as its owner sees it now (`shown`: how they are shown a saved file's path)."""
    status, message = task_state(record, generation, lost=lost, shown=shown)
    updated = max(record.created_at, record.cancelled_at or 0.0, generation.updated_at if generation else 0.0)
    return TaskView(
        task_id=record.task_id,
        generation_task_id=record.generation_task_id,
        status=status,
        message=message,
        created_at=record.created_at,
        updated_at=updated,
        ttl_ms=record.ttl_ms,
        poll_interval_ms=None if status in TERMINAL or generation is None else poll_interval_ms(generation),
    )


def final_result(
    record: McpTaskRecord,
    view: TaskView,
    generation: Generation | None,
    files: list[VideoInfo],
    output_dir: str,
    poster: ImageContent | None = None,
    shown: Callable[[str], str] = str,
) -> CallToolResult:
    """The finished task's tool result: structured content, a short text, the poster and links (files too);
    `shown`: how the task's owner is shown a saved file's path."""
    if generation is None:
        return CallToolResult(content=[TextContent(type="text", text=view.message)], is_error=True)
    state = generation.state()
    state = state.model_copy(update={"files": [f.model_copy(update={"path": shown(f.path)}) for f in state.files]})
    result = TaskResult(
        **{
            **record.call_result,
            "status": generation.status,
            "eta_seconds": None,
            "next_step": view.message if view.status != "completed" else state.advice or "Done.",
        },
        mcp_task_id=record.task_id,
        finished=view.finished,
        progress=generation.progress,
        files=files,
        output_dir=output_dir,
        poster_uri=state.poster_uri,
        result_urls=state.result_urls,
        results_expire_at=state.results_expire_at,
        error_code=state.error_code,
        error_message=state.error_message,
        advice=state.advice,
        download_status=state.download_status,
    )
    links = [generation_link(generation), *file_links(files)]
    text = f"{state_text(state)} Saved {saved_files_text(files)}" if view.status == "completed" else view.message
    called = tool_result(result, text, links, poster)
    called.is_error = view.status != "completed"
    return called
