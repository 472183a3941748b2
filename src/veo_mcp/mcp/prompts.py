"""Prompt templates that help an assistant write strong Veo prompts and plan multi-shot videos.

Their arguments are typed like the tools' (`aspect_ratio` takes exactly what generate_video takes), and
`PromptArguments` middleware checks them by the same rule before a prompt is rendered, so a prompt never suggests a
value the tool would then refuse.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.utilities.func_metadata import func_metadata
from mcp_types import Completion
from pydantic import Field

from veo_mcp.evolink import catalog
from veo_mcp.evolink.catalog import AspectRatio
from veo_mcp.mcp.checking import FieldRule, rules_of
from veo_mcp.mcp.presenters import one_line

STYLES = (
    "cinematic",
    "documentary",
    "anime",
    "stop-motion",
    "product commercial",
    "vlog handheld",
    "noir",
    "nature documentary",
    "music video",
    "3d animation",
)
MIN_SHOTS, MAX_SHOTS = 2, 6
SHOT_COUNTS = tuple(str(count) for count in range(MIN_SHOTS, MAX_SHOTS + 1))


def complete_prompt_argument(prompt: str, argument: str, value: str) -> Completion | None:
    options = {"style": STYLES, "aspect_ratio": catalog.ASPECT_RATIOS, "shots": SHOT_COUNTS}.get(argument)
    if options is None or prompt not in PROMPTS:
        return None
    matches = [option for option in options if option.startswith(value.lower())]
    return Completion(values=matches, total=len(matches), has_more=False)


def veo_prompt(
    idea: Annotated[str, Field(min_length=1, description="The video idea in your own words.")],
    style: Annotated[str, Field(description="Visual style, e.g. cinematic, anime, documentary.")] = "cinematic",
    aspect_ratio: Annotated[
        AspectRatio, Field(description="16:9 (landscape), 9:16 (portrait) or auto, as generate_video takes it.")
    ] = "16:9",
) -> str:
    """Turn a rough idea into a detailed Veo 3.1 prompt (subject, action, camera, light, sound), then generate."""
    idea, style = one_line(idea), one_line(style)  # user text must not forge lines of the instructions
    return (
        f"Write a Veo 3.1 video prompt for this idea: {idea}\n\n"
        f"Style: {style}. Aspect ratio: {aspect_ratio}. Length: one continuous shot of 4, 6 or 8 seconds.\n"
        "Cover, in 60-150 words of plain prose:\n"
        "1. Subject and action: who or what, doing exactly what, in which setting.\n"
        "2. Camera: shot size (wide/medium/close-up), angle, movement (dolly, pan, tracking, static), lens feel.\n"
        "3. Light and colour: time of day, light sources, mood, palette.\n"
        "4. Sound: ambience, effects, music, and any dialogue in quotes (Veo renders audio).\n"
        "5. What to avoid goes in negative_prompt, not in the prompt (e.g. 'text, watermark, blur').\n"
        "Avoid real people's names, brands and copyrighted characters (they are refused).\n\n"
        "Then call estimate_cost with the prompt, tell the user the cost, and on their go-ahead call "
        f"generate_video with aspect_ratio '{aspect_ratio}', followed by wait_for_generation and download_video."
    )


def storyboard(
    concept: Annotated[str, Field(min_length=1, description="What the whole video is about.")],
    shots: Annotated[
        int, Field(ge=MIN_SHOTS, le=MAX_SHOTS, description=f"How many shots ({MIN_SHOTS}-{MAX_SHOTS}).")
    ] = 3,
    style: Annotated[str, Field(description="Visual style shared by every shot.")] = "cinematic",
) -> str:
    """Plan a sequence of shots with consistent characters and look, generate them as one batch, then join them."""
    concept, style = one_line(concept), one_line(style)
    return (
        f"Plan a {shots}-shot storyboard for: {concept}\nShared style: {style}.\n\n"
        "For every shot give: a number, its purpose in the story, duration (4, 6 or 8 s), and a complete Veo "
        "prompt. Keep continuity: describe recurring characters, wardrobe, props and setting with the same words "
        "in every prompt, keep lighting and palette consistent, and use one fixed seed for all shots. Transitions "
        "happen between clips, so each prompt is one continuous shot.\n"
        "Show the plan with the total estimated cost (call estimate_cost per shot) and ask for approval. Then "
        "call generate_batch once with one item per shot, in story order (one confirmation covers the whole "
        "batch), wait_for_batch until it is finished, and combine_videos with the shots' task_ids in story order "
        "to join them into one film."
    )


PROMPTS: dict[str, tuple[Callable[..., str], str]] = {
    "veo_prompt": (veo_prompt, "Write a strong Veo prompt"),
    "storyboard": (storyboard, "Storyboard a multi-shot video"),
}


def prompt_rules() -> dict[str, dict[str, FieldRule]]:
    """Each prompt's arguments as the checking rule reads them (the same argument model the SDK builds)."""
    return {
        name: rules_of(func_metadata(fn, structured_output=False).arg_model.model_json_schema())
        for name, (fn, _) in PROMPTS.items()
    }


def register_prompts(server: MCPServer) -> None:
    for name, (fn, title) in PROMPTS.items():
        server.prompt(name=name, title=title, description=inspect.cleandoc(fn.__doc__ or ""))(fn)
