"""End to end with independent clients, each against `python -m veo_mcp serve --simulate` over stdio:

- the TypeScript SDK (`client.experimental.tasks.callToolStream`, 2025-11-25 tasks; ts_tasks_client.mjs), whose
  upstream is a `veo-mcp simulator` process so its ledger shows what was created;
- FastMCP 4 with `fastmcp-tasks` (the `io.modelcontextprotocol/tasks` extension on a 2026-07-28 session).

The npm package is installed into this folder (`npm ci --prefix`; .ci/run does it too); the test is skipped, saying
why, only where node or the package cannot be had.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SimulatorProcess
from tests.mcp.test_questions import COSTLY
from veo_mcp.mcp.tasks import TTL_MIN_MS

CLIENTS = Path(__file__).resolve().parent
SDK_PACKAGE = CLIENTS / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
KEY = "sk-test-ts-client-0123456789"
BATCH = {"prompt": "a kite over dunes", "variants": {"aspect_ratio": ["16:9", "9:16"]}}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so the TypeScript SDK client cannot run")
    if not SDK_PACKAGE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, so @modelcontextprotocol/sdk cannot be installed")
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(CLIENTS), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if installed.returncode != 0 or not SDK_PACKAGE.is_file():
            pytest.skip(f"npm could not install @modelcontextprotocol/sdk: {installed.stderr.strip()[-500:]}")
    return node


def _server_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update({"VEO_MCP_DATA_DIR": str(folder / "data"), "VEO_MCP_OUTPUT_DIR": str(folder / "videos"), **extra})
    return env


@pytest.fixture(scope="module")
def ts_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """One run of the TypeScript client (decline, cancel, follow); what it saw and the simulator's ledger."""
    node = _node()
    folder = tmp_path_factory.mktemp("ts")
    simulator = SimulatorProcess(speed=30, api_key=KEY)
    try:
        env = _server_env(folder, EVOLINK_API_KEY=KEY, EVOLINK_BASE_URL=simulator.base_url, VEO_MCP_POLL_MIN="0.05")
        config = {
            "command": sys.executable,
            "args": ["-m", "veo_mcp", "serve", "--simulate"],
            "env": env,
            "costly": COSTLY,
            "cheap": {"prompt": "a paper boat on a pond"},
            "batch": BATCH,
            "ttl": 60_000,
        }
        ran = subprocess.run(
            [node, str(CLIENTS / "ts_tasks_client.mjs"), json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        yield json.loads(ran.stdout.strip().splitlines()[-1]), simulator.ledger()
    finally:
        simulator.stop()


def test_the_typescript_sdk_follows_a_task_to_the_saved_video(ts_run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    seen, _ = ts_run
    assert seen["serverTasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    assert seen["execution"] == {"taskSupport": "optional"}
    messages = seen["runs"]["followed"]
    created = messages[0]
    assert created["type"] == "taskCreated" and created["task"]["status"] == "working"
    assert created["task"]["ttl"] == TTL_MIN_MS  # 60 s asked for; 10 minutes is the least granted
    assert created["task"]["pollInterval"] >= 1000
    statuses = [m for m in messages if m["type"] == "taskStatus"]
    assert statuses and statuses[-1]["task"]["status"] == "completed"
    final = messages[-1]
    assert final["type"] == "result" and not final["result"].get("isError")
    structured = final["result"]["structuredContent"]
    assert structured["mcp_task_id"] == created["task"]["taskId"] and structured["status"] == "completed"
    saved = Path(structured["files"][0]["path"])
    assert saved.is_file() and saved.read_bytes()[4:8] == b"ftyp"
    heard = [n for n in seen["notifications"] if n["taskId"] == created["task"]["taskId"]]
    assert heard and heard[-1]["status"] == "completed" and any("%" in n["statusMessage"] for n in heard)
    listed = {task["taskId"]: task["status"] for task in seen["listed"]}
    assert listed[created["task"]["taskId"]] == "completed"


def test_the_typescript_sdk_follows_a_batch_task_to_its_saved_videos(
    ts_run: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    seen, _ = ts_run
    assert seen["batchExecution"] == {"taskSupport": "optional"}
    messages = seen["runs"]["batch"]
    created, final = messages[0], messages[-1]
    assert created["type"] == "taskCreated" and created["task"]["status"] == "working"
    assert final["type"] == "result" and not final["result"].get("isError")
    structured = final["result"]["structuredContent"]
    assert structured["mcp_task_id"] == created["task"]["taskId"] and structured["total"] == 2
    assert [item["status"] for item in structured["items"]] == ["completed", "completed"]
    assert all(Path(item["files"][0]).is_file() for item in structured["items"])


def test_the_typescript_sdk_declined_cost_creates_no_task_and_no_generation(
    ts_run: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    seen, ledger = ts_run
    assert len(seen["asked"]) == 1 and "$4.49" in seen["asked"][0]
    (declined,) = seen["runs"]["declined"]  # no taskCreated before the error
    assert declined["type"] == "error" and "did not confirm" in declined["message"]
    assert seen["tasksAfterDecline"] == 0
    assert ledger["requests"]["create"] == 2 + 2  # the cancelled and the followed cheap calls, and the batch's two
    assert all("glacier" not in task["prompt"] for task in ledger["tasks"])


def test_the_typescript_sdk_cancels_a_task_and_an_unknown_id_is_a_protocol_error(
    ts_run: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    seen, _ = ts_run
    messages = seen["runs"]["cancelled"]
    task_id = messages[0]["task"]["taskId"]
    assert seen["cancel"]["taskId"] == task_id and seen["cancel"]["status"] == "cancelled"
    assert "stopped following" in seen["cancel"]["statusMessage"]
    assert messages[-1]["type"] == "error" and "was cancelled" in messages[-1]["message"]
    assert {task["taskId"]: task["status"] for task in seen["listed"]}[task_id] == "cancelled"
    assert seen["unknown"]["code"] == -32602 and "no task 'no-such-task'" in seen["unknown"]["message"]


async def test_fastmcp_with_fastmcp_tasks_gets_the_final_result_over_a_2026_session(tmp_path: Path) -> None:
    pytest.importorskip("fastmcp_tasks", reason="fastmcp-tasks is in the test extra")
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport
    from fastmcp_tasks import call_tool_task

    env = _server_env(tmp_path, VEO_MCP_SIMULATOR_SPEED="60", VEO_MCP_POLL_MIN="0.05")
    transport = StdioTransport(command=sys.executable, args=["-m", "veo_mcp", "serve", "--simulate"], env=env)
    async with Client(transport) as client:
        version = client.session.protocol_version
        task = await call_tool_task(client, "generate_video", {"prompt": "a kite over dunes"})
        result = await task.result()
    assert version == "2026-07-28"
    assert task.create_result.status == "working" and task.create_result.poll_interval_ms
    structured = result.structured_content or {}
    assert structured["mcp_task_id"] == task.task_id and structured["status"] == "completed"
    assert Path(structured["files"][0]["path"]).is_file()
