"""What the assistant reads: argument mistakes in our own words, one coercion rule with notes, resource and prompt
errors that name what is wrong, and a tool listing that is short, dedented and says each thing once."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from tests.helpers import current_era, finish, make_client, running_harness, service_settings, text_of
from veo_mcp.app import App
from veo_mcp.core.generation import EXPIRED_ADVICE
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import Simulator, SimulatorConfig

# Words of a validator report; none may reach the model.
VALIDATOR_NOISE = ("validation error", "type=", "input_type", "input_value", "pydantic", "For further information")

MISTAKES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("estimate_cost", {"prompt": "x", "duration": "8s"}, ['duration: "8s"', "use one of 4, 6 or 8", "did you mean 8?"]),
    ("estimate_cost", {"prompt": "x", "duration": 5}, ["duration: 5", "did you mean 4 or 6?"]),
    ("estimate_cost", {"prompt": "x", "quality": "8k"}, ['quality: "8k"', 'use one of "720p", "1080p" or "4k"']),
    ("estimate_cost", {"prompt": "x", "aspect_ratio": "16x9"}, ['aspect_ratio: "16x9"', 'did you mean "16:9"?']),
    ("generate_video", {"prompt": "x", "model": "veo-3.1"}, ['model: "veo-3.1"', '"veo-3.1-fast-generate-preview"?']),
    ("generate_video", {"prompt": "x", "n": 0}, ["n: 0 is not allowed", "a whole number from 1 to 4"]),
    ("generate_video", {"prompt": "x", "seed": 0}, ["seed: 0", "from 1 to 4294967295", "or leave seed out"]),
    ("generate_video", {"duration": 8}, ["prompt is required but was not given (what the video shows"]),
    ("generate_video", {"prompt": "x", "image_urls": 5}, ["image_urls: 5", "use a list of at most 3 texts"]),
    ("generate_video", {"prompt": "x", "generate_audio": "yes"}, ['generate_audio: "yes"', "use true or false"]),
    ("generate_video", {"prompt": "x", "generate_audio": 1}, ["generate_audio: 1", "use true or false"]),
    ("generate_video", {"prompt": "x", "durration": 8}, ["generate_video has no argument 'durration'", "'duration'?"]),
    ("generate_video", {"prompt": 42}, ["prompt: 42 is not allowed; use a text"]),
    ("wait_for_generation", {"task_id": "t", "timeout_seconds": 120}, ["timeout_seconds: 120", "from 0 to 50"]),
    ("list_generations", {"status": "done"}, ['status: "done"', '"completed"', "or leave status out"]),
    ("generate", {"prompt": "x"}, ["There is no tool 'generate'. Did you mean 'generate_video'?"]),
    # Issue 22: say what is wrong and what to send instead.
    (
        "combine_videos",
        {"task_ids": ["task-unified-1-abc"]},
        ['task_ids: 1 given (["task-unified-1-abc"]); use a list of 2 to 50 texts.'],
    ),
    (
        "generate_batch",
        {"items": ["a cat", "a dog"]},
        [
            'items[0]: "a cat" is not allowed; use an object (generate_video arguments per video, e.g. {"prompt": "a cat"})'
        ],
    ),
    ("generate_video", {"prompt": "x", "resolution": "4K"}, ["no argument 'resolution'. Did you mean 'quality'?"]),
]


@pytest.mark.parametrize(("tool", "arguments", "expected"), MISTAKES, ids=[str(m[1]) for m in MISTAKES])
async def test_typical_mistakes_come_back_in_our_own_words(
    tmp_path: Path, tool: str, arguments: dict[str, Any], expected: list[str]
) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        result = await client.call_tool(tool, arguments)
    text = text_of(result)
    assert result.is_error, text
    for words in expected:
        assert words in text, text
    assert text.endswith("Nothing was sent."), text
    assert text.count("Nothing was sent") == 1 and ".." not in text and "?." not in text, text
    assert not any(noise in text for noise in VALIDATOR_NOISE), text
    assert not text.startswith("Error executing tool"), text
    assert harness.ledger()["requests"]["create"] == 0


async def test_every_refused_field_gets_its_own_sentence(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        result = await client.call_tool("generate_video", {"prompt": "x", "quality": "8K", "duration": "9", "n": "0"})
    text = text_of(result)
    assert result.is_error
    assert text.count(" is not allowed; ") == 3 and text.endswith("Nothing was sent."), text
    assert text.index("quality:") < text.index("duration:") < text.index("n:")


async def test_one_coercion_rule_for_every_field_each_normalisation_noted(tmp_path: Path) -> None:
    mistaken = {
        "prompt": "a kite over dunes",
        "duration": "8",
        "quality": "1080P",
        "aspect_ratio": " 16:9 ",
        "n": "2",
        "generate_audio": "False",
        "seed": "42",
        "generation_type": "first&last",
        "image_urls": "https://img.example.com/a.png",
        "resize_mode": None,
    }
    async with running_harness(tmp_path) as harness, harness.client() as client:
        estimate = await client.call_tool("estimate_cost", mistaken)
        listed = await client.call_tool("list_generations", {"status": "Completed", "limit": "5"})
        created = await client.call_tool("generate_video", {"prompt": "x", "duration": 6.0})
        task_id = (created.structured_content or {})["task_id"]
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": "20"})
    assert not estimate.is_error, text_of(estimate)
    data = estimate.structured_content or {}
    payload = data["payload"]
    assert (payload["duration"], payload["quality"], payload["aspect_ratio"], payload["n"]) == (8, "1080p", "16:9", 2)
    assert payload["generate_audio"] is False and payload["seed"] == 42 and payload["generation_type"] == "FIRST&LAST"
    assert payload["image_urls"] == ["https://img.example.com/a.png"] and payload["resize_mode"] == "pad"
    notes = data["notes"]
    for name in ("duration", "quality", "aspect_ratio", "n", "generate_audio", "seed", "generation_type"):
        assert any(note.startswith(f"{name}: ") and " was read as " in note for note in notes), (name, notes)
    assert 'duration: "8" was read as 8.' in notes and 'quality: "1080P" was read as "1080p".' in notes
    assert "image_urls: the single text was read as a list of one." in notes
    assert 'resize_mode: null was read as not given (the default is "pad").' in notes
    assert "Arguments read:" in text_of(estimate)
    assert not listed.is_error and (listed.structured_content or {})["notes"] == [
        'status: "Completed" was read as "completed".',
        'limit: "5" was read as 5.',
    ]
    assert (created.structured_content or {})["notes"] == []  # 6.0 is the number 6: nothing to note
    waited_notes = (waited.structured_content or {})["notes"]
    assert not waited.is_error and 'timeout_seconds: "20" was read as 20.' in waited_notes


async def test_unknown_resource_and_prompt_errors_say_what_is_wrong(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_harness(tmp_path) as harness, harness.client() as client:
        errors: dict[str, MCPError] = {}
        calls = {
            "resource": lambda: client.read_resource("veo://generations/task-nope"),
            "poster": lambda: client.read_resource("veo://generations/task-nope/poster"),
            "missing": lambda: client.get_prompt("veo_prompt", {}),
            "aspect": lambda: client.get_prompt("veo_prompt", {"idea": "a fox", "aspect_ratio": "16x9"}),
            "shots": lambda: client.get_prompt("storyboard", {"concept": "a heist", "shots": "seven"}),
            "unknown_argument": lambda: client.get_prompt("storyboard", {"concept": "a heist", "shot": "3"}),
            "unknown_prompt": lambda: client.get_prompt("storyboards", {}),
        }
        for name, call in calls.items():
            with pytest.raises(MCPError) as caught:
                await call()
            errors[name] = caught.value
        portrait = await client.get_prompt("veo_prompt", {"idea": "a fox", "aspect_ratio": "AUTO"})
        shots = await client.get_prompt("storyboard", {"concept": "a heist", "shots": "4"})
    assert all(error.code == types.INVALID_PARAMS for error in errors.values()), errors
    for name in ("resource", "poster"):
        assert "task-nope" in errors[name].message and "list_generations" in errors[name].message
        assert "Error creating resource" not in errors[name].message
    assert (
        "veo_prompt" in errors["missing"].message and "idea is required but was not given" in errors["missing"].message
    )
    aspect = errors["aspect"].message
    assert 'aspect_ratio: "16x9" is not allowed; use one of "auto", "16:9" or "9:16"' in aspect and '"16:9"?' in aspect
    assert 'shots: "seven" is not allowed; use a whole number from 2 to 6' in errors["shots"].message
    assert "has no argument 'shot'. Did you mean 'shots'?" in errors["unknown_argument"].message
    assert "veo_prompt, storyboard" in errors["unknown_prompt"].message
    message = portrait.messages[0].content
    assert isinstance(message, types.TextContent) and "aspect_ratio 'auto'" in message.text
    shots_text = shots.messages[0].content
    assert isinstance(shots_text, types.TextContent) and "4-shot storyboard" in shots_text.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage() for r in caplog.records
    ]


# Issue 16's tools (batches, storyboards): their own budget beside the 16,000 bytes of the single-video tools.
BATCH_TOOLS = ("generate_batch", "get_batch", "wait_for_batch", "combine_videos")


async def test_the_tool_listing_is_short_dedented_and_says_each_thing_once(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        listed = await client.list_tools()
    wire = listed.model_dump(mode="json", by_alias=True, exclude_none=True)
    single = {**wire, "tools": [tool for tool in wire["tools"] if tool["name"] not in BATCH_TOOLS]}
    size = len(json.dumps(single).encode())
    # 16,000 bytes, 200 more since issue 17 gave every saved file in a result its `url` (a field in three schemas),
    # and 400 more since issue 22 gave estimate_cost generate_video's allowed values and defaults (not "see there").
    assert size <= 16_600, f"tools/list without the batch tools is {size} bytes"
    batch = len(json.dumps(wire).encode()) - size
    # 7,000 bytes, and 600 more since issue 22 gave generate_batch generate_video's allowed values and defaults, an
    # example item and combine_videos a word on how clips of other sizes were fitted.
    assert batch <= 7_600, f"the four batch tools add {batch} bytes to tools/list"
    descriptions: list[str] = []
    titles: list[str] = []

    def collect(node: Any) -> None:
        """Every description and title keyword of a schema (property names are not keywords)."""
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "description" and isinstance(value, str):
                    descriptions.append(value)
                elif key == "title":
                    titles.append(str(value))
                elif key == "properties":
                    for spec in value.values():
                        collect(spec)
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    for tool in listed.tools:
        assert tool.description and "\n " not in tool.description, tool.description
        assert tool.output_schema is not None and tool.output_schema["properties"], tool.name
        collect(tool.input_schema)
        collect(tool.output_schema)
    repeated = {d for d in descriptions if descriptions.count(d) > 1}
    assert repeated == set() and titles == []
    generate = next(tool for tool in listed.tools if tool.name == "generate_video")
    assert generate.input_schema["properties"]["duration"] == {
        "default": 4,
        "description": "Length in seconds.",
        "enum": [4, 6, 8],
        "type": "integer",
    }


async def test_a_wait_result_says_each_thing_once(tmp_path: Path) -> None:
    slow = Simulator(SimulatorConfig(speed=1))
    async with running_harness(tmp_path, simulator=slow) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a slow one", "duration": 8})
        task_id = (created.structured_content or {})["task_id"]
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 1})
    text = text_of(waited)
    data = waited.structured_content or {}
    assert data["timed_out"] is True and not data["finished"]
    assert text.count("wait_for_generation") == 1 and text.count("again") == 1, text
    sentences = [s.strip() for s in text.split(". ") if s.strip()]
    assert len(sentences) == len(set(sentences)), text


async def test_an_expired_generation_is_called_expired_everywhere(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100, link_ttl_s=5))
    async with (
        running_harness(tmp_path, simulator=simulator, auto_download=False) as harness,
        harness.client() as client,
    ):
        created = await client.call_tool("generate_video", {"prompt": "gone by morning"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        simulator.service.clock.advance(3600)
        # Links live 24 h: a generation that completed 26 h ago has expired links (a young link's 403 is retried).
        (await harness.app.parts.registry.get(task_id)).completed_at = time.time() - 26 * 3600
        download = await client.call_tool("download_video", {"task_id": task_id})
        got = await client.call_tool("get_generation", {"task_id": task_id})
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id})
        resource = await client.read_resource(f"veo://generations/{task_id}")
    assert download.is_error and "expired" in text_of(download)
    for result in (got, waited):
        text = text_of(result)
        assert "expired" in text and "ready to download" not in text and "download_video" not in text, text
        assert (result.structured_content or {})["advice"] == EXPIRED_ADVICE
    assert (waited.structured_content or {})["next_step"] == EXPIRED_ADVICE
    contents = resource.contents[0]
    assert isinstance(contents, types.TextResourceContents)
    assert json.loads(contents.text)["download_status"] == "expired"


@pytest.mark.sqlite_only("two data folders are two stores here; one database would be one")
async def test_simulated_videos_go_to_their_own_folder_and_say_so(tmp_path: Path) -> None:
    saved: dict[bool, Path] = {}
    for simulated in (True, False):
        settings = service_settings(tmp_path / str(simulated), output_dir=tmp_path / "videos")
        app = App(settings, client=make_client(Simulator(SimulatorConfig(speed=100))), simulated=simulated)
        async with app.running(), Client(create_server(app), mode=current_era()) as client:
            created = await client.call_tool("generate_video", {"prompt": "a lighthouse"})
            task_id = (created.structured_content or {})["task_id"]
            await finish(client, task_id)
            files = (await client.call_tool("download_video", {"task_id": task_id})).structured_content or {}
            saved[simulated] = Path(files["files"][0]["path"])
    output = tmp_path / "videos"
    assert saved[True].parent == output / "simulated" and saved[True].name.endswith("-simulated.mp4")
    assert saved[False].parent == output and "simulated" not in saved[False].name


async def test_a_batch_refusal_names_every_bad_item_once_and_says_nothing_was_sent_once(tmp_path: Path) -> None:
    items = [{"prompt": "a", "aspect_ratio": "4:3"}, {"prompt": "b", "durration": 5}, {"prompt": "c", "res": "4k"}]
    async with running_harness(tmp_path) as harness, harness.client() as client:
        listed = await client.call_tool("generate_batch", {"items": items})
        variants = await client.call_tool("generate_batch", {"prompt": "x", "variants": {"seed": []}})
    assert text_of(listed) == (
        '3 of 3 items cannot be sent: items[0]: aspect_ratio: "4:3" is not allowed; use one of "auto", "16:9" or '
        "\"9:16\"; items[1]: 'durration' is not a generate_video argument. Did you mean 'duration'?; items[2]: 'res' "
        "is not a generate_video argument. Did you mean 'quality'? Nothing was sent or charged: fix those items and "
        "call generate_batch again."
    )
    assert text_of(variants) == (
        "variants.seed must be a non-empty list of values, e.g. [4, 8]. Nothing was sent or charged: correct that and "
        "call generate_batch again."
    )
    assert harness.ledger()["requests"]["create"] == 0
