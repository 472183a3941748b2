"""The tools that follow a generation to a file: `get_generation`, `wait_for_generation`, `download_video` and
`list_generations`. None of them creates anything or spends money.

No `from __future__ import annotations` here: the wait's limit is built from the settings inside
`generation_tools`, and the SDK reads the annotations from the function, so they must be evaluated where they stand.
"""

import time
from datetime import UTC, datetime
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from veo_mcp.app import App, Running
from veo_mcp.core.generation import Generation, GenerationState
from veo_mcp.evolink.catalog import TaskStatus
from veo_mcp.mcp.arguments import TaskIdArg, wait_seconds
from veo_mcp.mcp.player import PLAYER_META
from veo_mcp.mcp.presenters import (
    as_tool_error,
    file_links,
    generation_link,
    linked,
    one_line,
    path_shown,
    poster_content,
    running,
    saved_files_text,
    state_line,
    state_text,
    tool_result,
    with_urls,
)
from veo_mcp.mcp.results import DownloadResult, GenerationSummary, ListResult, UnconfirmedCreate, WaitResult
from veo_mcp.storage import CreateRecord

BatchFilterArg = Annotated[str | None, Field(description="Only the generations of this batch (generate_batch).")]

_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_SAVES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
_READS_UPSTREAM = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)


def _summary(app: App, generation: Generation) -> GenerationSummary:
    return GenerationSummary(
        task_id=generation.task_id,
        uri=generation.uri,
        status=generation.status,
        progress=generation.progress,
        stalled=generation.stalled(),
        prompt=generation.prompt,
        created_at=generation.state().created_at,
        files=[path_shown(app, f.path) for f in generation.files],
    )


def _unconfirmed(record: CreateRecord) -> UnconfirmedCreate:
    return UnconfirmedCreate(
        request_id=record.request_id,
        prompt=record.prompt,
        model=record.model,
        state=record.state,
        sent_at=datetime.fromtimestamp(record.created_at, tz=UTC).isoformat(timespec="seconds"),
        estimated_cost_usd=record.estimate_usd,
        message=record.message,
        advice="Check the EvoLink dashboard's task list; if it is there, get_generation with its id tracks "
        "it here. veo-mcp will not resend it.",
    )


def _progress_message(generation: Generation) -> str:
    return f"{generation.status} {generation.progress}%" + (" (stalled)" if generation.stalled() else "")


def _list_text(result: ListResult) -> str:
    text = f"{result.total} generation(s)" + "".join(
        f"\n- {s.task_id}: {s.status} {s.progress}% {one_line(s.prompt, 60)}" for s in result.generations
    )
    if result.unconfirmed:
        text += f"\n{len(result.unconfirmed)} create(s) with unknown outcome (not resent): " + "; ".join(
            f"{u.sent_at} {u.prompt[:40]!r}" for u in result.unconfirmed
        )
    return text


def _page_offset(cursor: str | None) -> int:
    try:
        return int(cursor) if cursor else 0
    except ValueError:
        raise ToolError(
            f"cursor {cursor!r} is not one this tool returned; omit it to start at the first page."
        ) from None


async def _listing(
    parts: Running, status: str | None, offset: int, limit: int, batch_id: str | None
) -> tuple[list[Generation], int, list[CreateRecord]]:
    """One page of generations (all, or one batch's), how many match, and the unconfirmed creates to show."""
    if batch_id is None:
        page, total = await parts.registry.listing(status, offset, limit)
        return page, total, await parts.ledger.unconfirmed() if offset == 0 else []
    batch = await as_tool_error(parts.batches.get(batch_id))
    wanted, request_ids = set(batch.task_ids()), {item.request_id for item in batch.items}
    everything, _ = await parts.registry.listing(status, 0, len(parts.registry.generations) + 1)
    matching = [g for g in everything if g.task_id in wanted]
    records = [r for r in await parts.ledger.unconfirmed() if r.request_id in request_ids] if offset == 0 else []
    return matching[offset : offset + limit], len(matching), records


