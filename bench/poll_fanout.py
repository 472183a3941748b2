"""Upstream GETs while 1000 generations are active, watched by 50 subscribed MCP sessions and 20 waits.

Baseline: one GET per active task per poll interval (the interval is fixed here, so the baseline is exact). The
figure is GETs counted by the simulator over the window divided by that baseline: 1.0 means watchers cost nothing
upstream; above 1.0 would mean fan-out. The window is 60 simulated seconds (the simulator runs faster than real
time in --quick).
"""

from __future__ import annotations

import random
import tempfile
import time
import warnings
from pathlib import Path

import anyio
from common import arguments, emit
from mcp.client import Client
from mcp.shared.exceptions import MCPDeprecationWarning

from veo_mcp.app import App
from veo_mcp.evolink.client import EvoLinkClient
from veo_mcp.evolink.schemas import parse_video_request
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

GENERATIONS, SUBSCRIBERS, WAITS, SIMULATED_WINDOW_S = 1000, 50, 20, 60.0


async def run(speed: float, interval_s: float, folder: Path) -> dict[str, float]:
    window_s = SIMULATED_WINDOW_S / speed
    simulator = Simulator(SimulatorConfig(speed=speed, api_key="k"))
    client = EvoLinkClient(api_key="k", base_url=IN_PROCESS_BASE_URL, transport=SimulatorTransport(simulator))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=folder / "data",
        output_dir=folder / "videos",
        poll_interval_min_s=interval_s,
        poll_interval_max_s=interval_s,
        duplicate_window_s=0,
        hourly_budget_usd=0,  # a thousand creates in a row is this benchmark's point: brakes off
        max_creates_per_minute=0,
    )
    service = App(settings, client=client, simulated=True)
    server = create_server(service)
    async with service.running():
        ids = []
        for index in range(GENERATIONS):  # 8 s 1080p: renders take ~100 simulated s, longer than the window
            request = parse_video_request({"prompt": f"shot {index}", "duration": 8, "quality": "1080p"})
            ids.append((await service.parts.pipeline.generate(request)).generation.task_id)
        rng = random.Random(7)
        async with anyio.create_task_group() as group:
            ready = anyio.Event()
            joined = [0]

            async def subscriber(watch: list[str]) -> None:
                async with Client(server, mode="legacy") as session:
                    for task_id in watch:
                        await session.subscribe_resource(f"veo://generations/{task_id}")
                    joined[0] += 1
                    if joined[0] == SUBSCRIBERS:
                        ready.set()
                    await anyio.sleep(window_s + 5)

            async def waiter(task_id: str) -> None:
                async with Client(server, mode="legacy") as session:
                    await ready.wait()
                    await session.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": window_s})

            for _ in range(SUBSCRIBERS):
                group.start_soon(subscriber, rng.sample(ids, 20))
            for _ in range(WAITS):
                group.start_soon(waiter, rng.choice(ids))
            await ready.wait()
            gets_before, started = simulator.service.requests["get"], time.monotonic()
            await anyio.sleep(window_s)
            gets = simulator.service.requests["get"] - gets_before
            elapsed = time.monotonic() - started
            active = simulator.service.active_count()
            group.cancel_scope.cancel()
    baseline = GENERATIONS * elapsed / interval_s
    return {"gets": gets, "baseline": baseline, "elapsed": elapsed, "active_at_end": active}


def main() -> None:
    args = arguments(__doc__ or "")
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    speed = 3.0 if args.quick else 1.0
    interval_s = 2.0  # VEO_MCP_POLL_MIN's default
    with tempfile.TemporaryDirectory() as temp:
        figures = anyio.run(run, speed, interval_s, Path(temp))
    emit(
        {
            "poll_fanout_ratio": round(figures["gets"] / figures["baseline"], 3),
            "poll_gets": figures["gets"],
            "poll_baseline_gets": round(figures["baseline"]),
            "poll_window_real_s": round(figures["elapsed"], 2),
            "poll_interval_s": interval_s,
            "poll_active_at_end": figures["active_at_end"],
        }
    )


if __name__ == "__main__":
    main()
