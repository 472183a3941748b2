"""Everything an assistant reads before it calls anything, word for word and schema for schema, on both protocol
eras: the server's instructions, every tool (title, description, input and output schema, annotations), every
prompt with what it says for one set of arguments, and the resources and templates. It is public interface: a
change to it must be deliberate, and shows up as a diff of `tests/mcp/surface.json` in review.

After a deliberate change: `VEO_MCP_UPDATE_SURFACE=1 python -m pytest -n0 tests/mcp/test_surface.py`, then read the
diff of surface.json before committing it. A failure right after a dependency upgrade (the SDK's or pydantic's schema
output) is the same: the surface an assistant reads changed, and the diff says how."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.helpers import current_era, running_harness

SURFACE = Path(__file__).with_name("surface.json")
# One set of arguments per prompt: what each says is pinned for them.
PROMPT_ARGUMENTS = {
    "veo_prompt": {"idea": "a fox in the snow", "aspect_ratio": "9:16"},
    "storyboard": {"concept": "a heist in a library", "shots": "3"},
}


def _wire(model: Any) -> Any:
    wire = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    # The package's version (in the 2026 era's `_meta`) moves with every release, not with the surface.
    wire.get("_meta", {}).get("io.modelcontextprotocol/serverInfo", {}).pop("version", None)
    return wire


async def _surface(tmp_path: Path) -> dict[str, Any]:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        tools = _wire(await client.list_tools())["tools"]
        prompts = _wire(await client.list_prompts())["prompts"]
        said = {
            prompt["name"]: _wire(await client.get_prompt(prompt["name"], PROMPT_ARGUMENTS[prompt["name"]]))
            for prompt in prompts
        }
        templates = _wire(await client.list_resource_templates())["resourceTemplates"]
        resources = _wire(await client.list_resources())["resources"]
        return {
            "instructions": client.instructions,
            "tools": sorted(tools, key=lambda tool: tool["name"]),
            "prompts": sorted(prompts, key=lambda prompt: prompt["name"]),
            "prompts_said": said,
            "resource_templates": sorted(templates, key=lambda template: template["uriTemplate"]),
            "resources": sorted(resources, key=lambda resource: resource["uri"]),
        }


async def test_what_an_assistant_reads_is_exactly_the_recorded_surface(tmp_path: Path) -> None:
    era = str(current_era())
    seen = await _surface(tmp_path)
    recorded = json.loads(SURFACE.read_text(encoding="utf-8")) if SURFACE.exists() else {}
    if os.environ.get("VEO_MCP_UPDATE_SURFACE") == "1":
        recorded[era] = seen
        SURFACE.write_text(json.dumps(recorded, indent=1, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")
    assert era in recorded, f"surface.json has no {era} surface: run with VEO_MCP_UPDATE_SURFACE=1"
    wanted = recorded[era]
    for part in wanted:  # part by part, so that a failure names what changed
        assert seen[part] == wanted[part], f"the {part} an assistant reads changed (see this module's docstring)"
    assert sorted(seen) == sorted(wanted)
    assert [tool["name"] for tool in seen["tools"]] == sorted(
        [
            "combine_videos",
            "download_video",
            "estimate_cost",
            "generate_batch",
            "generate_video",
            "get_batch",
            "get_generation",
            "list_generations",
            "list_models",
            "wait_for_batch",
            "wait_for_generation",
        ]
    )