def generation_tools(app: App) -> list[Tool]:
    data_dir = app.settings.data_dir
    wait_limit, default_wait = wait_seconds(app.settings.max_wait_s)

    async def get_generation(task_id: TaskIdArg) -> Annotated[CallToolResult, GenerationState]:
        """Status, progress, ETA, result links, saved files, or the failure, with what to do next."""
        generation = await as_tool_error(running(app).registry.get(task_id))
        state = await with_urls(app, generation.state())
        links = [generation_link(generation), *file_links(state.files)]
        return tool_result(state, state_text(state), links, await poster_content(generation, data_dir))

    async def wait_for_generation(
        ctx: Context,
        task_id: TaskIdArg,
        timeout_seconds: Annotated[float, wait_limit] = default_wait,
    ) -> Annotated[CallToolResult, WaitResult]:
        """Wait (reporting progress) until the video is saved (files has its path), it failed or stalled, or the
        timeout passes (not an error). Then follow next_step."""

        async def report(generation: Generation) -> None:
            await ctx.report_progress(generation.progress, 100, _progress_message(generation))

        deadline = time.time() + timeout_seconds
        generation = await as_tool_error(running(app).registry.wait(task_id, timeout_seconds, report))
        state = await with_urls(app, generation.state())
        next_step = state.advice or generation.next_step()
        timed_out = not generation.save_settled(deadline) and not state.stalled
        result = WaitResult(**state.model_dump(), timed_out=timed_out, next_step=next_step)
        poster = await poster_content(generation, data_dir)
        return tool_result(result, f"{state_line(state)}. {next_step}", [generation_link(generation)], poster)

    async def download_video(
        task_id: Annotated[str, Field(min_length=1, description="Task id of a completed generation.")],
        subfolder: Annotated[
            str | None, Field(description="Optional folder inside the output directory, e.g. 'drafts'.")
        ] = None,
    ) -> Annotated[CallToolResult, DownloadResult]:
        """Save (or copy into subfolder) the videos as MP4 files in the output folder; returns paths, sizes,
        durations, resolutions. Safe to repeat."""
        parts = running(app)
        generation = await as_tool_error(parts.registry.get(task_id))
        files = await linked(app, await as_tool_error(parts.downloader.save(generation, subfolder)))
        output_dir = path_shown(app, str(parts.downloader.output_dir(generation.owner)))
        result = DownloadResult(task_id=task_id, files=files, output_dir=output_dir)
        links = [generation_link(generation), *file_links(files)]
        return tool_result(
            result, f"Saved {saved_files_text(files)}", links, await poster_content(generation, data_dir)
        )

    async def list_generations(
        status: Annotated[TaskStatus | None, Field(description="Only generations in this status.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Page size.")] = 20,
        cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
        batch_id: BatchFilterArg = None,
    ) -> Annotated[CallToolResult, ListResult]:
        """Generations this server knows, newest first, optionally filtered by status or batch; paginated."""
        offset = _page_offset(cursor)
        page, total, records = await _listing(running(app), status, offset, limit, batch_id)
        following = offset + len(page)
        result = ListResult(
            generations=[_summary(app, g) for g in page],
            unconfirmed=[_unconfirmed(r) for r in records],
            total=total,
            next_cursor=str(following) if following < total else None,
        )
        return tool_result(result, _list_text(result))

    player, upstream = PLAYER_META, _READS_UPSTREAM  # get/wait/download render in the inline player
    return [
        Tool.from_function(get_generation, title="Get a generation's state", meta=player, annotations=upstream),
        Tool.from_function(wait_for_generation, title="Wait for a generation", meta=player, annotations=upstream),
        Tool.from_function(download_video, title="Download a generation's videos", meta=player, annotations=_SAVES),
        Tool.from_function(list_generations, title="List generations", annotations=_READ_ONLY),
    ]
