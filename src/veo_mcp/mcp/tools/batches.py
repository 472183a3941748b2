"""The batch tools: `generate_batch` (many videos, one confirmation, a queue under the account's limit),
`get_batch`, `wait_for_batch`, and `combine_videos` (finished clips joined, in order, into one MP4).

No `from __future__ import annotations` here: the resolved parameters name resolvers built inside `batch_tools`, and
the SDK reads the annotations from the function, so they must be evaluated where they stand.
"""

import hashlib
from pathlib import Path
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Resolve
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from veo_mcp.app import App
from veo_mcp.context import current_principal
from veo_mcp.core.batches import BatchState, PreparedItem, Submitted
from veo_mcp.evolink import catalog
from veo_mcp.evolink.costs import estimate_cost, total_estimate
from veo_mcp.local.files import SIMULATED_SUFFIX, slug, video_folder
from veo_mcp.mcp.arguments import (
    AllowDuplicateArg,
    AspectArg,
    AudioArg,
    CallbackArg,
    ConfirmCostArg,
    CountArg,
    DurationArg,
    EnhanceArg,
    ImageFilesArg,
    ImagesArg,
    ModeArg,
    ModelArg,
    NegativeArg,
    PersonArg,
    QualityArg,
    RequestIdArg,
    ResizeArg,
    SeedArg,
    wait_seconds,
)
from veo_mcp.mcp.batch_requests import BatchPromptArg, ItemsArg, VariantsArg, batch_consent, prepared_batch
from veo_mcp.mcp.presenters import (
    as_tool_error,
    batch_link,
    batch_next_step,
    batch_shown,
    batch_text,
    file_links,
    linked_batch,
    path_shown,
    running,
    tool_result,
    url_of,
)
from veo_mcp.mcp.questions import CostAnswer, consent_of
from veo_mcp.mcp.results import BatchReport, BatchWaitResult, CombineResult, GenerateBatchResult

MAX_NOTES = 20

_SPENDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
_WRITES_LOCALLY = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

BatchIdArg = Annotated[str, Field(min_length=1, max_length=100, description="From generate_batch.")]


def _rate_note(app: App, count: int) -> list[str]:
    """Say how the create-rate brake spreads a large batch over time."""
    limit = app.settings.max_creates_per_minute
    if limit <= 0 or count <= limit:
        return []
    minutes = (count + limit - 1) // limit
    return [
        f"VEO_MCP_MAX_CREATES_PER_MINUTE allows {limit} new generations per minute, so the {count} items are sent "
        f"over about {minutes} minutes; queued items wait, none fails for it."
    ]


async def submitted_result(
    app: App, submitted: Submitted, state: BatchState, prepared: list[PreparedItem]
) -> CallToolResult:
    """What generate_batch answers: the batch, its items and total estimate, and what to call next."""
    total = total_estimate([estimate_cost(item.request) for item in prepared])
    next_step = (
        f"Call wait_for_batch with batch_id '{state.batch_id}' (repeat until finished); finished videos are saved "
        "automatically. list_generations with batch_id lists its generations."
    )
    report = GenerateBatchResult.of(
        state,
        next_step=next_step if not state.finished else batch_next_step(state),
        reused=submitted.reused,
        cost_summary=total.summary,
        simulated=app.simulated,
        notes=[*_rate_note(app, state.total), *(note for item in prepared for note in item.notes)][:MAX_NOTES],
    )
    result = await linked_batch(app, report)  # a reused batch may have saved files already
    lead = (
        "An earlier batch with the same items answers this call; nothing new was queued or charged. "
        if submitted.reused
        else f"Queued {state.total} generations ({total.summary}). "
    )
    text = (
        batch_text(batch_shown(app, state), lead)
        + f"\n{result.next_step}"
        + ("".join(f"\n{note}" for note in result.notes))
    )
    if app.simulated:
        text += " [simulated: nothing billed]"
    return tool_result(result, text, [batch_link(state)])


def _combined_path(output_dir: Path, task_ids: list[str], file_name: str | None, simulated: bool) -> Path:
    """Where the joined film goes: the output folder (test patterns in its `simulated` subfolder, marked so)."""
    stem = (
        slug(Path(file_name).stem, 80)
        if file_name
        else f"combined-{len(task_ids)}-clips-" + (hashlib.sha256("\n".join(task_ids).encode()).hexdigest()[:10])
    )
    marker = SIMULATED_SUFFIX if simulated and not stem.endswith(SIMULATED_SUFFIX) else ""
    return video_folder(output_dir, (), simulated=simulated) / f"{stem}{marker}.mp4"


def batch_tools(app: App) -> list[Tool]:
    """generate_batch, get_batch, wait_for_batch and combine_videos, in the order clients list them."""
    return [_generate_batch_tool(app), *_progress_tools(app), _combine_tool(app)]


