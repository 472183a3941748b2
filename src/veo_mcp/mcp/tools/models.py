"""`list_models`: what each Veo 3.1 model on EvoLink can do and costs, straight from the catalog."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations

from veo_mcp.evolink import catalog
from veo_mcp.mcp.presenters import tool_result
from veo_mcp.mcp.results import ModelInfo, ModelsResult


async def list_models() -> Annotated[CallToolResult, ModelsResult]:
    """The Veo 3.1 models on EvoLink: modes, allowed values, limits and prices ("unknown" when unpublished)."""
    models = []
    for caps in catalog.MODELS.values():
        prices = None
        if caps.price is not None:
            prices = {
                f"{quality}/{'audio' if audio else 'no_audio'}": caps.price.per_second(quality, audio)
                for quality in caps.qualities
                for audio in (True, False)
            }
        models.append(
            ModelInfo(
                id=caps.id,
                title=caps.title,
                description=caps.description,
                generation_types=list(caps.generation_types),
                durations=list(caps.durations),
                qualities=list(caps.qualities),
                aspect_ratios=list(caps.aspect_ratios),
                max_images={k: v for k, v in caps.max_images.items() if v},
                audio=caps.supports_audio,
                reference_aspect_ratios=list(caps.reference_aspect_ratios),
                reference_fixed_duration=caps.reference_fixed_duration,
                price_usd_per_second=prices,
                assumptions=list(caps.assumed),
            )
        )
    result = ModelsResult(default_model=catalog.DEFAULT_MODEL, models=models, credit_usd=catalog.USD_PER_CREDIT)
    text = "; ".join(
        f"{m.id}: {', '.join(m.generation_types)}, "
        + ("price unknown" if m.price_usd_per_second is None else f"from ${min(m.price_usd_per_second.values()):.2f}/s")
        for m in models
    )
    return tool_result(result, text)


def model_tools() -> list[Tool]:
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )
    return [Tool.from_function(list_models, title="List models and prices", annotations=read_only)]
