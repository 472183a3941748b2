"""`get_generation` through an MCP client session (in memory) against a raw httpx GET of the same task.

Both run against the same in-process simulator in one event loop, interleaved, many times; the figure is the
difference of the medians in milliseconds (what the MCP layer and veo-mcp add on top of one upstream request).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import anyio
import httpx
from common import arguments, emit, median
from mcp.client import Client
from mcp.shared.exceptions import MCPDeprecationWarning

from veo_mcp.app import App
from veo_mcp.evolink.client import EvoLinkClient
from veo_mcp.evolink.schemas import parse_video_request
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

KEY = "sk-bench"


async def run(calls: int, folder: Path) -> dict[str, float]:
    simulator = Simulator(SimulatorConfig(speed=1, api_key=KEY))
    transport = SimulatorTransport(simulator)
    client = EvoLinkClient(api_key=KEY, base_url=IN_PROCESS_BASE_URL, transport=transport)
    settings = Settings(_env_file=None, data_dir=folder / "data", output_dir=folder / "videos")  # type: ignore[call-arg]
    service = App(settings, client=client, simulated=True)
    raw = httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL, transport=transport, headers={"Authorization": f"Bearer {KEY}"}
    )
    async with service.running(), raw, Client(create_server(service), mode="legacy") as session:
        task_id = (
            await service.parts.pipeline.generate(parse_video_request({"prompt": "benchmark"}))
        ).generation.task_id
        mcp_times, raw_times = [], []
        for _ in range(20):  # warm both paths
            await session.call_tool("get_generation", {"task_id": task_id})
            await raw.get(f"/v1/tasks/{task_id}")
        for _ in range(calls):
            started = time.perf_counter()
            result = await session.call_tool("get_generation", {"task_id": task_id})
            mcp_times.append(time.perf_counter() - started)
            assert not result.is_error
            started = time.perf_counter()
            response = await raw.get(f"/v1/tasks/{task_id}")
            raw_times.append(time.perf_counter() - started)
            assert response.status_code == 200
    return {"mcp": median(mcp_times) * 1000, "raw": median(raw_times) * 1000}


def main() -> None:
    args = arguments(__doc__ or "")
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    calls = 300 if args.quick else 2000
    with tempfile.TemporaryDirectory() as temp:
        figures = anyio.run(run, calls, Path(temp))
    emit(
        {
            "get_mcp_median_ms": round(figures["mcp"], 3),
            "get_raw_httpx_median_ms": round(figures["raw"], 3),
            "get_overhead_ms": round(figures["mcp"] - figures["raw"], 3),
            "get_calls": calls,
        }
    )


if __name__ == "__main__":
    main()
