"""The MCP surface end to end, through the SDK's in-memory client session and a real stdio subprocess."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import anyio
import av
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated

from tests.helpers import current_era, finish, make_client, running_harness
from tests.helpers import service_settings as _settings
from tests.helpers import text_of as _text
from veo_mcp.app import App
from veo_mcp.evolink import parse_video_request
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig

TOOLS = {
    "generate_video",
    "get_generation",
    "wait_for_generation",
    "download_video",
    "list_generations",
    "estimate_cost",
    "list_models",
    "generate_batch",
    "get_batch",
    "wait_for_batch",
    "combine_videos",
}


async def test_tools_carry_the_api_schema(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness:
        async with harness.client() as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        props = tools["generate_video"].input_schema["properties"]
        assert props["quality"]["enum"] == ["720p", "1080p", "4k"] and props["quality"]["default"] == "720p"
        assert props["duration"]["enum"] == [4, 6, 8] and props["duration"]["default"] == 4
        assert props["aspect_ratio"]["enum"] == ["auto", "16:9", "9:16"]
        assert (props["n"]["minimum"], props["n"]["maximum"], props["n"]["default"]) == (1, 4, 1)
        assert props["generate_audio"]["default"] is True
        assert props["model"]["default"] == "veo-3.1-fast-generate-preview"
        assert tools["generate_video"].input_schema["required"] == ["prompt"]
        assert all(props[name].get("description") for name in props)
        money_controls = {"request_id", "confirm_cost", "allow_duplicate"}
        assert money_controls <= set(props)
        assert set(tools["estimate_cost"].input_schema["properties"]) == set(props) - money_controls
        for tool in tools.values():
            assert tool.output_schema is not None and tool.description
        generate = tools["generate_video"].annotations
        assert generate is not None and generate.idempotent_hint is False and generate.open_world_hint is True
        assert generate.read_only_hint is False
        batch = tools["generate_batch"].annotations
        assert batch is not None and batch.idempotent_hint is False and batch.read_only_hint is False
        batch_props = tools["generate_batch"].input_schema["properties"]
        assert set(props) - {"prompt"} <= set(batch_props) and {"items", "variants"} <= set(batch_props)
        for name in ("get_generation", "wait_for_generation", "list_generations", "estimate_cost", "list_models"):
            annotations = tools[name].annotations
            assert annotations is not None and annotations.read_only_hint is True
        assert "task_id" in tools["generate_video"].output_schema["properties"]
        assert "files" in tools["download_video"].output_schema["properties"]


@pytest.mark.legacy_era
async def test_generate_subscribe_wait_download_read(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness:
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total, message))

        async with harness.client() as client:
            await client.list_resources()
            created = await client.call_tool("generate_video", {"prompt": "a paper boat on a river", "duration": 8})
            assert not created.is_error, _text(created)
            data = created.structured_content or {}
            task_id, uri = data["task_id"], data["uri"]
            assert uri == f"veo://generations/{task_id}" and data["estimated_cost_usd"] == pytest.approx(0.96)
            assert data["simulated"] is True
            assert any(isinstance(item, types.ResourceLink) and item.uri == uri for item in created.content)
            await client.subscribe_resource(uri)
            state = await finish(client, task_id, progress=on_progress)
            assert state["status"] == "completed" and state["progress"] == 100 and len(state["result_urls"]) == 1
            saved = await client.call_tool("download_video", {"task_id": task_id, "subfolder": "boats"})
            assert not saved.is_error, _text(saved)
            files = (saved.structured_content or {})["files"]
            path = Path(files[0]["path"])
            assert path.parent == harness.app.settings.output_dir / "simulated" / "boats"
            assert path.name.endswith("-simulated.mp4")
            assert path.stat().st_size == files[0]["bytes"] and files[0]["duration_s"] == pytest.approx(8, abs=0.2)
            assert (files[0]["width"], files[0]["height"]) == (256, 144) and files[0]["has_audio"] is True
            with av.open(str(path)) as container:  # the length as the file itself gives it, to the microsecond
                assert container.duration is not None and files[0]["duration_s"] == container.duration / 1_000_000
            read = await client.read_resource(uri)
            resource = read.contents[0]
            assert isinstance(resource, types.TextResourceContents) and resource.mime_type == "application/json"
            assert str(path) in resource.text and '"simulated": true' in resource.text
            listed = await client.list_resources()
            assert [r.uri for r in listed.resources] == [uri]
        updates = [n for n in harness.notifications if isinstance(n, types.ResourceUpdatedNotification)]
        assert updates and all(n.params.uri == uri for n in updates)
        assert any(isinstance(n, types.ResourceListChangedNotification) for n in harness.notifications)
        assert progress and progress[-1][0] == 100 and all(total == 100 for _, total, _ in progress)
        assert [p for p, _, _ in progress] == sorted(p for p, _, _ in progress)
        assert any("completed" in str(log.data) for log in harness.logs)
        assert harness.ledger()["requests"]["create"] == 1


async def test_bad_inputs_are_refused_with_field_names_and_nothing_sent(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness:
        cases = [
            ({"prompt": "x", "quality": "8k"}, ["quality", "8k"]),
            ({"prompt": "x", "n": 7}, ["n", "7"]),
            (
                {"prompt": "x", "generation_type": "REFERENCE", "image_urls": ["https://e.com/a.png"], "duration": 6},
                ["duration", "fixed at 8"],
            ),
            ({"prompt": "x", "image_urls": ["http://127.0.0.1/frame.png"]}, ["image_urls[0]", "loopback"]),
            ({"prompt": "x", "callback_url": "http://hooks.example.com"}, ["callback_url", "https"]),
            ({"prompt": " "}, ["prompt"]),
            (
                {
                    "prompt": "x",
                    "model": "veo3.1-pro",
                    "generation_type": "REFERENCE",
                    "image_urls": ["https://e.com/a.png"],
                },
                ["generation_type", "REFERENCE"],
            ),
        ]
        async with harness.client() as client:
            for arguments, expected in cases:
                for tool in ("generate_video", "estimate_cost"):
                    result = await client.call_tool(tool, arguments)
                    assert result.is_error, (tool, arguments)
                    for word in expected:
                        assert word in _text(result), (tool, arguments, _text(result))
        assert harness.ledger()["requests"]["create"] == 0


async def test_upstream_402_is_explained(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100, balance_usd=0.1))
    service = App(_settings(tmp_path), client=make_client(simulator), simulated=True)
    async with service.running(), Client(create_server(service), mode=current_era()) as client:
        result = await client.call_tool("generate_video", {"prompt": "x"})
    assert result.is_error and "credit" in _text(result).lower() and "Top up" in _text(result)


async def test_failed_generation_is_explained(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness:
        harness.simulator.faults.add(Fault(kind="fail_task", error_code="content_policy_violation", fraction=0.3))
        async with harness.client() as client:
            created = await client.call_tool("generate_video", {"prompt": "x"})
            task_id = (created.structured_content or {})["task_id"]
            state = await finish(client, task_id)
            download = await client.call_tool("download_video", {"task_id": task_id})
        assert state["status"] == "failed" and state["error_code"] == "content_policy_violation"
        assert state["retryable"] is False and "rephrase" in state["advice"]
        assert download.is_error and "nothing to download" in _text(download)


async def test_wait_times_out_without_error_and_in_time(tmp_path: Path) -> None:
    """A render that cannot finish (stalled upstream): the wait ends at its timeout, as a result, not an error."""
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="stall", fraction=0.3))
    service = App(_settings(tmp_path), client=make_client(simulator), simulated=True)
    async with service.running(), Client(create_server(service), mode=current_era()) as client:
        created = await client.call_tool("generate_video", {"prompt": "x"})
        task_id = (created.structured_content or {})["task_id"]
        started = anyio.current_time()
        with anyio.fail_after(30):  # bounded: a wait that ignored its timeout fails here instead of hanging
            result = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 1})
        waited = anyio.current_time() - started
    data = result.structured_content or {}
    assert not result.is_error and data["timed_out"] is True and data["finished"] is False
    assert data["status"] == "processing" and "again" in data["next_step"]
    assert waited >= 1.0  # it really waited its whole timeout (a lower bound cannot race)


@pytest.mark.legacy_era
async def test_one_poller_serves_every_watcher(tmp_path: Path) -> None:
    """Twenty watchers of one generation (subscribers and waits) cause no upstream call: the one poller's single
    GET, due a second after the create, finishes every wait."""
    simulator = Simulator(SimulatorConfig(speed=1))
    settings = _settings(tmp_path, poll_interval_min_s=1.0, poll_interval_max_s=1.0, auto_download=False)
    service = App(settings, client=make_client(simulator), simulated=True)
    server = create_server(service)
    subscribers, waits = 12, 8
    finished: list[str] = []
    async with service.running():
        async with Client(server, mode=current_era()) as first:
            created = await first.call_tool("generate_video", {"prompt": "x"})
            task_id = (created.structured_content or {})["task_id"]
        simulator.service.clock.advance(3600)  # upstream has finished it; only a poll can tell
        gets_before = simulator.service.requests["get"]

        async def subscriber() -> None:
            async with Client(server, mode=current_era()) as client:
                await client.subscribe_resource(f"veo://generations/{task_id}")
                await client.call_tool("get_generation", {"task_id": task_id})

        async def waiter() -> None:
            async with Client(server, mode=current_era()) as client:
                state = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 50})
                finished.append((state.structured_content or {})["status"])

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for _ in range(subscribers):
                    group.start_soon(subscriber)
                for _ in range(waits):
                    group.start_soon(waiter)
    assert finished == ["completed"] * waits
    assert simulator.service.requests["get"] - gets_before == 1


async def test_without_key_tools_explain_how_to_set_it(tmp_path: Path) -> None:
    service = App(_settings(tmp_path))
    assert not service.configured
    async with service.running(), Client(create_server(service), mode=current_era()) as client:
        result = await client.call_tool("generate_video", {"prompt": "x"})
        models = await client.call_tool("list_models", {})
        estimate = await client.call_tool("estimate_cost", {"prompt": "x", "quality": "4k", "duration": 8})
        instructions = client.instructions
    assert result.is_error and "EVOLINK_API_KEY" in _text(result) and "--simulate" in _text(result)
    assert not models.is_error and not estimate.is_error
    assert (estimate.structured_content or {})["usd"] == pytest.approx(2.2464)
    assert instructions is not None and "EVOLINK_API_KEY" in instructions


async def test_list_generations_pages_newest_first(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness:
        async with harness.client() as client:
            ids = []
            for index in range(3):
                created = await client.call_tool("generate_video", {"prompt": f"shot {index}"})
                ids.append((created.structured_content or {})["task_id"])
            first = (await client.call_tool("list_generations", {"limit": 2})).structured_content or {}
            second = (
                await client.call_tool("list_generations", {"limit": 2, "cursor": first["next_cursor"]})
            ).structured_content or {}
            failed = (await client.call_tool("list_generations", {"status": "failed"})).structured_content or {}
        assert first["total"] == 3 and len(first["generations"]) == 2 and second["next_cursor"] is None
        assert [g["task_id"] for g in first["generations"]] == [ids[2], ids[1]]
        assert [g["task_id"] for g in second["generations"]] == [ids[0]] and failed["total"] == 0


async def test_completions_and_prompts(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness:
        async with harness.client() as client:
            created = await client.call_tool("generate_video", {"prompt": "x"})
            task_id = (created.structured_content or {})["task_id"]
            completion = await client.complete(
                types.ResourceTemplateReference(type="ref/resource", uri="veo://generations/{task_id}"),
                {"name": "task_id", "value": "task-unified"},
            )
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            styles = await client.complete(
                types.PromptReference(type="ref/prompt", name="veo_prompt"), {"name": "style", "value": "an"}
            )
            prompt = await client.get_prompt("veo_prompt", {"idea": "a fox in snow", "style": "anime"})
        assert completion.completion.values == [task_id]
        assert {"veo_prompt", "storyboard"} <= prompts
        assert styles.completion.values == ["anime"]
        message = prompt.messages[0].content
        assert (
            isinstance(message, types.TextContent)
            and "a fox in snow" in message.text
            and "generate_video" in message.text
        )


async def test_stdio_subprocess_does_the_whole_job(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "VEO_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
            "VEO_MCP_DATA_DIR": str(tmp_path / "data"),
            "VEO_MCP_SIMULATOR_SPEED": "300",
            "VEO_MCP_POLL_MIN": "0.05",
        }
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "veo_mcp", "serve", "--simulate"], env=env)
    async with Client(params, mode=current_era()) as client:
        assert "SIMULATED" in (client.instructions or "")
        capabilities = client.server_capabilities
        assert capabilities.resources is not None and capabilities.resources.subscribe is True
        assert capabilities.resources.list_changed is True
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        created = await client.call_tool("generate_video", {"prompt": "a lantern at night"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id, 20)
        saved = await client.call_tool("download_video", {"task_id": task_id})
    path = Path((saved.structured_content or {})["files"][0]["path"])
    assert path.parent == tmp_path / "videos" / "simulated" and path.read_bytes()[4:8] == b"ftyp"


async def test_wait_never_outlives_its_timeout_even_when_upstream_hangs(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=1))
    async with make_client(simulator) as outside:
        foreign = await outside.create_generation(parse_video_request({"prompt": "made elsewhere"}))
    simulator.faults.add(Fault(kind="delay", endpoint="get", seconds=3600, count=10))  # upstream hangs for an hour
    service = App(_settings(tmp_path), client=make_client(simulator, request_timeout_s=600), simulated=True)
    async with service.running(), Client(create_server(service), mode=current_era()) as client:
        with anyio.fail_after(30):  # far below the hour: only a wait that keeps its own timeout ends in time
            result = await client.call_tool("wait_for_generation", {"task_id": foreign.id, "timeout_seconds": 1})
    assert result.is_error and "within 1 s" in _text(result)


async def test_poster_frames_let_the_assistant_see_the_result(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a poster-worthy sunset", "quality": "1080p"})
        task_id = (created.structured_content or {})["task_id"]
        before = await client.call_tool("get_generation", {"task_id": task_id})
        await finish(client, task_id)
        saved = await client.call_tool("download_video", {"task_id": task_id})
        state = (await client.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
        poster = await client.read_resource(state["poster_uri"])
    assert not any(isinstance(item, types.ImageContent) for item in before.content)  # nothing saved yet
    images = [item for item in saved.content if isinstance(item, types.ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/jpeg"
    jpeg = base64.b64decode(images[0].data)
    assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) <= 100_000
    blob = poster.contents[0]
    assert isinstance(blob, types.BlobResourceContents) and blob.mime_type == "image/jpeg"
    assert base64.b64decode(blob.blob) == jpeg  # cached: the same bytes every time


async def test_2026_clients_listen_for_changes(tmp_path: Path) -> None:
    """The 2026-07-28 protocol: the same tools, and `subscriptions/listen` instead of resources/subscribe."""
    async with running_harness(tmp_path) as harness, Client(harness.server, mode="2026-07-28") as client:
        created = (await client.call_tool("generate_video", {"prompt": "the modern way"})).structured_content or {}
        events = []
        with anyio.fail_after(20):
            async with client.listen(resource_subscriptions=[created["uri"]], resources_list_changed=True) as stream:
                assert stream.honored.resource_subscriptions == [created["uri"]]
                async for event in stream:
                    events.append(event)
                    state = await client.call_tool("get_generation", {"task_id": created["task_id"]})
                    if (state.structured_content or {})["finished"]:
                        break
    updates = [event for event in events if isinstance(event, ResourceUpdated)]
    assert updates and {event.uri for event in updates} == {created["uri"]}, events
    assert all(isinstance(event, ResourceUpdated | ResourcesListChanged) for event in events), events
    assert (state.structured_content or {})["status"] == "completed"
