"""Helpers shared by the benchmark scripts: arguments, timing, memory and the one-JSON-line result."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def arguments(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (each script < 2 minutes)")
    return parser.parse_args(argv)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rss_mb(pid: int | None = None) -> float:
    """Resident set size now, in MiB (Linux /proc)."""
    with open(f"/proc/{pid or os.getpid()}/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any EvoLink or veo-mcp settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def emit(figures: dict[str, Any]) -> None:
    """The result: one JSON object, always the last line of stdout."""
    print(json.dumps(figures), flush=True)


class StdioSession:
    """A bare MCP client over a server subprocess's stdin/stdout (JSON-RPC lines), cheap enough to not skew."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        import subprocess

        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        self._id = 0

    def initialize(self) -> None:
        self.request(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
        )
        self.notify("notifications/initialized")

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the server exited while answering {method}")
            message = json.loads(line)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(str(message["error"]))
                result: dict[str, Any] = message["result"]
                return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
