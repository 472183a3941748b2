"""The shipped deploy/haproxy.cfg in front of two real replicas: 2025-era sessions stay whole through it (and break
without its stick rules), 2026-07-28 requests spread over both replicas. HAProxy is Debian's package (.ci/run
installs it); only the addresses of the file are changed to this machine's."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.delivery.conftest import free_port
from tests.mcp.team_server import client_of
from tests.replicas.cluster import Replica, create_then_wait

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"

HAPROXY = shutil.which("haproxy")
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="HAProxy is not installed (.ci/run installs it)")


def stats_socket(folder: Path, port: int) -> Path:
    return folder / f"haproxy-{port}.sock"


def servers_up(socket_path: Path) -> set[str]:
    """The replicas HAProxy's own health checks have marked up (from its stats socket's `show stat`)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(socket_path))
        conn.sendall(b"show stat\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    header, *lines = answer.decode().splitlines()
    rows = [dict(zip(header.removeprefix("# ").split(","), line.split(","), strict=False)) for line in lines]
    return {
        row["svname"]
        for row in rows
        if row.get("pxname") == "replicas" and row.get("status") == "UP" and row.get("check_status") == "L7OK"
    }


def local_config(replicas: tuple[Replica, Replica], port: int, folder: Path, *, sticky: bool) -> str:
    """deploy/haproxy.cfg with this machine's addresses (and, for the control, without its stick rules)."""
    text = CONFIG.read_text()
    text = re.sub(r"\nresolvers compose\n(    .*\n)+", "\n", text)
    text = text.replace("bind :8080", f"bind 127.0.0.1:{port}")
    text = text.replace("global\n", f"global\n    stats socket {stats_socket(folder, port)}\n", 1)
    for name, replica in zip(("veo-a", "veo-b"), replicas, strict=True):
        address = replica.url.removeprefix("http://").removesuffix("/mcp")
        text = re.sub(rf"server {name} .*\n", f"server {name} {address} check inter 500ms\n", text)
    if not sticky:
        text = re.sub(r"    stick.*\n", "", text)
    return text


@contextmanager
def haproxy(config: str, folder: Path, port: int) -> Iterator[str]:
    path = folder / f"haproxy-{port}.cfg"
    path.write_text(config)
    process = subprocess.Popen(
        [HAPROXY or "haproxy", "-db", "-f", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "HAProxy never listened"
                time.sleep(0.05)
        while servers_up(stats_socket(folder, port)) != {"veo-a", "veo-b"}:  # both passed a /readyz check
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "HAProxy never marked both replicas up"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_sessions_stay_whole_through_the_shipped_configuration(
    two: tuple[Replica, Replica], tmp_path: Path
) -> None:
    port = free_port()
    with haproxy(local_config(two, port, tmp_path, sticky=True), tmp_path, port) as url:
        for _ in range(2):  # round-robin puts the two sessions on different replicas; each stays on its own
            async with client_of(url, None, mode="legacy") as client:
                assert (await create_then_wait(client))["status"] == "completed"
        async with client_of(url, None, mode="auto") as client:
            assert (await create_then_wait(client))["status"] == "completed"
    port = free_port()
    with (
        haproxy(local_config(two, port, tmp_path, sticky=False), tmp_path, port) as url,
        pytest.raises(Exception) as broken,  # noqa: PT011
    ):
        async with client_of(url, None, mode="legacy") as client:
            await create_then_wait(client)
    assert "Session not found" in repr(broken.value)  # the control: without the stick rules a session breaks
