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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import LineReader, SimulatorProcess, serving_http, tiny_disk

CANARY = "sk-CANARY-proc-5d1e9a7b3c"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


class StdioPeer:
    """A minimal MCP client over a server subprocess's stdin/stdout; every answer is awaited with a deadline."""

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
        self._answers: dict[int, dict[str, Any]] = {}  # answers read while waiting for another one
        assert self.process.stdout is not None
        self._lines = LineReader(self.process.stdout)
        self.request(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
        )
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def send(self, method: str, params: dict[str, Any]) -> int:
        """Send a request without waiting for its answer; its id."""
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def answer(self, request_id: int, timeout_s: float = 60.0) -> dict[str, Any]:
        """The answer to request `request_id`, waiting at most `timeout_s` (a silent server fails, never hangs)."""
        deadline = time.monotonic() + timeout_s
        while request_id not in self._answers:
            try:
                line = self._lines.next_line(deadline)
            except TimeoutError:
                raise AssertionError(f"no answer to request {request_id} within {timeout_s:g} s") from None
            if not line:
                raise AssertionError(f"the server exited before answering request {request_id}")
            message = json.loads(line)
            if "id" in message and "method" not in message:  # an answer, perhaps to a later request: kept for it
                self._answers[message["id"]] = message
        message = self._answers.pop(request_id)
        assert "error" not in message, message
        result: dict[str, Any] = message["result"]
        return result

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.answer(self.send(method, params))

    def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A tool call's whole result (errors included)."""
        return self.request("tools/call", {"name": name, "arguments": arguments})

    def tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self.call(name, arguments)
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
                self.process.wait(timeout=10)
        self._stderr.close()


@pytest.fixture
def peers() -> Iterator[Callable[[dict[str, str], Path], StdioPeer]]:
    """Starts server processes; every one still running at the end of the test is killed, whatever failed first."""
    started: list[StdioPeer] = []

    def start(env: dict[str, str], stderr_path: Path) -> StdioPeer:
        peer = StdioPeer(env, stderr_path)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        if peer.process.poll() is None:
            peer.process.kill()
            peer.process.wait(timeout=10)
        peer._stderr.close()


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


