"""The structured results of the tools (each becomes the tool's `outputSchema` and `structuredContent`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from veo_mcp.background.downloads import VideoInfo
from veo_mcp.core.generation import GenerationState
from veo_mcp.evolink.costs import CostEstimate


class GenerateResult(BaseModel):
    task_id: str = Field(description="EvoLink task id; pass it to the other tools.")
    uri: str = Field(description="Resource URI of the generation (subscribe for live updates).")
    status: str
    estimated_cost_usd: float | None = Field(description="Estimated cost in USD; null when the price is unknown.")
    estimated_cost_credits: float | None
    cost_summary: str
    eta_seconds: int | None = Field(description="Estimated seconds until the video is ready.")
    simulated: bool = Field(description="True when the built-in simulator made it (nothing billed).")
    reused: bool = Field(False, description="True when an earlier generation answers this call (nothing charged).")
    reused_reason: str | None = Field(None, description="Why the earlier generation was returned.")
    request_id: str | None = Field(None, description="The request_id this generation was created with.")
    notes: list[str] = Field(default_factory=list, description="Parameters that were adjusted or ignored.")
    next_step: str


class WaitResult(GenerationState):
    timed_out: bool = Field(description="True when the wait ended before the generation finished.")
    next_step: str


class DownloadResult(BaseModel):
    task_id: str
    files: list[VideoInfo] = Field(description="Saved videos: path, bytes, duration, resolution, audio.")
    output_dir: str


class GenerationSummary(BaseModel):
    task_id: str
    uri: str
    status: str
    progress: int
    prompt: str
    created_at: str | None
    files: list[str]


class UnconfirmedCreate(BaseModel):
    """A create whose outcome is unknown: it may have been accepted (and billed); it is never resent."""

    request_id: str | None
    prompt: str
    model: str
    state: str = Field(description="outcome_unknown, or sending while a call is sending it right now.")
    sent_at: str
    estimated_cost_usd: float | None
    message: str | None
    advice: str


class ListResult(BaseModel):
    generations: list[GenerationSummary]
    unconfirmed: list[UnconfirmedCreate] = Field(
        default_factory=list,
        description="Creates whose outcome is unknown (check the EvoLink dashboard); shown on the first page.",
    )
    total: int = Field(description="How many generations match.")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class EstimateResult(CostEstimate):
    notes: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(description="The exact request that generate_video would send.")


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
    credit_usd: float = Field(description="What one EvoLink credit costs in USD.")
