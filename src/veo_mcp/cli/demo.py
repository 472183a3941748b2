"""`veo-mcp demo`: one generation end to end through the real MCP server, against the built-in simulator (the
test-pattern video lands in the output folder's `simulated` subfolder)."""

from __future__ import annotations

from pathlib import Path

from veo_mcp.cli.checks import check_output_folder
from veo_mcp.cli.run import Session, generate_command
from veo_mcp.evolink import catalog
from veo_mcp.settings import load_settings

DEFAULT_PROMPT = (
    "A red fox trots through fresh snow at dawn, low tracking shot, soft golden light, "
    "the crunch of snow and distant birdsong"
)


def run_demo(*, prompt: str | None, output_dir: str | None, speed: float | None, as_json: bool) -> int:
    settings = load_settings(
        {"simulator_speed": "--speed", "output_dir": "--output-dir"},
        simulate=True,
        base_url=catalog.DEFAULT_BASE_URL,
        simulator_speed=speed,
        output_dir=Path(output_dir) if output_dir else None,
        poll_interval_min_s=0.1,
        poll_interval_max_s=2.0,
    )
    arguments = {"prompt": prompt or DEFAULT_PROMPT, "aspect_ratio": "16:9", "duration": 4, "allow_duplicate": True}
    title = "veo-mcp demo (simulated: nothing was billed; saved in the 'simulated' folder)"

    async def before(session: Session) -> None:
        check_output_folder(settings, simulated=True)

    return generate_command(settings, arguments, as_json=as_json, assume_yes=False, title=title, before=before)