def _until(condition: Any, timeout_s: float = 60.0, what: str = "condition", log: Path | None = None) -> Any:
    """`condition()` once it is true; a timeout says what was awaited and, given the servers' `log`, its last lines."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:]) if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}" + (f"; the servers' last log lines:\n{tail}" if tail else ""))


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


Peers = Callable[[dict[str, str], Path], StdioPeer]


def test_sigkill_mid_generation_and_mid_download_loses_nothing(
    tmp_path: Path, simulator: SimulatorProcess, peers: Peers
) -> None:
    env, stderr_log, videos = _env(tmp_path, simulator), tmp_path / "stderr.log", tmp_path / "videos"
    watcher = FinalNameWatcher(videos)
    watcher.start()

    # 1. Killed right after the create was accepted.
    first = peers(env, stderr_log)
    created = first.tool("generate_video", {"prompt": "a kite over dunes", "request_id": "crash-1"})
    first.kill()
    task_id = created["task_id"]
    rows = sqlite3.connect(tmp_path / "data" / "veo-mcp.sqlite3").execute("SELECT task_id FROM generations")
    assert [row[0] for row in rows] == [task_id]

    # 2. Restarted: still listed, the retried call is free, tracking resumes; killed mid-download.
    simulator.fault(kind="slow_body", endpoint="download", bytes_per_s=8_000)
    second = peers(env, stderr_log)
    listed = second.tool("list_generations", {})
    assert [g["task_id"] for g in listed["generations"]] == [task_id]
    assert second.tool("generate_video", {"prompt": "a kite over dunes", "request_id": "crash-1"})["reused"]
    state = _until(  # rendered (a wait would go on until the slow download is saved)
        lambda: (s := second.tool("get_generation", {"task_id": task_id}))["finished"] and s,
        what="the generation to finish",
    )
    assert state["status"] == "completed"
    partial = _until(lambda: list(videos.glob(".*.part")), what="a download in progress")
    second.kill()
    assert partial and not list(videos.glob("*.mp4"))

    # 3. Restarted again: the download resumes and completes under its final name.
    third = peers(env, stderr_log)
    try:
        final = _until(
            lambda: (s := third.tool("get_generation", {"task_id": task_id}))["download_status"] == "saved" and s,
            what="the video to be saved",
        )
    finally:
        third.close()
        watcher.stop.set()
        watcher.join(timeout=10)
    path = Path(final["files"][0]["path"])
    expected_size = len(httpx.get(final["result_urls"][0], timeout=10).content)
    assert path.stat().st_size == expected_size and path.read_bytes()[4:8] == b"ftyp"
    assert not list(videos.glob(".*.part"))
    assert watcher.sizes == {path.name: {expected_size}}  # never visible while partial
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 1 and len(ledger["tasks"]) == 1
    assert CANARY not in stderr_log.read_text(errors="replace")
    assert "created task" in stderr_log.read_text(errors="replace")  # the log really was captured


def test_sigkill_while_the_create_is_in_flight_leaves_it_unknown_and_never_resent(
    tmp_path: Path, simulator: SimulatorProcess, peers: Peers
) -> None:
    """A real server is killed while EvoLink holds its create's answer back (the task exists upstream and is billed):
    after a restart the create is 'outcome unknown', and neither a retry nor an identical request sends it again."""
    env, stderr_log = _env(tmp_path, simulator), tmp_path / "stderr.log"
    simulator.fault(kind="delay", endpoint="create", seconds=3600, after_accept=True)
    arguments = {"prompt": "a lighthouse at the moment of the crash", "request_id": "in-flight-1"}
    first = peers(env, stderr_log)
    first.send("tools/call", {"name": "generate_video", "arguments": arguments})  # its answer never comes
    _until(lambda: simulator.ledger()["tasks"], what="upstream to accept the create")
    database = sqlite3.connect(f"file:{tmp_path / 'data' / 'veo-mcp.sqlite3'}?mode=ro", uri=True)
    try:
        sending = database.execute("SELECT state, request_id FROM creates").fetchall()
    finally:
        database.close()
    assert sending == [("sending", "in-flight-1")]  # recorded before it was sent
    first.kill()

    second = peers(env, stderr_log)
    listed = second.tool("list_generations", {})
    retried = second.call("generate_video", arguments)
    identical = second.call("generate_video", {"prompt": arguments["prompt"]})
    second.close()
    assert [(u["request_id"], u["state"]) for u in listed["unconfirmed"]] == [("in-flight-1", "outcome_unknown")]
    assert listed["generations"] == []
    retry_text = " ".join(item["text"] for item in retried["content"])
    assert retried["isError"] and "outcome is unknown" in retry_text and "it is not sent again" in retry_text
    assert "veo-mcp stopped while this create was being sent" in retry_text
    identical_text = " ".join(item["text"] for item in identical["content"])
    assert identical["isError"] and identical_text.startswith("An identical request was sent at ")
    assert "allow_duplicate: true" in identical_text
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 1 and len(ledger["tasks"]) == 1
    assert CANARY not in stderr_log.read_text(errors="replace")


def test_two_servers_share_a_data_dir_without_double_downloads(
    tmp_path: Path, simulator: SimulatorProcess, peers: Peers
) -> None:
    """Two real server processes on one data folder get the same request at the same moment (one create), then
    both track and save eleven videos: each is fetched once."""
    env, stderr_log = _env(tmp_path, simulator), tmp_path / "stderr.log"
    env["VEO_MCP_MAX_CREATES_PER_MINUTE"] = "0"
    desktop, ide = peers(env, stderr_log), peers(env, stderr_log)
    # The first create's answer is held back a second, so the other process's identical request meets it in flight.
    simulator.fault(kind="delay", endpoint="create", seconds=1, after_accept=True)
    same = {"name": "generate_video", "arguments": {"prompt": "two windows, one video", "n": 2}}
    asked = [(peer, peer.send("tools/call", same)) for peer in (desktop, ide)]
    answers = [peer.answer(request_id)["structuredContent"] for peer, request_id in asked]
    task_id = answers[0]["task_id"]
    assert answers[1]["task_id"] == task_id  # the duplicate guard spans processes
    assert sorted(answer["reused"] for answer in answers) == [False, True]
    assert simulator.ledger()["requests"]["create"] == 1
    assert [g["task_id"] for g in ide.tool("list_generations", {})["generations"]] == [task_id]
    more = [desktop.tool("generate_video", {"prompt": f"a shared kite, take {i}"})["task_id"] for i in range(10)]
    assert ide.tool("list_generations", {"limit": 100})["total"] == 11  # the IDE's server takes them in too
    for peer in (desktop, ide):
        for each in (task_id, *more):
            _until(
                lambda peer=peer, each=each: (
                    peer.tool("get_generation", {"task_id": each})["download_status"] == "saved"
                ),
                what=f"both servers to see every saved video ({each})",
                log=stderr_log,
            )
    paths = [sorted(f["path"] for f in p.tool("get_generation", {"task_id": task_id})["files"]) for p in (desktop, ide)]
    desktop.close()
    ide.close()
    assert paths[0] == paths[1] and len(paths[0]) == 2
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 11 and ledger["requests"]["download"] == 12
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 12
    db = sqlite3.connect(tmp_path / "data" / "veo-mcp.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    assert CANARY not in stderr_log.read_text(errors="replace")


def test_task_ids_given_out_while_the_data_folder_is_full_survive_a_sigkill(tmp_path: Path, peers: Peers) -> None:
    """Three creates are on the wire (EvoLink holds their answers) when the data folder's disk fills; the answers
    come, the server cannot record them and gives the ids out with a warning, then it is SIGKILLed. Restarted with
    room again, each id read back is its own create's (prompt, request_id: the length of video tells the three
    apart), and a retried request_id answers with its task instead of 'outcome unknown'."""
    simulator = SimulatorProcess(speed=1, api_key=CANARY)
    try:
        with tiny_disk(tmp_path / "data", 4096) as data:
            env = {**_env(tmp_path, simulator), "VEO_MCP_MAX_CREATES_PER_MINUTE": "0"}
            simulator.fault(kind="delay", endpoint="create", seconds=3600, after_accept=True, on_clock=True, count=3)
            first = peers(env, tmp_path / "stderr.log")
            asked = {
                n: {"prompt": f"a {n} second lighthouse", "duration": n, "request_id": f"full-{n}"} for n in (4, 6, 8)
            }
            calls = {n: first.send("tools/call", {"name": "generate_video", "arguments": a}) for n, a in asked.items()}
            _until(lambda: len(simulator.ledger()["tasks"]) == 3, what="EvoLink to make the three tasks")
            filler = _fill(data)
            simulator.advance(3600)  # the answers go out: the server cannot record them
            answers = {n: first.answer(call)["structuredContent"] for n, call in calls.items()}
            first.kill()
            filler.unlink()
            second = peers(env, tmp_path / "stderr.log")
            read = {n: second.tool("get_generation", {"task_id": answers[n]["task_id"]}) for n in asked}
            retried = second.tool("generate_video", asked[6])
            second.close()
        ledger = simulator.ledger()
    finally:
        simulator.stop()
    assert all("could not record it on disk" in " ".join(answer["notes"]) for answer in answers.values())
    for n, state in read.items():
        assert (state["prompt"], state["request_id"]) == (asked[n]["prompt"], f"full-{n}"), state
    assert retried["task_id"] == answers[6]["task_id"] and retried["reused"] is True
    assert ledger["requests"]["create"] == 3


def _fill(folder: Path) -> Path:
    """A file that takes every free byte of `folder`'s disk."""
    filler = folder / "filler"
    with filler.open("wb") as sink, contextlib.suppress(OSError):
        while True:
            sink.write(b"\0" * 65536)
            sink.flush()
    return filler


