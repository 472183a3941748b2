"""The tools that cost money or say what it would cost: `generate_video` and `estimate_cost`.

No `from __future__ import annotations` here: the resolved parameters name resolvers built inside
`generate_tools`, and the SDK reads the annotations from the function, so they must be evaluated where they stand.
"""

from typing import Annotated

from mcp.server.mcpserver.resolve import Resolve
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations

from veo_mcp.app import App
from veo_mcp.core.pipeline import GenerateOutcome
from veo_mcp.evolink import catalog
from veo_mcp.evolink.costs import estimate_cost as estimate_cost_of
from veo_mcp.evolink.schemas import VideoRequest
from veo_mcp.mcp.arguments import (
    REQUEST_FIELDS,
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
    PromptArg,
    QualityArg,
    RequestIdArg,
    ResizeArg,
    SeedArg,
)
from veo_mcp.mcp.presenters import as_tool_error, file_links, generation_link, running, tool_result, with_urls
from veo_mcp.mcp.questions import CostAnswer, Prepared, consent_of, cost_consent, prepared_request
from veo_mcp.mcp.results import EstimateResult, GenerateResult

_SPENDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True)
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

_REUSED_NOTES = {
    "request_id": "Same request_id as an earlier call: this is that call's generation ({status}); nothing new was "
    "created or charged.",
    "duplicate": "An identical request was made recently: this is its generation; nothing new was charged. "
    "Pass allow_duplicate: true to pay for a new one.",
}


async def generate_result(app: App, outcome: GenerateOutcome, request: VideoRequest) -> CallToolResult:
    """What `generate_video` answers: the generation, what it costs, whether it was reused, and what to call next
    (the saved video's path when an earlier call's video is saved already)."""
    generation = outcome.generation
    estimate = generation.estimate or estimate_cost_of(request)
    reused_note = _REUSED_NOTES[outcome.reused].format(status=generation.status) if outcome.reused else None
    state = await with_urls(app, generation.state())
    saved = state.files if generation.download_state == "saved" else []
    if saved:
        next_step = "Done: the video is saved at " + ", ".join(f.path for f in saved) + "."
    elif outcome.reused and generation.finished:
        next_step = generation.next_step()
    else:
        next_step = (
            f"Call wait_for_generation with task_id '{generation.task_id}': it ends with the saved video's path."
        )
    result = GenerateResult(
        task_id=generation.task_id,
        uri=generation.uri,
        status=generation.status,
        estimated_cost_usd=estimate.usd,
        estimated_cost_credits=estimate.credits,
        cost_summary=estimate.summary,
        eta_seconds=generation.eta_seconds(),
        simulated=generation.simulated,
        reused=outcome.reused is not None,
        reused_reason=reused_note,
        request_id=generation.request_id,
        notes=generation.notes,
        next_step=next_step,
    )
    if outcome.reused is None:
        text = (
            f"Started generation {generation.task_id} ({estimate.summary}); ready in about "
            f"{result.eta_seconds or '60-180'} s. {result.next_step}"
        )
    else:
        text = f"{reused_note} Task {generation.task_id}. {result.next_step}"
    if outcome.warning:
        text = f"{outcome.warning} {text}"
    if generation.simulated:
        text += " [simulated: nothing billed]"
    return tool_result(result, text, [generation_link(generation), *file_links(saved)])


def generate_tools(app: App) -> list[Tool]:
    prepare = prepared_request(app, REQUEST_FIELDS)
    consent = cost_consent(app, prepare)

    async def generate_video(
        prompt: PromptArg,
        prepared: Annotated[Prepared, Resolve(prepare)],
        answer: Annotated[CostAnswer, Resolve(consent)],
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
    ) -> Annotated[CallToolResult, GenerateResult]:
        """Start a Veo 3.1 video. Returns at once with a task_id; it takes 1-3 minutes.

        Then call wait_for_generation: it ends with the saved video's path. Costs money (see estimate_cost); a
        request_id makes retries safe.
        """
        outcome = await as_tool_error(
            running(app).pipeline.generate(
                prepared.request,
                request_id=request_id,
                allow_duplicate=allow_duplicate,
                consent=consent_of(answer),
                confirm_cost=confirm_cost,
                images=prepared.images,
            )
        )
        return await generate_result(app, outcome, prepared.request)

    async def estimate_cost(
        prompt: PromptArg,
        prepared: Annotated[Prepared, Resolve(prepare)],
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
    ) -> Annotated[CallToolResult, EstimateResult]:
        """What generate_video with the same arguments would cost, without creating anything; also checks them."""
        request = prepared.request
        estimate = estimate_cost_of(request)
        result = EstimateResult(**estimate.model_dump(), notes=request.notes, payload=request.to_api_payload())
        return tool_result(result, f"Estimated cost: {estimate.summary}")

    return [
        Tool.from_function(generate_video, title="Generate a video", annotations=_SPENDS),
        Tool.from_function(estimate_cost, title="Estimate the cost of a video", annotations=_READ_ONLY),
    ]
