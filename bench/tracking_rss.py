"""Memory of a `veo-mcp serve` process tracking 1000 generations (store + poller) against the same server idle.

The server runs over stdio against a loopback `veo-mcp simulator` whose renders outlast the run, so all 1000 stay
active and polled; RSS is read from /proc before the first generation and after the poller has cycled a while.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import StdioSession, arguments, clean_env, emit, rss_mb

GENERATIONS = 1000


def main() -> None:
    args = arguments(__doc__ or "")
    tracked_for_s = 15.0 if args.quick else 60.0
    simulator = subprocess.Popen(
        [sys.executable, "-m", "veo_mcp", "simulator", "--speed", "0.5", "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert simulator.stdout is not None
    base_url = simulator.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as temp:
            env = clean_env(
                EVOLINK_API_KEY="k",
                EVOLINK_BASE_URL=base_url,
                VEO_MCP_DATA_DIR=str(Path(temp) / "data"),
                VEO_MCP_OUTPUT_DIR=str(Path(temp) / "videos"),
                # A thousand creates in a row is this benchmark's point, not a runaway loop: brakes off.
                VEO_MCP_HOURLY_BUDGET="0",
                VEO_MCP_MAX_CREATES_PER_MINUTE="0",
            )
            server = StdioSession([sys.executable, "-m", "veo_mcp", "serve"], env)
            server.initialize()
            server.request("tools/list", {})
            time.sleep(1.0)
            idle = rss_mb(server.process.pid)
            for index in range(GENERATIONS):
                result = server.request(
                    "tools/call",
                    {
                        "name": "generate_video",
                        "arguments": {"prompt": f"shot {index}", "duration": 8, "quality": "1080p"},
                    },
                )
                assert not result.get("isError"), result
            time.sleep(tracked_for_s)
            listed = server.request("tools/call", {"name": "list_generations", "arguments": {"status": "processing"}})
            tracking = rss_mb(server.process.pid)
            server.close()
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
    emit(
        {
            "tracking_idle_rss_mb": round(idle, 1),
            "tracking_rss_mb": round(tracking, 1),
            "tracking_rss_growth_mb": round(tracking - idle, 1),
            "tracking_generations": GENERATIONS,
            "tracking_still_processing": listed["structuredContent"]["total"],
            "tracking_seconds": tracked_for_s,
        }
    )


if __name__ == "__main__":
    main()
