"""From "make me a video" to a path on a client that gives up on a tool call after 60 s: how many tool calls it takes.

The assistant's journey, as a Claude Code-like client without subscriptions makes it: generate_video, then
wait_for_generation (the default wait, under the server's VEO_MCP_MAX_WAIT of 50 s) until the answer carries the
saved file's path. Three renders: 4 s, 8 s and 8 s at 4k, whose simulated render times are those of the real
service (see catalog SIM_*). Measured against the simulator at real speed, or at `--speed X` with every time (render,
polls, the wait limit, the client's 60 s) divided by X - the call count is the same, the run X times shorter.

Figures: the tool calls per journey (none of them download_video: a journey that ends without a path fails the
bench) and the longest call in (real-time) seconds against the 60 s client limit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import anyio
from common import emit
from mcp.client import Client
from mcp.shared.exceptions import MCPDeprecationWarning

from veo_mcp.app import App
from veo_mcp.evolink import EvoLinkClient
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

CLIENT_LIMIT_S = 60.0
RENDERS = {
    "4s_720p": {"duration": 4, "quality": "720p"},
    "8s_720p": {"duration": 8, "quality": "720p"},
    "8s_4k": {"duration": 8, "quality": "4k"},
}


async def journey(client: Client, arguments: dict[str, Any], speed: float) -> dict[str, Any]:
    calls, longest = 1, 0.0
    created = await client.call_tool(
        "generate_video", {"prompt": "a kite over dunes", **arguments, "confirm_cost": True}
    )
    assert not created.is_error, created
    task_id = (created.structured_content or {})["task_id"]
    while True:
        started = time.perf_counter()
        with anyio.fail_after(CLIENT_LIMIT_S / speed):  # the client gives up after 60 s (scaled)
            waited = await client.call_tool("wait_for_generation", {"task_id": task_id})
        longest = max(longest, (time.perf_counter() - started) * speed)
        calls += 1
        state = waited.structured_content or {}
        if state.get("files"):
            return {"calls": calls, "longest_call_s": round(longest, 1)}
        if not state.get("timed_out"):
            raise AssertionError(f"{task_id}: the wait ended without a path: {state.get('next_step')}")


async def run(speed: float) -> dict[str, Any]:
    simulator = Simulator(SimulatorConfig(speed=speed))
    with tempfile.TemporaryDirectory() as temp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(temp) / "data",
            output_dir=Path(temp) / "videos",
            max_wait_s=50 / speed,
            poll_interval_min_s=2 / speed,
            poll_interval_max_s=30 / speed,
            hourly_budget_usd=0,
        )
        client = EvoLinkClient(api_key="bench", base_url=IN_PROCESS_BASE_URL, transport=SimulatorTransport(simulator))
        app = App(settings, client=client, simulated=True)
        figures: dict[str, Any] = {}
        async with app.running(), Client(create_server(app), mode="legacy") as session:

            async def one(name: str, arguments: dict[str, Any]) -> None:
                figures[name] = await journey(session, arguments, speed)

            async with anyio.create_task_group() as group:
                for name, arguments in RENDERS.items():
                    group.start_soon(one, name, arguments)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="run 10 times faster (same call counts)")
    parser.add_argument("--speed", type=float, default=None, help="simulated speed (default 1; --quick: 10)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)  # a 2025-era client, on purpose
    speed = args.speed or (10.0 if args.quick else 1.0)
    figures = anyio.run(run, speed)
    emit(
        {
            **{f"journey_calls_{name}": result["calls"] for name, result in figures.items()},
            **{f"journey_longest_call_s_{name}": result["longest_call_s"] for name, result in figures.items()},
            "journey_speed": speed,
        }
    )


if __name__ == "__main__":
    main()