@pytest.mark.parametrize(
    ("transport", "stop", "code"),
    [("stdio", signal.SIGTERM, 0), ("streamable-http", signal.SIGTERM, 0), ("streamable-http", signal.SIGINT, 130)],
    ids=["stdio", "http", "http-ctrl-c"],
)
def test_a_signal_stops_the_server_cleanly_and_leaves_one_database_file(
    tmp_path: Path, simulator: SimulatorProcess, peers: Peers, transport: str, stop: signal.Signals, code: int
) -> None:
    """SIGTERM (or Ctrl-C's SIGINT) ends the server through its clean stop on every transport: exit 0 (130 for
    Ctrl-C, as for every command), and SQLite's write-ahead log folded into the database (not left to grow with
    every generation)."""
    env, stderr_log = _env(tmp_path, simulator), tmp_path / "stderr.log"
    database = tmp_path / "data" / "veo-mcp.sqlite3"
    with contextlib.ExitStack() as stack:
        if transport == "stdio":
            peer = peers(env, stderr_log)
            task_id = peer.tool("generate_video", {"prompt": "a signal at sea"})["task_id"]
            process: subprocess.Popen[Any] = peer.process
        else:
            http = stack.enter_context(serving_http(env, simulate=False))
            process = http.process
            with httpx.Client(timeout=30) as client:
                task_id = _created_over_http(client, http.url)
        assert Path(f"{database}-wal").stat().st_size > 0  # written, not yet folded in
        process.send_signal(stop)
        assert process.wait(timeout=30) == code
    wal = Path(f"{database}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    rows = sqlite3.connect(database).execute("SELECT task_id FROM generations").fetchall()
    assert rows == [(task_id,)]


def _created_over_http(client: httpx.Client, url: str) -> str:
    """One generate_video over streamable HTTP (2025 era, JSON answers): its task id."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    opened = client.post(
        url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
    )
    headers = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
    client.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    call = {"name": "generate_video", "arguments": {"prompt": "a signal at sea"}}
    answer = client.post(url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
    body = answer.text
    payload = json.loads(body[body.index("{") :].splitlines()[0]) if body.startswith("event") else answer.json()
    return str(payload["result"]["structuredContent"]["task_id"])


def _serve_once(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """`veo-mcp serve` with nothing on stdin: it ends at once, having started or refused to."""
    command = [sys.executable, "-m", "veo_mcp", "serve", *arguments]
    return subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )


def test_an_empty_or_damaged_database_is_refused_with_its_path_and_never_silently_replaced(
    tmp_path: Path, simulator: SimulatorProcess, peers: Peers
) -> None:
    """A database that held a generation is truncated to nothing, then damaged inside: each time the server refuses
    to start, naming the file and the remedy, so nothing (a used request_id above all) is forgotten by mistake; a
    new database is started only on purpose (VEO_MCP_NEW_DATABASE), the unusable file moved aside."""
    env, stderr_log = _env(tmp_path, simulator), tmp_path / "stderr.log"
    database = tmp_path / "data" / "veo-mcp.sqlite3"
    first = peers(env, stderr_log)
    first.tool("generate_video", {"prompt": "a lighthouse worth remembering", "request_id": "kept-1"})
    first.close()
    kept = database.read_bytes()
    database.write_bytes(b"")
    emptied = _serve_once(env)
    damaged = bytearray(kept)
    damaged[4096:16384] = b"\xa5" * 12288  # pages 2 to 4: table roots, the header intact
    database.write_bytes(bytes(damaged))
    broken = _serve_once(env)
    fresh = peers({**env, "VEO_MCP_NEW_DATABASE": "1"}, stderr_log)
    listed = fresh.tool("list_generations", {})
    fresh.close()
    said = [refused.stderr.splitlines()[-1] for refused in (emptied, broken)]
    assert emptied.returncode == 1 and said[0].startswith(f"veo-mcp: veo-mcp's database {database} is empty")
    assert broken.returncode == 1 and said[1].startswith(f"veo-mcp: veo-mcp's database {database} is damaged")
    for refused in (emptied, broken):
        assert "VEO_MCP_NEW_DATABASE=1" in refused.stderr and "unexpected" not in refused.stderr, refused.stderr
    assert listed["generations"] == [] and list(database.parent.glob("veo-mcp.sqlite3.damaged-*"))
    assert simulator.ledger()["requests"]["create"] == 1


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[Path]:
    """A folder nobody may write: a read-only filesystem as root (root ignores permissions), else mode 0555."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["/bin/mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a read-only filesystem here")
    try:
        yield folder
    finally:
        subprocess.run(["/bin/umount", "-l", str(folder)], check=False)


def test_a_read_only_data_folder_is_named_with_the_setting_to_change(
    tmp_path: Path, simulator: SimulatorProcess
) -> None:
    env = _env(tmp_path, simulator)
    with _read_only(tmp_path / "data") as data:
        ended = [_serve_once(env), _serve_once(env, "--transport", "streamable-http", "--port", "0")]
    for refused in ended:
        assert refused.returncode == 1 and "unexpected" not in refused.stderr, refused.stderr
        assert f"data folder {data}" in refused.stderr and "VEO_MCP_DATA_DIR" in refused.stderr, refused.stderr
