"""What a request will cost, from the catalog's price table. A model whose price EvoLink does not publish is
estimated with a stated ceiling (`catalog.UNPUBLISHED_PRICE_CEILING`), never silently: its summary says "at most"
and why, so budgets and cost confirmations still work for every model."""

from __future__ import annotations

from pydantic import BaseModel, Field

from veo_mcp.evolink import catalog
from veo_mcp.evolink.schemas import VideoRequest


class CostEstimate(BaseModel):
    """Price × duration × n. For a model without a published price `usd` is a ceiling and `known` is false."""

    model: str
    usd: float = Field(description="Estimated cost in USD (a ceiling when known is false).")
    credits: float = Field(description="The same in EvoLink credits.")
    usd_per_second: float | None = None
    billed_seconds: int = Field(description="duration × n.")
    known: bool = Field(description="False: no published price; usd is an upper bound.")
    summary: str = Field(description="One line for a person.")


def money(usd: float) -> str:
    """An amount for a person: dollars to the cent and whole credits, e.g. `$2.25 (162 credits)`."""
    return f"${usd:.2f} ({catalog.usd_to_credits(usd):.0f} credits)"


def rate(usd_per_second: float) -> str:
    """A per-second price as published (`$0.12/s`, `$0.2808/s`)."""
    return f"${usd_per_second:.4f}".rstrip("0").rstrip(".") + "/s"


def estimate_cost(request: VideoRequest) -> CostEstimate:
    caps = catalog.MODELS[request.model]
    seconds = request.effective_duration * request.n
    price = caps.price or catalog.UNPUBLISHED_PRICE_CEILING
    per_second = price.per_second(request.quality, request.generate_audio)
    usd = round(per_second * seconds, 4)
    audio = "with audio" if request.generate_audio else "no audio"
    what = f"{request.n} × {request.effective_duration} s at {request.quality} {audio}"
    if caps.price is None:
        summary = (
            f"at most {money(usd)}: {what}; EvoLink publishes no price for {request.model}, so it is estimated with "
            f"{catalog.UNPUBLISHED_PRICE_SOURCE}"
        )
    else:
        summary = f"{money(usd)}: {what}, {rate(per_second)}"
    return CostEstimate(
        model=request.model,
        usd=usd,
        credits=catalog.usd_to_credits(usd),
        usd_per_second=per_second,
        billed_seconds=seconds,
        known=caps.price is not None,
        summary=summary,
    )


def total_estimate(estimates: list[CostEstimate]) -> CostEstimate:
    """Several requests' estimates as one: the sum (an upper bound as soon as one of them is)."""
    seconds = sum(estimate.billed_seconds for estimate in estimates)
    count = len(estimates)
    usd = round(sum(estimate.usd for estimate in estimates), 4)
    known = all(estimate.known for estimate in estimates)
    models = sorted({estimate.model for estimate in estimates})
    summary = f"{money(usd)}: {count} requests, {seconds} s of video"
    if not known:
        unpublished = sorted({estimate.model for estimate in estimates if not estimate.known})
        summary = (
            f"at most {summary}; EvoLink publishes no price for {', '.join(unpublished)}, estimated with "
            f"{catalog.UNPUBLISHED_PRICE_SOURCE}"
        )
    return CostEstimate(
        model=", ".join(models),
        usd=usd,
        credits=catalog.usd_to_credits(usd),
        usd_per_second=None,
        billed_seconds=seconds,
        known=known,
        summary=summary,
    )
