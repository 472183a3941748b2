"""Run every benchmark, print a table, write bench/RESULTS.md, and end with one JSON line holding every figure.

    python bench/run.py [--quick]

Each script runs in its own process (a fresh interpreter: no benchmark warms another's caches) and prints its
figures as the last line of its output; baselines are measured in the same run as what they are compared with.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from common import arguments, clean_env

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "cold_start",
    "get_overhead",
    "poll_fanout",
    "replica_polls",
    "download",
    "tracking_rss",
    "validation",
    "journey",
]


@dataclass(frozen=True)
class Target:
    key: str
    what: str
    limit: float
    at_most: bool  # True: the figure must not exceed limit

    def met(self, value: Any) -> bool | None:
        if not isinstance(value, int | float):
            return None
        return value <= self.limit if self.at_most else value >= self.limit

    @property
    def shown(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:g}"


TARGETS = [
    Target("cold_start_ratio", "cold start vs a one-tool MCPServer (ratio)", 1.15, True),
    Target("get_overhead_ms", "get_generation over MCP minus a raw httpx GET (ms)", 2.0, True),
    Target("poll_fanout_ratio", "upstream GETs / (active tasks × intervals)", 1.0, True),
    Target("replica_poll_ratio", "upstream polls per task, two replicas on PostgreSQL vs one (ratio)", 1.05, True),
    Target("download_throughput_ratio", "500 MB download throughput vs curl, bare loopback (ratio)", 0.8, False),
    Target("download_vs_curl_fsync_ratio", "same vs curl + fsync (like for like: ours syncs too)", 0.8, False),
    Target("download_metered_throughput_ratio", "same over a 100 MB/s link (ratio)", 0.8, False),
    Target("download_rss_growth_mb", "RSS growth during the 500 MB download (MB)", 32, True),
    Target("tracking_rss_growth_mb", "RSS growth tracking 1000 generations (MB)", 100, True),
    Target("validations_per_s", "generate_video validations per second", 20_000, False),
    Target("journey_calls_4s_720p", "tool calls from prompt to saved path, 4 s video, 60 s client", 2, True),
    Target("journey_calls_8s_720p", "the same, 8 s video (one more call per further 45 s)", 3, True),
    Target("journey_calls_8s_4k", "the same, 8 s 4k video", 5, True),
    Target("journey_longest_call_s_8s_4k", "longest of those tool calls (s), under the client's 60 s", 55, True),
]


READING = """Reading the download figures: veo-mcp streams result links through aiohttp (its C parser; the
pure-Python httpx/h11 stack topped out near 0.3-0.6 GB/s here) into a hidden file that is fsync'ed before it is
renamed into place, so that a crash cannot leave a damaged file under the final name. Plain `curl -o` does not sync:
on this machine's disk the sync alone costs about a second per 500 MB, which is why the ratio against plain curl
stays near 0.5 while the like-for-like ratio (curl followed by fsync) is above 1. Over a link metered at 100 MB/s -
faster than a download from a CDN usually is - both are held by the network, which is what users see."""


def run_script(name: str, quick: bool) -> dict[str, Any]:
    command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, env=clean_env(), cwd=HERE, check=False)
    elapsed = time.monotonic() - started
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if completed.returncode != 0 or not lines:
        print(f"{name}: failed (exit {completed.returncode})\n{completed.stderr[-2000:]}", file=sys.stderr)
        return {f"{name}_error": completed.returncode, f"{name}_seconds": round(elapsed, 1)}
    figures: dict[str, Any] = json.loads(lines[-1])
    figures[f"{name}_seconds"] = round(elapsed, 1)
    return figures


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = "?"
    try:
        with open("/proc/meminfo") as info:
            kib = int(next(line.split()[1] for line in info if line.startswith("MemTotal")))
            memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "mcp": metadata.version("mcp"),
        "veo-mcp": metadata.version("veo-mcp") if _installed("veo-mcp") else "source checkout",
    }


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[met]


def write_results(figures: dict[str, Any], quick: bool) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python bench/run.py{' --quick' if quick else ''}` on "
        f"{datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}. Every ratio compares two things measured in the "
        "same run on the same machine.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine().items()),
        "",
        "| figure | what | value | target | |",
        "|---|---|---|---|---|",
        *(
            f"| `{t.key}` | {t.what} | {figures.get(t.key)} | {t.shown} | {verdict(t.met(figures.get(t.key)))} |"
            for t in TARGETS
        ),
        "",
        READING,
        "",
        "All figures:",
        "",
        "```json",
        json.dumps(figures, indent=2),
        "```",
        "",
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines))


def main() -> None:
    args = arguments(__doc__ or "")
    figures: dict[str, Any] = {}
    for name in SCRIPTS:
        print(f"running {name}…", file=sys.stderr, flush=True)
        figures.update(run_script(name, args.quick))
    width = max(len(t.what) for t in TARGETS)
    print(f"{'figure'.ljust(width)}  {'value':>12}  {'target':>10}")
    for target in TARGETS:
        value = figures.get(target.key)
        print(f"{target.what.ljust(width)}  {value!s:>12}  {target.shown:>10}  {verdict(target.met(value))}")
    write_results(figures, args.quick)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
