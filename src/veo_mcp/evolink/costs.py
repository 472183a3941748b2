"""What a request will cost, from the catalog's price table; "unknown" rather than a guess."""

from __future__ import annotations

from pydantic import BaseModel, Field

from veo_mcp.evolink import catalog
from veo_mcp.evolink.schemas import VideoRequest


class CostEstimate(BaseModel):
    """Price × duration × n. `usd` and `credits` are None when the model's price is not published."""

    model: str
    usd: float | None = Field(description="Estimated cost in USD; null: unknown.")
    credits: float | None = Field(description="The same in EvoLink credits.")
    usd_per_second: float | None = None
    billed_seconds: int = Field(description="duration × n.")
    known: bool = Field(description="False: no published price.")
    summary: str = Field(description="One line for a person.")


def estimate_cost(request: VideoRequest) -> CostEstimate:
    caps = catalog.MODELS[request.model]
    seconds = request.effective_duration * request.n
    if caps.price is None:
        return CostEstimate(
            model=request.model,
            usd=None,
            credits=None,
            usd_per_second=None,
            billed_seconds=seconds,
            known=False,
            summary=f"unknown: EvoLink publishes no price for {request.model} ({seconds} s of video)",
        )
    per_second = caps.price.per_second(request.quality, request.generate_audio)
    usd = round(per_second * seconds, 4)
    credits = catalog.usd_to_credits(usd)
    audio = "with audio" if request.generate_audio else "no audio"
    return CostEstimate(
        model=request.model,
        usd=usd,
        credits=credits,
        usd_per_second=per_second,
        billed_seconds=seconds,
        known=True,
        summary=(
            f"${usd:.4f} ({credits:g} credits): {request.n} × {request.effective_duration} s at {request.quality} "
            f"{audio}, ${per_second:.4f}/s"
        ),
    )


def total_estimate(estimates: list[CostEstimate]) -> CostEstimate:
    """Several requests' estimates as one: the sum, or unknown as soon as one price is unknown."""
    unknown = next((estimate for estimate in estimates if estimate.usd is None), None)
    seconds = sum(estimate.billed_seconds for estimate in estimates)
    count = len(estimates)
    if unknown is not None:
        return CostEstimate(
            model=unknown.model,
            usd=None,
            credits=None,
            usd_per_second=None,
            billed_seconds=seconds,
            known=False,
            summary=f"unknown: EvoLink publishes no price for {unknown.model} ({count} requests, {seconds} s of video)",
        )
    usd = round(sum(estimate.usd or 0.0 for estimate in estimates), 4)
    credits = catalog.usd_to_credits(usd)
    models = sorted({estimate.model for estimate in estimates})
    return CostEstimate(
        model=", ".join(models),
        usd=usd,
        credits=credits,
        usd_per_second=None,
        billed_seconds=seconds,
        known=True,
        summary=f"${usd:.4f} ({credits:g} credits): {count} requests, {seconds} s of video",
    )
