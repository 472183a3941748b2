"""Shared test helpers: the simulator wired through the real transport seam (no mocks), a started app with an MCP
client, a simulator in its own process, and image files. Fixtures live in conftest.py and use these."""

from __future__ import annotations

import contextlib
import io
import queue
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import av
import httpx
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.dispatcher import ProgressFnT

from veo_mcp.app import App
from veo_mcp.evolink import EvoLinkClient
from veo_mcp.evolink.addresses import Resolver
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

TEST_KEY = "sk-test-0123456789abcdef"

# The protocol era MCP clients in tests speak: "legacy" (2025-11-25 and older, most apps today) or "auto" (what the
# SDK client speaks by default: 2026-07-28). The `era` fixture sets it; test packages that face MCP run on both.
Era = Literal["legacy", "auto"]
_era: list[Era] = ["legacy"]


def current_era() -> Era:
    return _era[0]


def use_era(era: Era) -> None:
    _era[0] = era


def make_client(simulator: Simulator, *, api_key: str | None = TEST_KEY, **options: float) -> EvoLinkClient:
    settings: dict[str, float] = {"max_backoff_s": 0.01, "request_timeout_s": 5.0}
    settings.update(options)
    return EvoLinkClient(
        api_key=api_key,
        base_url=IN_PROCESS_BASE_URL,
        files_base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(simulator),
        **settings,  # type: ignore[arg-type]
    )


# --- the MCP server over a started service ------------------------------------------------------------------------


async def no_dns(host: str) -> list[str]:
    """Tests never resolve real names: every host is unknown unless a test maps it."""
    return []


def service_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "output_dir": tmp_path / "videos",
        "data_dir": tmp_path / "data",
        "poll_interval_min_s": 0.02,
        "poll_interval_max_s": 0.1,
        # The runaway-loop brakes are on by default; tests that exercise them turn them back on.
        "hourly_budget_usd": 0,
        "max_creates_per_minute": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Harness:
    def __init__(self, simulator: Simulator, app: App) -> None:
        self.simulator, self.app = simulator, app
        self.server = create_server(app)
        self.notifications: list[types.ServerNotification | Exception] = []
        self.logs: list[types.LoggingMessageNotificationParams] = []

    def client(self, **options: Any) -> Client:
        async def on_message(message: types.ServerNotification | Exception) -> None:
            self.notifications.append(message)

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            self.logs.append(params)

        return Client(self.server, mode=current_era(), message_handler=on_message, logging_callback=on_log, **options)

    def ledger(self) -> dict[str, Any]:
        return self.simulator.service.ledger()


