"""Background work for a generation (polling it, saving its video) runs as the generation's owner and about its task,
so log lines can name both, and the video lands in the owner's own folder."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
from mcp.client import Client

from tests.helpers import TEST_KEY, service_settings
from veo_mcp.app import App
from veo_mcp.context import LOCAL_PRINCIPAL, acting_as, current_principal, current_task_id
from veo_mcp.evolink import EvoLinkClient, parse_video_request
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport


class Recording(SimulatorTransport):
    """The simulator, noting for whom and about which task each read (a status poll, a video download) was sent."""

    def __init__(self, simulator: Simulator) -> None:
        super().__init__(simulator)
        self.polls: list[tuple[str, str, str | None]] = []
        self.downloads: list[tuple[str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/tasks/" in request.url.path:
            self.polls.append((request.url.path.rsplit("/", 1)[-1], current_principal(), current_task_id()))
        elif request.method == "GET":
            self.downloads.append((current_principal(), current_task_id()))
        return await super().handle_async_request(request)


async def test_polls_and_saves_run_as_the_owner_about_the_task(tmp_path: Path) -> None:
    transport = Recording(Simulator(SimulatorConfig(speed=100)))
    client = EvoLinkClient(
        api_key=TEST_KEY, base_url=IN_PROCESS_BASE_URL, files_base_url=IN_PROCESS_BASE_URL, transport=transport
    )
    app = App(service_settings(tmp_path), client=client, simulated=True)
    async with app.running():
        with acting_as("alice"):
            outcome = await app.parts.pipeline.generate(parse_video_request({"prompt": "a heron"}), consent="given")
        generation = outcome.generation
        assert generation.owner == "alice"
        with anyio.fail_after(20):
            while generation.download_state != "saved":
                await generation.changed.wait()
    polls = [poll for poll in transport.polls if poll[0] == generation.task_id]
    assert polls and set(polls) == {(generation.task_id, "alice", generation.task_id)}
    assert transport.downloads and set(transport.downloads) == {("alice", generation.task_id)}
    saved = Path(generation.files[0].path)
    assert saved.is_relative_to(tmp_path / "videos" / "alice") and saved.is_file()


async def test_a_tool_call_runs_about_the_generation_it_names(tmp_path: Path) -> None:
    transport = Recording(Simulator(SimulatorConfig(speed=100)))
    client = EvoLinkClient(
        api_key=TEST_KEY, base_url=IN_PROCESS_BASE_URL, files_base_url=IN_PROCESS_BASE_URL, transport=transport
    )
    app = App(service_settings(tmp_path), client=client, simulated=True)
    task_id = "task-unified-1700000000-abcdefgh"
    async with app.running(), Client(create_server(app), mode="legacy") as session:
        answer = await session.call_tool("get_generation", {"task_id": task_id})  # asked upstream: unknown there
    assert answer.is_error
    assert transport.polls and set(transport.polls) == {(task_id, LOCAL_PRINCIPAL, task_id)}
