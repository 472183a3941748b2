"""Replicas of `veo-mcp serve --transport streamable-http` on one PostgreSQL schema, against one simulator process.

Each replica is a real server process with its own data folder (nothing shared but the database and the output
folder, as on two machines with a shared volume); the simulator outlives any replica a test kills.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client

from tests.helpers import LineReader, serving_http

KEY = "sk-replica-tests-" + "r" * 32


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[str]
    stderr: LineReader

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, its claims are left behind as a crash leaves them."""
        self.process.kill()
        self.process.wait(timeout=10)


def replica_env(database_url: str, simulator_url: str, root: Path, name: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_", "AWS_"))}
    env.update(
        {
            "EVOLINK_API_KEY": KEY,
            "EVOLINK_BASE_URL": simulator_url,
            "VEO_MCP_DATABASE_URL": database_url,
            "VEO_MCP_DATA_DIR": str(root / name / "data"),
            "VEO_MCP_OUTPUT_DIR": str(root / "videos"),
            "VEO_MCP_POLL_MIN": "0.2",
            "VEO_MCP_POLL_MAX": "0.5",
            "VEO_MCP_CONFIRM_ABOVE": "100",
            "VEO_MCP_MAX_CREATES_PER_MINUTE": "0",
            **extra,
        }
    )
    return env


@contextmanager
def replica(env: dict[str, str], name: str, *, hostname: str | None = None) -> Iterator[Replica]:
    """A replica; with `hostname`, under a host name of its own (its peers judge it by its heartbeat alone)."""
    with serving_http(env, simulate=False, hostname=hostname) as served:
        yield Replica(name, served.url, served.process, served.stderr)


async def saved(client: Client, task_id: str, within_s: float = 90.0) -> dict[str, Any]:
    """wait_for_generation until the generation is finished and its videos are saved (at most `within_s`)."""
    state: dict[str, Any] = {}
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 5})
        assert not waited.is_error, waited
        state = waited.structured_content or {}
        if state.get("finished") and state.get("download_status") == "saved":
            return state
        if state.get("finished"):
            await anyio.sleep(0.2)  # finished: the automatic save follows in a moment
    raise AssertionError(f"{task_id} was never saved: {state}")


async def create_then_wait(client: Client) -> dict[str, Any]:
    created = await client.call_tool("generate_video", {"prompt": "a ferry between two harbours", "duration": 4})
    assert not created.is_error, created
    task_id = (created.structured_content or {})["task_id"]
    for _ in range(30):
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 10})
        assert not waited.is_error, waited
        if (state := waited.structured_content or {}).get("finished"):
            return state
    raise AssertionError(f"{task_id} never finished")
