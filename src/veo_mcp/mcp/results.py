"""The structured results of the tools (each becomes the tool's `outputSchema` and `structuredContent`)."""

from __future__ import annotations

from typing import Any, Self

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


class BatchItemReport(BaseModel):
    index: int
    arguments: dict[str, Any]
    status: str = Field(
        description="queued, sending, then the generation's status; refused, outcome_unknown or cancelled if never sent."
    )
    task_id: str | None
    duration: int
    progress: int
    files: list[str]
    urls: list[str] = Field(default_factory=list, description="Expiring links to the files (HTTP only).")
    message: str | None = Field(description="Why it was refused, or a warning.")


class BatchReport(BaseModel):
    batch_id: str
    uri: str = Field(description="The batch's resource (subscribe for updates).")
    estimated_cost_usd: float | None = Field(description="Total estimate; null: a price is unknown.")
    total: int
    done: int = Field(description="Items finished, whatever the outcome.")
    finished: bool
    queue: str | None = Field(description="Why queued items wait.")
    items: list[BatchItemReport]
    next_step: str

    @classmethod
    def of(cls, state: BatchState, **extra: Any) -> Self:
        """The public report of a batch's state (the batch resource has every detail)."""
        items = [BatchItemReport.model_validate(item.model_dump()) for item in state.items]
        fields = set(BatchReport.model_fields) - {"items", "next_step"}
        return cls(**state.model_dump(include=fields), items=items, **extra)


class GenerateBatchResult(BatchReport):
    reused: bool = Field(description="An earlier batch answers this call (nothing new queued).")
    cost_summary: str
    simulated: bool
    notes: list[str]


class BatchWaitResult(BatchReport):
    timed_out: bool


class CombineResult(BaseModel):
    path: str
    bytes: int
    duration: float = Field(description="Seconds: the clips' lengths added up.")
    method: str = Field(description="remux (streams copied) or reencode (the clips differed).")
    fitting: str | None = Field(None, description="How clips of other sizes were fitted.")
    url: str | None = Field(None, description="HTTP only: an expiring link to the video.")
