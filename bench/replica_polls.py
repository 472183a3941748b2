"""Upstream polls per task with two replicas on one PostgreSQL, against one replica, in the same run.

Both runs create the same generations (half on each replica in the two-replica run, so each replica also follows
the other's through the database) and wait until every one has finished; the simulator counts the GETs each task
received. The poll interval is fixed, so a task's GETs depend only on how long it renders; each task's GETs are
divided by the polls its render time calls for (render seconds / interval: the simulator's render times vary by
±15 % per task), and the figure is the two-replica run's mean over the one-replica run's. 1.0 means the second
replica costs nothing upstream (it reads what the polling replica recorded); 2.0 would mean both poll everything.
Needs PostgreSQL: `scripts/local-postgres start` is run (an already running cluster is reused).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from common import ROOT, StdioSession, arguments, clean_env, emit

from veo_mcp.evolink.schemas import parse_video_request
from veo_mcp.simulator.engine import render_seconds

KEY = "sk-bench-" + "b" * 32
INTERVAL_S = 0.25


def postgres_url() -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "local-postgres"), "start"], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def fresh_schema(server: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return schema, f"{server}?options=-csearch_path%3D{schema}"


def drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


class SimulatorProcess:
    def __init__(self, speed: float) -> None:
        command = [sys.executable, "-m", "veo_mcp", "simulator", "--speed", str(speed), "--api-key", KEY]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env()
        )
        assert self.process.stdout is not None
        self.base_url = next(line.strip() for line in self.process.stdout if "http://" in line)

    def ledger(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.base_url}/_sim/ledger", timeout=10).json()
        return data

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def replica(database: str, simulator: SimulatorProcess, folder: Path, name: str) -> StdioSession:
    env = clean_env(
        EVOLINK_API_KEY=KEY,
        EVOLINK_BASE_URL=simulator.base_url,
        VEO_MCP_DATABASE_URL=database,
        VEO_MCP_DATA_DIR=str(folder / name),
        VEO_MCP_OUTPUT_DIR=str(folder / "videos"),
        VEO_MCP_POLL_MIN=str(INTERVAL_S),
        VEO_MCP_POLL_MAX=str(INTERVAL_S),
        VEO_MCP_CONFIRM_ABOVE="1000",
        VEO_MCP_HOURLY_BUDGET="0",
        VEO_MCP_MAX_CREATES_PER_MINUTE="0",
        VEO_MCP_AUTO_DOWNLOAD="false",
    )
    session = StdioSession([sys.executable, "-m", "veo_mcp", "serve"], env)
    session.initialize()
    return session


def call(session: StdioSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = session.request("tools/call", {"name": tool, "arguments": arguments})
    if result.get("isError"):
        raise RuntimeError(str(result["content"]))
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def gets_per_task(server: str, replicas: int, tasks: int, speed: float, folder: Path) -> float:
    """Create `tasks` generations spread over `replicas` replicas, wait for all, return GETs per task."""
    schema, database = fresh_schema(server)
    simulator = SimulatorProcess(speed)
    sessions = [replica(database, simulator, folder / f"{replicas}-{schema}", f"r{i}") for i in range(replicas)]
    try:
        task_ids = [
            call(sessions[i % replicas], "generate_video", {"prompt": f"bench shot {i}", "duration": 4})["task_id"]
            for i in range(tasks)
        ]
        for task_id in task_ids:  # followed to the end on the replica that did NOT create it, where there is one
            owner = task_ids.index(task_id) % replicas
            watcher = sessions[(owner + 1) % replicas]
            deadline = time.monotonic() + 300
            while not call(watcher, "wait_for_generation", {"task_id": task_id, "timeout_seconds": 30})["finished"]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{task_id} did not finish")
        ledger = simulator.ledger()
    finally:
        for session in sessions:
            session.close()
        simulator.stop()
        drop_schema(server, schema)
    per_render = [
        t["gets"]
        / (render_seconds(parse_video_request({"prompt": t["prompt"], "duration": 4}), t["id"]) / speed / INTERVAL_S)
        for t in ledger["tasks"]
        if t["id"] in task_ids
    ]
    return sum(per_render) / len(per_render)


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    server = postgres_url()
    tasks, speed = (8, 6.0) if args.quick else (20, 4.0)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        one = gets_per_task(server, 1, tasks, speed, Path(folder))
        two = gets_per_task(server, 2, tasks, speed, Path(folder))
    emit(
        {
            "replica_polls_per_render_one": round(one, 3),
            "replica_polls_per_render_two": round(two, 3),
            "replica_poll_ratio": round(two / one, 3),
            "replica_tasks": tasks,
        }
    )


if __name__ == "__main__":
    main()
