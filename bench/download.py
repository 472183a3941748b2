"""Download of a 500 MB result from a loopback `veo-mcp simulator`: veo-mcp's client against `curl -o`.

Same URL, same disk, alternately; throughput ratio of the medians (ours / curl) and the peak RSS growth of this
process while ours runs (the download streams: memory must not grow with the file). Measured twice: over the bare
loopback (GB/s: the cost of the HTTP stack itself) and over a link metered at 100 MB/s by the simulator (what a fast
real connection to a CDN gives), where the network, not the client, should set the pace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import anyio
import httpx
from common import arguments, emit, median, rss_mb

from veo_mcp.evolink.client import EvoLinkClient

SIZE = 500_000_000
KEY = "sk-bench"
METERED_BYTES_PER_S = 100_000_000


class PeakRss(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.stop = rss_mb(), threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "veo_mcp", "simulator", "--speed", "1000", "--api-key", KEY]
    process = subprocess.Popen([*command, "--result-bytes", str(SIZE)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def result_url(base_url: str) -> str:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as http:
        task = http.post("/v1/videos/generations", json={"prompt": "a big file"}).json()
        while task["status"] != "completed":
            time.sleep(0.05)
            task = http.get(f"/v1/tasks/{task['id']}").json()
        return str(task["results"][0])


async def ours(url: str, target: Path) -> tuple[float, float]:
    async with EvoLinkClient(api_key=KEY, download_timeout_s=120) as client:
        before = rss_mb()
        watcher = PeakRss()
        watcher.start()
        started = time.perf_counter()
        saved = await client.download(url, target)
        elapsed = time.perf_counter() - started
        watcher.stop.set()
        watcher.join()
    assert saved.bytes == SIZE
    return elapsed, watcher.peak - before


def curl(url: str, target: Path, *, sync: bool = False) -> float:
    """curl -o; with `sync`, also the fsync ours does before its rename (the honest like-for-like baseline)."""
    started = time.perf_counter()
    subprocess.run(["curl", "-s", "-f", "-o", str(target), url], check=True)
    if sync:
        descriptor = os.open(target, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    elapsed = time.perf_counter() - started
    assert target.stat().st_size == SIZE
    return elapsed


def measure(url: str, folder: Path, runs: int) -> tuple[list[float], list[float], list[float], list[float]]:
    """Alternately: ours, curl, curl + fsync; the medians make the ratios."""
    ours_s, curl_s, synced_s, growth = [], [], [], []
    for run in range(runs):
        elapsed, rss_growth = anyio.run(ours, url, folder / f"ours-{run}.mp4")
        ours_s.append(elapsed)
        growth.append(rss_growth)
        if shutil.which("curl"):
            curl_s.append(curl(url, folder / f"curl-{run}.mp4"))
            synced_s.append(curl(url, folder / f"synced-{run}.mp4", sync=True))
        for leftover in folder.glob("*.mp4"):
            leftover.unlink()
    return ours_s, curl_s, synced_s, growth


def main() -> None:
    args = arguments(__doc__ or "")
    runs = 2 if args.quick else 5
    metered_runs = 1 if args.quick else 2
    simulator, base_url = start_simulator()
    try:
        url = result_url(base_url)
        with tempfile.TemporaryDirectory(dir=Path.home()) as temp:
            folder = Path(temp)
            curl(url, folder / "warm.mp4")  # the simulator renders and caches the video once; untimed
            ours_s, curl_s, synced_s, growth = measure(url, folder, runs)
            fault = {"kind": "slow_body", "endpoint": "download", "bytes_per_s": METERED_BYTES_PER_S, "count": 100}
            httpx.post(f"{base_url}/_sim/faults", json=fault, timeout=10).raise_for_status()
            metered_ours, metered_curl, _, metered_growth = measure(url, folder, metered_runs)
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
    figures: dict[str, float | int | None] = {
        "download_mb": SIZE / 1e6,
        "download_ours_mb_s": round(SIZE / 1e6 / median(ours_s), 1),
        "download_rss_growth_mb": round(max(growth + metered_growth), 1),
        "download_runs": runs,
        "download_metered_ours_mb_s": round(SIZE / 1e6 / median(metered_ours), 1),
    }
    if curl_s:
        figures["download_curl_mb_s"] = round(SIZE / 1e6 / median(curl_s), 1)
        figures["download_throughput_ratio"] = round(median(curl_s) / median(ours_s), 3)
        figures["download_curl_fsync_mb_s"] = round(SIZE / 1e6 / median(synced_s), 1)
        figures["download_vs_curl_fsync_ratio"] = round(median(synced_s) / median(ours_s), 3)
        figures["download_metered_curl_mb_s"] = round(SIZE / 1e6 / median(metered_curl), 1)
        figures["download_metered_throughput_ratio"] = round(median(metered_curl) / median(metered_ours), 3)
    else:
        figures["download_throughput_ratio"] = None  # no curl on this machine
    emit(figures)


if __name__ == "__main__":
    main()
