"""Prompt templates that help an assistant write strong Veo prompts and plan multi-shot videos."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp_types import Completion
from pydantic import Field

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
ASPECTS = ("16:9", "9:16")
SHOT_COUNTS = ("2", "3", "4", "5", "6")


def complete_prompt_argument(prompt: str, argument: str, value: str) -> Completion | None:
    options = {"style": STYLES, "aspect_ratio": ASPECTS, "shots": SHOT_COUNTS}.get(argument)
    if options is None or prompt not in ("veo_prompt", "storyboard"):
        return None
    matches = [option for option in options if option.startswith(value.lower())]
    return Completion(values=matches, total=len(matches), has_more=False)


def register_prompts(server: MCPServer) -> None:
    @server.prompt(title="Write a strong Veo prompt")
    def veo_prompt(
        idea: Annotated[str, Field(description="The video idea in your own words.")],
        style: Annotated[str, Field(description="Visual style, e.g. cinematic, anime, documentary.")] = "cinematic",
        aspect_ratio: Annotated[str, Field(description="16:9 (landscape) or 9:16 (portrait).")] = "16:9",
    ) -> str:
        """Turn a rough idea into a detailed Veo 3.1 prompt (subject, action, camera, light, sound), then generate."""
        idea, style, aspect_ratio = one_line(idea), one_line(style), one_line(aspect_ratio)
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

    @server.prompt(title="Storyboard a multi-shot video")
    def storyboard(
        concept: Annotated[str, Field(description="What the whole video is about.")],
        shots: Annotated[str, Field(description="How many shots (2-6).")] = "3",
        style: Annotated[str, Field(description="Visual style shared by every shot.")] = "cinematic",
    ) -> str:
        """Plan a sequence of shots with consistent characters and look, each one a separate generation."""
        concept, shots, style = one_line(concept), one_line(shots), one_line(style)
        return (
            f"Plan a {shots}-shot storyboard for: {concept}\nShared style: {style}.\n\n"
            "For every shot give: a number, its purpose in the story, duration (4, 6 or 8 s), and a complete Veo "
            "prompt. Keep continuity: describe recurring characters, wardrobe, props and setting with the same words "
            "in every prompt, keep lighting and palette consistent, and use one fixed seed for all shots. Transitions "
            "happen between clips, so each prompt is one continuous shot.\n"
            "Show the plan with the total estimated cost (call estimate_cost per shot) and ask for approval. Then "
            "call generate_video for each shot, wait_for_generation for each, and download_video into a subfolder "
            "named after the concept."
        )
