"""Real processes: a server killed with SIGKILL mid-generation and mid-download, and two servers sharing a data dir.

The servers run as `python -m veo_mcp -v serve` subprocesses spoken to over stdio with plain JSON-RPC lines (an
independent client, and one whose process we can kill at an exact moment), against a `veo-mcp simulator` process
on loopback that outlives them. The API key is a canary: no server output may contain it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import SimulatorProcess

CANARY = "sk-CANARY-proc-5d1e9a7b3c"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


class StdioPeer:
    """A minimal MCP client over a server subprocess's stdin/stdout."""

    def __init__(self, env: dict[str, str], stderr_path: Path) -> None:
        self._stderr = stderr_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "veo_mcp", "-v", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self._next_id = 0
        self.request(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"server exited while answering {method}")
            message = json.loads(line)
            if message.get("id") == self._next_id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result

    def tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self.request("tools/call", {"name": name, "arguments": arguments})
        assert not result.get("isError"), result
        structured: dict[str, Any] = result["structuredContent"]
        return structured

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._stderr.close()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._stderr.close()


@pytest.fixture
def simulator() -> Iterator[SimulatorProcess]:
    process = SimulatorProcess(speed=15, api_key=CANARY)
    yield process
    process.stop()


def _env(tmp_path: Path, simulator: SimulatorProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "EVOLINK_API_KEY": CANARY,
            "EVOLINK_BASE_URL": simulator.base_url,
            "VEO_MCP_DATA_DIR": str(tmp_path / "data"),
            "VEO_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
            "VEO_MCP_POLL_MIN": "0.1",
            "VEO_MCP_POLL_MAX": "0.5",
        }
    )
    return env


def _until(condition: Any, timeout_s: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class FinalNameWatcher(threading.Thread):
    """Samples the output folder: records the size of every non-hidden MP4 each time it is seen."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder, self.sizes, self.stop = folder, {}, threading.Event()
        self.sizes: dict[str, set[int]] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            for path in self.folder.glob("*.mp4") if self.folder.exists() else ():
                with contextlib.suppress(FileNotFoundError):
                    self.sizes.setdefault(path.name, set()).add(path.stat().st_size)
            time.sleep(0.002)


def test_sigkill_mid_generation_and_mid_download_loses_nothing(tmp_path: Path, simulator: SimulatorProcess) -> None:
    env, stderr_log, videos = _env(tmp_path, simulator), tmp_path / "stderr.log", tmp_path / "videos"
    watcher = FinalNameWatcher(videos)
    watcher.start()

    # 1. Killed right after the create was accepted.
    first = StdioPeer(env, stderr_log)
    created = first.tool("generate_video", {"prompt": "a kite over dunes", "request_id": "crash-1"})
    first.kill()
    task_id = created["task_id"]
    rows = sqlite3.connect(tmp_path / "data" / "veo-mcp.sqlite3").execute("SELECT task_id FROM generations")
    assert [row[0] for row in rows] == [task_id]

    # 2. Restarted: still listed, the retried call is free, tracking resumes; killed mid-download.
    simulator.fault(kind="slow_body", endpoint="download", bytes_per_s=8_000)
    second = StdioPeer(env, stderr_log)
    listed = second.tool("list_generations", {})
    assert [g["task_id"] for g in listed["generations"]] == [task_id]
    assert second.tool("generate_video", {"prompt": "a kite over dunes", "request_id": "crash-1"})["reused"]
    state: dict[str, Any] = {"finished": False}
    while not state["finished"]:
        state = second.tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 10})
    assert state["status"] == "completed"
    partial = _until(lambda: list(videos.glob(".*.part")), what="a download in progress")
    second.kill()
    assert partial and not list(videos.glob("*.mp4"))

    # 3. Restarted again: the download resumes and completes under its final name.
    third = StdioPeer(env, stderr_log)
    try:
        final = _until(
            lambda: (s := third.tool("get_generation", {"task_id": task_id}))["download_status"] == "saved" and s,
            what="the video to be saved",
        )
    finally:
        third.close()
    watcher.stop.set()
    watcher.join()
    path = Path(final["files"][0]["path"])
    expected_size = len(httpx.get(final["result_urls"][0], timeout=10).content)
    assert path.stat().st_size == expected_size and path.read_bytes()[4:8] == b"ftyp"
    assert not list(videos.glob(".*.part"))
    assert watcher.sizes == {path.name: {expected_size}}  # never visible while partial
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 1 and len(ledger["tasks"]) == 1
    assert CANARY not in stderr_log.read_text(errors="replace")
    assert "created task" in stderr_log.read_text(errors="replace")  # the log really was captured


def test_two_servers_share_a_data_dir_without_double_downloads(tmp_path: Path, simulator: SimulatorProcess) -> None:
    """Two real server processes on one data folder both track and save eleven videos: each is fetched once."""
    env, stderr_log = _env(tmp_path, simulator), tmp_path / "stderr.log"
    env["VEO_MCP_MAX_CREATES_PER_MINUTE"] = "0"
    desktop, ide = StdioPeer(env, stderr_log), StdioPeer(env, stderr_log)
    try:
        created = desktop.tool("generate_video", {"prompt": "two windows, one video", "n": 2})
        task_id = created["task_id"]
        assert [g["task_id"] for g in ide.tool("list_generations", {})["generations"]] == [task_id]
        reused = ide.tool("generate_video", {"prompt": "two windows, one video", "n": 2})
        assert reused["reused"] and reused["task_id"] == task_id  # the duplicate guard spans processes
        more = [desktop.tool("generate_video", {"prompt": f"a shared kite, take {i}"})["task_id"] for i in range(10)]
        assert ide.tool("list_generations", {"limit": 100})["total"] == 11  # the IDE's server takes them in too
        for peer in (desktop, ide):
            for each in (task_id, *more):
                _until(
                    lambda peer=peer, each=each: (
                        peer.tool("get_generation", {"task_id": each})["download_status"] == "saved"
                    ),
                    what="both servers to see every saved video",
                )
        paths = [
            sorted(f["path"] for f in p.tool("get_generation", {"task_id": task_id})["files"]) for p in (desktop, ide)
        ]
    finally:
        desktop.close()
        ide.close()
    assert paths[0] == paths[1] and len(paths[0]) == 2
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 11 and ledger["requests"]["download"] == 12
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 12
    db = sqlite3.connect(tmp_path / "data" / "veo-mcp.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert CANARY not in stderr_log.read_text(errors="replace")
