"""The structured results of the tools (each becomes the tool's `outputSchema` and `structuredContent`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from veo_mcp.background.downloads import VideoInfo
from veo_mcp.core.batches import BatchState
from veo_mcp.core.generation import GenerationState
from veo_mcp.evolink.costs import CostEstimate


class GenerateResult(BaseModel):
    task_id: str = Field(description="EvoLink task id, for the other tools.")
    uri: str = Field(description="Resource URI (subscribe for updates).")
    status: str
    estimated_cost_usd: float | None = Field(description="Estimated cost in USD; null: price unknown.")
    estimated_cost_credits: float | None
    cost_summary: str
    eta_seconds: int | None = Field(description="Seconds until ready (estimate).")
    simulated: bool = Field(description="Made by the built-in simulator (nothing billed).")
    reused: bool = Field(False, description="An earlier generation answers this call (nothing charged).")
    reused_reason: str | None = None
    request_id: str | None = None
    notes: list[str] = Field(default_factory=list, description="Arguments that were normalised, adjusted or ignored.")
    next_step: str


class WaitResult(GenerationState):
    timed_out: bool = Field(description="The timeout passed before it finished or stalled.")
    next_step: str = Field(description="What to do now.")


class DownloadResult(BaseModel):
    task_id: str
    files: list[VideoInfo]
    output_dir: str


class GenerationSummary(BaseModel):
    task_id: str
    uri: str
    status: str
    progress: int
    stalled: bool
    prompt: str
    created_at: str | None
    files: list[str]


class UnconfirmedCreate(BaseModel):
    """A create whose outcome is unknown: it may have been accepted (and billed); it is never resent."""

    request_id: str | None
    prompt: str
    model: str
    state: str = Field(description="outcome_unknown or sending.")
    sent_at: str
    estimated_cost_usd: float | None
    message: str | None
    advice: str


class ListResult(BaseModel):
    generations: list[GenerationSummary]
    unconfirmed: list[UnconfirmedCreate] = Field(
        default_factory=list,
        description="Creates whose outcome is unknown (first page only).",
    )
    total: int = Field(description="How many generations match.")
    next_cursor: str | None = Field(description="cursor for the next page; null: last page.")
    notes: list[str] = Field(default_factory=list)


class EstimateResult(CostEstimate):
    notes: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(description="The exact request generate_video would send.")


class ModelInfo(BaseModel):
    id: str
    title: str
    description: str
    generation_types: list[str]
    durations: list[int]
    qualities: list[str]
    aspect_ratios: list[str]
    max_images: dict[str, int]
    audio: bool
    reference_aspect_ratios: list[str]
    reference_fixed_duration: int | None
    price_usd_per_second: dict[str, float] | None = Field(
        description="Keyed '<quality>/<audio|no_audio>'; null: unknown."
    )
    assumptions: list[str]


class ModelsResult(BaseModel):
    default_model: str
    models: list[ModelInfo]
    credit_usd: float = Field(description="USD per EvoLink credit.")


class BatchReport(BatchState):
    next_step: str


class GenerateBatchResult(BatchReport):
    reused: bool = Field(False, description="True when an earlier batch answers this call (nothing new was queued).")
    estimated_cost_credits: float | None = None
    cost_summary: str
    simulated: bool = Field(description="True when the built-in simulator makes the videos (nothing billed).")
    notes: list[str] = Field(default_factory=list)


class BatchWaitResult(BatchReport):
    timed_out: bool = Field(description="True when the wait ended before every item finished.")


class CombineResult(BaseModel):
    path: str = Field(description="The joined MP4.")
    bytes: int
    duration: float = Field(description="Length in seconds: the clips' lengths added up.")
    task_ids: list[str] = Field(description="The generations joined, in order.")
    clips: list[str] = Field(description="The saved videos that were joined, in order.")
    method: str = Field(description="remux (streams copied as they are) or reencode (sizes or sound differed).")
    width: int
    height: int
    has_audio: bool
