"""Cold start: spawn `veo-mcp serve` over stdio until `tools/list` is answered, against a one-tool MCPServer.

Both run with the same Python, alternately, several times; the figure is the ratio of medians. The veo-mcp server
starts in its normal configured mode (a key set, its SQLite store opened, nothing sent upstream).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from common import StdioSession, arguments, clean_env, emit, median

MINIMAL_SERVER = """
from mcp.server.mcpserver import MCPServer

server = MCPServer("minimal")


@server.tool()
def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"


server.run()
"""


def time_to_tools(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    session = StdioSession(command, env)
    session.initialize()
    tools = session.request("tools/list", {})
    elapsed = time.perf_counter() - started
    assert tools["tools"], tools
    session.close()
    return elapsed


def main() -> None:
    args = arguments(__doc__ or "")
    runs = 4 if args.quick else 10
    with tempfile.TemporaryDirectory() as temp:
        minimal = Path(temp) / "minimal_server.py"
        minimal.write_text(MINIMAL_SERVER)
        veo_env = clean_env(
            EVOLINK_API_KEY="sk-bench-not-used",
            EVOLINK_BASE_URL="http://127.0.0.1:9",
            VEO_MCP_DATA_DIR=str(Path(temp) / "data"),
            VEO_MCP_OUTPUT_DIR=str(Path(temp) / "videos"),
        )
        veo_command = [sys.executable, "-m", "veo_mcp", "serve"]
        baseline_command = [sys.executable, str(minimal)]
        time_to_tools(veo_command, veo_env)  # warm the OS file cache for both, untimed
        time_to_tools(baseline_command, clean_env())
        veo, baseline = [], []
        for _ in range(runs):
            veo.append(time_to_tools(veo_command, veo_env))
            baseline.append(time_to_tools(baseline_command, clean_env()))
    emit(
        {
            "cold_start_s": round(median(veo), 3),
            "cold_start_baseline_s": round(median(baseline), 3),
            "cold_start_ratio": round(median(veo) / median(baseline), 3),
            "cold_start_runs": runs,
        }
    )


if __name__ == "__main__":
    main()
