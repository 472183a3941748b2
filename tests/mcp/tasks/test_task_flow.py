"""generate_video as a native MCP task: created at once, followed to the saved video, read on both protocol eras.

Tasks are created by a 2026-07-28 SDK client declaring the tasks extension (tests/mcp/task_client.py); readers ask
on the era under test (`era`). 2025-era creation is the TypeScript SDK's test (tests/mcp/clients)."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from tests.helpers import current_era, running_harness, text_of
from tests.mcp.task_client import TaskExtension, create_task, follow, task_request
from veo_mcp.mcp.tasks import TTL_DEFAULT_MS
from veo_mcp.simulator import Simulator, SimulatorConfig

RELATED = "io.modelcontextprotocol/related-task"


def reader(harness: Any, heard: list[dict[str, Any]] | None = None, done: anyio.Event | None = None) -> Client:
    """A client on the era under test; it declares the tasks extension (2026-07-28 requires it for tasks/*) and
    keeps the status notifications it hears (`done` is set at the first finished one)."""

    async def on_status(params: dict[str, Any]) -> None:
        if heard is not None:
            heard.append(params)
        if done is not None and params["status"] in ("completed", "failed", "cancelled"):
            done.set()

    return Client(harness.server, mode=current_era(), extensions=[TaskExtension(on_status)])


def creator(harness: Any, **options: Any) -> Client:
    return Client(harness.server, mode="auto", extensions=[TaskExtension()], **options)


async def final_of(client: Client, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The finished task (as tasks/get says) and its result, the way each era gives them."""
    if current_era() == "legacy":
        result = await task_request(client, "tasks/result", {"taskId": task_id})
        assert result["_meta"][RELATED] == {"taskId": task_id}
        return await task_request(client, "tasks/get", {"taskId": task_id}), result
    got = await follow(client.session, task_id)
    return got, got.get("result") or {}


async def test_a_task_ends_with_what_wait_and_download_give(tmp_path: Path, era: str) -> None:
    async with running_harness(tmp_path) as harness, creator(harness) as making, reader(harness) as reading:
        created = await create_task(making, {"prompt": "a lighthouse at dusk"})
        state, result = await final_of(reading, created.task_id)
        structured = result["structuredContent"]
        downloaded = await reading.call_tool("download_video", {"task_id": structured["task_id"]})
    assert created.status == "working" and created.ttl_ms == TTL_DEFAULT_MS
    assert created.poll_interval_ms is not None and 1000 <= created.poll_interval_ms <= 15000
    assert state["status"] == "completed" and "saved" in state["statusMessage"]
    assert not result.get("isError")
    assert structured["mcp_task_id"] == created.task_id and structured["status"] == "completed"
    assert structured["finished"] and structured["poster_uri"] == f"veo://generations/{structured['task_id']}/poster"
    files = structured["files"]
    assert [f["path"] for f in files] == [f["path"] for f in (downloaded.structured_content or {})["files"]]
    assert Path(files[0]["path"]).read_bytes()[4:8] == b"ftyp" and files[0]["duration_s"] > 0
    kinds = [item["type"] for item in result["content"]]
    assert kinds[:2] == ["text", "image"] and base64.b64decode(result["content"][1]["data"])[:2] == b"\xff\xd8"
    links = [item["uri"] for item in result["content"] if item["type"] == "resource_link"]
    assert links == [f"veo://generations/{structured['task_id']}", Path(files[0]["path"]).as_uri()]
    assert harness.ledger()["requests"]["create"] == 1 and harness.ledger()["requests"]["download"] == 1


async def test_the_sdk_client_follows_a_task_to_a_result_that_matches_the_output_schema(tmp_path: Path) -> None:
    tasks = TaskExtension()
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode="auto", extensions=[tasks]) as client,
    ):
        await client.list_tools()  # so the client checks the result against generate_video's output schema
        result = await client.call_tool("generate_video", {"prompt": "a fox in fresh snow"})
    assert not result.is_error, text_of(result)
    assert len(tasks.created) == 1 and tasks.answers[-1]["status"] == "completed"
    assert (result.structured_content or {})["mcp_task_id"] == tasks.created[0].task_id
    assert "Saved" in text_of(result)


@pytest.mark.legacy_era
async def test_2025_clients_hear_each_status_change(tmp_path: Path, era: str) -> None:
    heard: list[dict[str, Any]] = []
    done = anyio.Event()
    simulator = Simulator(SimulatorConfig(speed=40))
    async with (
        running_harness(tmp_path, simulator=simulator) as harness,
        creator(harness) as making,
        reader(harness, heard, done) as reading,
    ):
        created = await create_task(making, {"prompt": "rain on a tin roof"})
        await task_request(reading, "tasks/get", {"taskId": created.task_id})  # asking about a task subscribes
        await task_request(reading, "tasks/result", {"taskId": created.task_id})
        with anyio.fail_after(5):
            await done.wait()
    assert {h["taskId"] for h in heard} == {created.task_id} and heard[-1]["status"] == "completed"
    assert [h["status"] for h in heard].count("working") >= 2
    messages = [(h["status"], h["statusMessage"]) for h in heard]
    assert all(a != b for a, b in itertools.pairwise(messages))  # one per change, never repeated
    assert "%" in messages[0][1]  # progress is in the status message


async def test_a_plain_call_is_unchanged_and_tasks_are_advertised_per_era(tmp_path: Path, era: str) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as plain, reader(harness) as reading:
        result = await plain.call_tool("generate_video", {"prompt": "a plain call"})
        listed = await reading.list_tools()
        capabilities = reading.server_capabilities
        tasks = (await harness.app.parts.store.mcp_tasks(0, 10))[1]
    assert not result.is_error and (result.structured_content or {})["next_step"].startswith("Call wait_for_generation")
    assert tasks == 0
    execution = {tool.name: tool.execution for tool in listed.tools}
    if era == "legacy":
        assert capabilities.tasks is not None and capabilities.tasks.requests is not None
        assert capabilities.tasks.list is not None and capabilities.tasks.cancel is not None
        assert execution["generate_video"] is not None and execution["generate_video"].task_support == "optional"
        assert execution["get_generation"] is None
    else:
        assert capabilities.extensions is not None and "io.modelcontextprotocol/tasks" in capabilities.extensions


async def test_an_unknown_task_id_is_the_protocols_error(tmp_path: Path, era: str) -> None:
    methods = ["tasks/get", "tasks/cancel"] + (["tasks/result"] if era == "legacy" else ["tasks/update"])
    async with running_harness(tmp_path) as harness, reader(harness) as reading:
        for method in methods:
            with pytest.raises(MCPError) as raised:
                await task_request(reading, method, {"taskId": "no-such-task"})
            assert raised.value.error.code == -32602, method
            assert "no task 'no-such-task'" in raised.value.error.message
        # and the server is still fine
        assert not (await reading.call_tool("list_models", {})).is_error


@pytest.mark.legacy_era
async def test_tasks_are_listed_like_generations_newest_first(tmp_path: Path, era: str) -> None:
    async with running_harness(tmp_path) as harness, creator(harness) as making, reader(harness) as reading:
        first = await create_task(making, {"prompt": "first"})
        second = await create_task(making, {"prompt": "second"})
        listed = await task_request(reading, "tasks/list")
        with pytest.raises(MCPError):
            await task_request(reading, "tasks/list", {"cursor": "not-a-cursor"})
    assert [t["taskId"] for t in listed["tasks"]] == [second.task_id, first.task_id]
    assert "nextCursor" not in listed


async def test_a_tasks_first_status_names_the_generation_so_one_call_recovers_it(tmp_path: Path) -> None:
    """Issue 22: a host that stops waiting for a task (a 60 s tool timeout) still showed the model the task's first
    status; it names the generation, and one wait_for_generation with that id ends with the saved video."""
    async with running_harness(tmp_path) as harness, creator(harness) as making, harness.client() as plain:
        created = await create_task(making, {"prompt": "a lighthouse at dusk"})
        message = created.status_message or ""
        generation = message.split(" ")[1] if message.startswith("Generation ") else ""
        waited = await plain.call_tool("wait_for_generation", {"task_id": generation, "timeout_seconds": 50})
    assert generation.startswith("task-unified-") and f"(veo://generations/{generation})" in message, message
    state = waited.structured_content or {}
    assert not waited.is_error and state["download_status"] == "saved" and Path(state["files"][0]["path"]).is_file()


@pytest.mark.legacy_era
async def test_a_task_augmented_call_of_a_tool_without_task_support_is_method_not_found(tmp_path: Path) -> None:
    """2025-11-25: a tool whose taskSupport is absent (forbidden) answers a task-augmented call with -32601, not
    with a plain result a client would misread as a task."""
    async with running_harness(tmp_path) as harness, reader(harness) as client:
        with pytest.raises(MCPError) as refused:
            await task_request(client, "tools/call", {"name": "list_models", "arguments": {}, "task": {"ttl": 60000}})
        plain = await task_request(client, "tools/call", {"name": "list_models", "arguments": {}})
    assert refused.value.error.code == -32601
    assert refused.value.error.message == (
        "list_models cannot run as a task (only generate_video and generate_batch can): call it without `task`."
    )
    assert "structuredContent" in plain