@asynccontextmanager
async def running_harness(
    tmp_path: Path,
    *,
    simulator: Simulator | None = None,
    resolver: Resolver = no_dns,
    client_options: dict[str, float] | None = None,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """A started service on a fast simulator (a context manager: the tracker's task group must stay in one task)."""
    simulator = simulator or Simulator(SimulatorConfig(speed=100))
    app = App(
        service_settings(tmp_path, **settings),
        client=make_client(simulator, **(client_options or {})),
        simulated=True,
        resolver=resolver,
    )
    async with app.running():
        yield Harness(simulator, app)


def text_of(result: types.CallToolResult) -> str:
    return " ".join(item.text for item in result.content if isinstance(item, types.TextContent))


async def call_ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call `tool`, which must succeed; its structured result."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return result.structured_content or {}


async def finish(
    client: Client, task_id: str, timeout_s: float = 10, *, progress: ProgressFnT | None = None, rounds: int = 30
) -> dict[str, Any]:
    """Call wait_for_generation until the generation is finished (at most `rounds` calls); its final state."""
    state: dict[str, Any] = {"finished": False}
    for _ in range(rounds):
        result = await client.call_tool(
            "wait_for_generation", {"task_id": task_id, "timeout_seconds": timeout_s}, progress_callback=progress
        )
        assert not result.is_error, text_of(result)
        state = result.structured_content or {}
        if state["finished"]:
            return state
    raise AssertionError(f"{task_id} did not finish after {rounds} waits: {state}")


# Figures the robustness tests count (fault cases, duplicate charges, lost tasks, bad inputs), printed at the end.
FIGURES: Counter[str] = Counter()


# --- images -----------------------------------------------------------------------------------------------------

CODECS = {"png": ("png", "rgb24"), "jpg": ("mjpeg", "yuvj420p"), "webp": ("libwebp", "yuv420p")}


def make_image(path: Path, rgb: tuple[int, int, int], *, stripes: bool = False) -> Path:
    """A 320×180 image file in the format its suffix names: one colour, or with white stripes."""
    width, height = 320, 180
    row = bytearray(bytes(rgb) * width)
    if stripes:
        for x in range(0, width, 40):
            row[x * 3 : (x + 12) * 3] = b"\xff" * 36
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    plane.update(b"".join(bytes(row) + bytes(plane.line_size - width * 3) for _ in range(height)))
    codec, pixel_format = CODECS[path.suffix.lstrip(".")]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as container:
        stream = container.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
        converted = frame.reformat(format=pixel_format)
        converted.pts, converted.time_base = 0, Fraction(1, 1)
        container.mux(stream.encode(converted))
        container.mux(stream.encode(None))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


# --- a simulator in its own process -----------------------------------------------------------------------------


class SimulatorProcess:
    """A `veo-mcp simulator` on a loopback port in its own process (it outlives the servers a test kills)."""

    def __init__(self, speed: float, api_key: str, *, allow_private_callbacks: bool = False) -> None:
        command = [sys.executable, "-m", "veo_mcp", "simulator", "--speed", str(speed), "--api-key", api_key]
        self.process = subprocess.Popen(
            command + (["--allow-private-callbacks"] if allow_private_callbacks else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        try:
            self.base_url = line_containing(self.process.stdout, "http://").strip()
        except BaseException:
            self.process.kill()  # it never said where it listens: nobody else will end it
            self.process.wait(timeout=10)
            raise
        self.http = httpx.Client(base_url=self.base_url, timeout=10)

    def ledger(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get("/_sim/ledger").json()
        return data

    def fault(self, **fault: Any) -> None:
        self.http.post("/_sim/faults", json=fault).raise_for_status()

    def advance(self, seconds: float) -> None:
        """Move the simulated clock on: renders progress, callbacks fall due, a fault `on_clock` ends."""
        self.http.post("/_sim/clock", json={"advance_s": seconds}).raise_for_status()

    def stop(self) -> None:
        self.http.close()
        self.process.kill()  # a trickling download would hold a graceful shutdown for seconds
        self.process.wait(timeout=10)


def stop_process(process: subprocess.Popen[Any]) -> None:
    """End a child the test started: politely (SIGTERM), then for certain (SIGKILL) if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class LineReader:
    """A child's output stream read line by line in a thread, so a test can wait for each line with a deadline.

    For a stream the test reads from start to end (`select` on a buffered stream can miss a line already in Python's
    buffer); the thread owns the stream, so nothing else may read it.
    """

    def __init__(self, stream: IO[Any]) -> None:
        self._lines: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[Any]) -> None:
        for line in iter(stream.readline, stream.read(0)):
            self._lines.put(line)
        self._lines.put(None)  # the stream ended

    def next_line(self, deadline: float) -> Any:
        """The next line, or None when the stream ended; raises TimeoutError at `deadline` (time.monotonic)."""
        try:
            return self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError from None

    def rest(self, within_s: float = 5.0) -> list[str]:
        """The lines nobody read yet, up to the stream's end (or `within_s`), left in place for a later reader."""
        lines: list[Any] = []
        deadline = time.monotonic() + within_s
        with contextlib.suppress(TimeoutError):
            while not lines or lines[-1] is not None:
                lines.append(self.next_line(deadline))
        for line in lines:
            self._lines.put(line)
        return [line for line in lines if line is not None]


def line_containing(stream: IO[str], needle: str, timeout_s: float = 30) -> str:
    """The first line of a child's text `stream` that contains `needle`, waiting at most `timeout_s` (never hangs).

    A thread reads up to that line and stops there: the rest of the stream is left for the caller to read.
    """
    found: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        for line in iter(stream.readline, stream.read(0)):
            if needle in line:
                found.put(line)
                return
            seen.append(line)
        found.put(None)  # the process closed it (ended)

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = found.get(timeout=timeout_s)
    except queue.Empty:
        line = None
    if line is None:
        raise AssertionError(f"no line with {needle!r} within {timeout_s:g} s; got: {''.join(seen)!r}")
    return str(line)


def disk_full(db: sqlite3.Connection) -> None:
    """SQLite's own "database or disk is full" from now on: no free page left inside the file, and it may not grow."""
    db.execute("CREATE TABLE IF NOT EXISTS test_disk_filler (x BLOB)")
    while db.execute("PRAGMA freelist_count").fetchone()[0] > 0:
        db.execute("INSERT INTO test_disk_filler VALUES (zeroblob(512))")
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")


def own_hostname(hostname: str) -> list[str]:
    """The prefix of a command that runs it under `hostname` in a UTS namespace of its own (the same pid: unshare
    and the shell exec); the test is skipped where namespaces cannot be made (not root)."""
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    probe = subprocess.run([unshare, "-u", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot give a process a host name of its own here (unshare -u): {probe.stderr.decode().strip()}")
    return [unshare, "-u", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]


@dataclass
class HttpServer:
    """A real `veo-mcp serve --transport streamable-http` process; `lines` are its stderr lines up to the endpoint's."""

    url: str
    process: subprocess.Popen[str]
    stderr: LineReader
    lines: list[str] = field(default_factory=list)


@contextmanager
def serving_http(
    env: dict[str, str],
    *,
    simulate: bool,
    timeout_s: float = 60.0,
    open_files: int | None = None,
    port: int = 0,
    hostname: str | None = None,
) -> Iterator[HttpServer]:
    """`veo-mcp serve --transport streamable-http --port 0` with `env`, once it says where it listens; always ended.
    `open_files` lowers the server's open-file limit (`ulimit -n`); `port` is for a server that must know its
    address beforehand (its VEO_MCP_PUBLIC_URL); `hostname` runs it under a host name of its own (a UTS namespace,
    as a replica on another machine has: see `own_hostname`)."""
    command = [sys.executable, "-m", "veo_mcp", "serve", "--transport", "streamable-http", "--port", str(port)]
    if hostname is not None:
        command = [*own_hostname(hostname), *command]

    def limited() -> None:
        if open_files is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    process = subprocess.Popen(
        command + (["--simulate"] if simulate else []),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limited if open_files is not None else None,  # noqa: PLW1509 - only setrlimit, no threads touched
    )
    assert process.stderr is not None
    reader = LineReader(process.stderr)
    try:
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while True:
            line = reader.next_line(deadline)
            assert line is not None, f"the server ended or never said where it listens: {''.join(lines)}"
            lines.append(line)
            if found := re.search(r"http://127\.0\.0\.1:\d+/mcp", line):
                break
        yield HttpServer(found.group(0), process, reader, lines)
    finally:
        stop_process(process)
        # pytest shows a test's captured stderr when it fails: the server's own account of what went wrong
        sys.stderr.write("".join(f"[server {process.pid}] {line}" for line in reader.rest()))


@contextmanager
def tiny_disk(folder: Path, size_kb: int) -> Iterator[Path]:
    """A real filesystem of `size_kb` KB (tmpfs), so writes really end in ENOSPC; skipped where mounting is not
    allowed (not root)."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["/bin/mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["/bin/umount", "-l", str(folder)], check=False)