def _generate_batch_tool(app: App) -> Tool:
    prepare = prepared_batch(app)
    consent = batch_consent(app, prepare)

    async def generate_batch(
        prepared: Annotated[list[PreparedItem], Resolve(prepare)],
        answer: Annotated[CostAnswer, Resolve(consent)],
        items: ItemsArg = None,
        prompt: BatchPromptArg = None,
        variants: VariantsArg = None,
        model: ModelArg = catalog.DEFAULT_MODEL,
        aspect_ratio: AspectArg = "auto",
        duration: DurationArg = catalog.DEFAULT_DURATION,
        quality: QualityArg = catalog.DEFAULT_QUALITY,
        generate_audio: AudioArg = True,
        n: CountArg = 1,
        image_urls: ImagesArg = None,
        image_files: ImageFilesArg = None,
        generation_type: ModeArg = None,
        negative_prompt: NegativeArg = None,
        seed: SeedArg = None,
        enhance_prompt: EnhanceArg = True,
        person_generation: PersonArg = "allow_adult",
        resize_mode: ResizeArg = "pad",
        callback_url: CallbackArg = None,
        request_id: RequestIdArg = None,
        confirm_cost: ConfirmCostArg = False,
        allow_duplicate: AllowDuplicateArg = False,
    ) -> Annotated[CallToolResult, GenerateBatchResult]:
        """Many videos in one call: items, or a prompt × variants (every combination). One cost confirmation for the
        whole batch, then a queue under the account's concurrency limit. Returns at once with a batch_id.

        Other arguments are shared defaults. Then wait_for_batch until finished; combine_videos joins clips.
        """
        batches = running(app).batches
        submitted = await as_tool_error(
            batches.submit(
                prepared,
                request_id=request_id,
                allow_duplicate=allow_duplicate,
                consent=consent_of(answer),
                confirm_cost=confirm_cost,
            )
        )
        return await submitted_result(app, submitted, await batches.state(submitted.batch), prepared)

    return Tool.from_function(generate_batch, title="Generate a batch of videos", annotations=_SPENDS)


def _progress_tools(app: App) -> list[Tool]:
    wait_limit, default_wait = wait_seconds(app.settings.max_wait_s)

    async def get_batch(batch_id: BatchIdArg) -> Annotated[CallToolResult, BatchReport]:
        """A batch's progress: done/total and each item's status, task_id, saved files or why it failed."""
        batches = running(app).batches
        state = await batches.state(await as_tool_error(batches.get(batch_id)))
        result = await linked_batch(app, BatchReport.of(state, next_step=batch_next_step(state)))
        return tool_result(result, f"{batch_text(batch_shown(app, state))}\n{result.next_step}", [batch_link(state)])

    async def wait_for_batch(
        ctx: Context,
        batch_id: BatchIdArg,
        timeout_seconds: Annotated[float, wait_limit] = default_wait,
    ) -> Annotated[CallToolResult, BatchWaitResult]:
        """Wait until every item has finished (completed ones saved) or the timeout passes (progress: done/total);
        call again until finished."""

        async def report(state: BatchState) -> None:
            await ctx.report_progress(state.done, state.total, f"{state.done} of {state.total} finished")

        state = await as_tool_error(running(app).batches.wait(batch_id, timeout_seconds, report))
        result = await linked_batch(
            app, BatchWaitResult.of(state, timed_out=not state.finished, next_step=batch_next_step(state))
        )
        return tool_result(result, f"{batch_text(batch_shown(app, state))}\n{result.next_step}", [batch_link(state)])

    return [
        Tool.from_function(get_batch, title="Get a batch's progress", annotations=_READ_ONLY),
        Tool.from_function(wait_for_batch, title="Wait for a batch", annotations=_READ_ONLY),
    ]


def _combine_tool(app: App) -> Tool:
    async def combine_videos(
        task_ids: Annotated[
            list[str],
            Field(min_length=2, max_length=50, description="Completed generations, in playing order."),
        ],
        file_name: Annotated[str | None, Field(max_length=120, description="File name in the output folder.")] = None,
    ) -> Annotated[CallToolResult, CombineResult]:
        """Join completed clips (each generation's first video), in order, into one MP4 with their sound; its length is
        the sum of the clips'."""
        parts = running(app)
        clips, simulated = [], False
        for task_id in task_ids:
            generation = await as_tool_error(parts.registry.get(task_id))
            if generation.status != "completed":
                raise ToolError(
                    f"{task_id} is {generation.status}: only completed generations can be combined. Wait for it "
                    "(wait_for_generation or wait_for_batch), or leave it out. Nothing was written."
                )
            saved = await as_tool_error(parts.downloader.save(generation))
            clips.append(Path(saved[0].path))
            simulated = simulated or generation.simulated
        own = await parts.downloader.ensure_folder(current_principal())
        target = _combined_path(own, task_ids, file_name, simulated)
        try:
            from veo_mcp.local.combine import combine_clips  # PyAV: only when clips are joined

            combined = await anyio.to_thread.run_sync(combine_clips, clips, target)
        except (OSError, ValueError) as error:
            raise ToolError(
                f"The clips could not be joined: {error}. Nothing was written to {path_shown(app, str(target))}."
            ) from None
        result = CombineResult(
            path=path_shown(app, str(combined.path)),
            bytes=combined.bytes,
            duration=round(combined.duration_s, 3),
            method=combined.method,
            fitting=combined.fitting,
        )
        text = (
            f"Joined {len(clips)} clips into {result.path} ({result.duration:.1f} s, {result.bytes} bytes, "
            f"{combined.width}x{combined.height}, {'with sound' if combined.has_audio else 'silent'}; "
            f"{result.method}): " + ", ".join(path_shown(app, str(clip)) for clip in clips)
        ) + (f". {combined.fitting}" if combined.fitting else "")
        result.url = await url_of(app, str(combined.path))
        return tool_result(result, text, file_links([result]))

    return Tool.from_function(combine_videos, title="Join clips into one video", annotations=_WRITES_LOCALLY)
