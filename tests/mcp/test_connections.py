"""Half-open connections against a real `veo-mcp serve` under a 1024 open-file limit: 2000 of them, each a request
head that never ends, from one address; then `/healthz` and a user's `initialize` from another address must answer,
the half-open ones must be closed by the head deadline, and the log must stay a few lines long."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import FIGURES, serving_http
from tests.mcp.team_server import add_user

ATTACKERS = 2000
pytestmark = pytest.mark.legacy_era


@pytest.fixture
def descriptors() -> Iterator[None]:
    """This test process holds the 2000 attacking sockets: its own soft limit is raised for them (and restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = ATTACKERS + 512
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard open-file limit ({hard}) is below the {needed} this test holds")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _half_open(port: int) -> list[socket.socket]:
    """`ATTACKERS` connections from 127.0.0.2, each sending a request head that never ends."""
    sockets = []
    for _ in range(ATTACKERS):
        attacker = socket.socket()
        attacker.bind(("127.0.0.2", 0))
        attacker.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            attacker.connect(("127.0.0.1", port))
        sockets.append(attacker)
    for attacker in sockets:
        with contextlib.suppress(OSError):  # not connected yet (still queued): its head never comes either
            attacker.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sockets


def _descriptors_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts the server's descriptors in /proc")
def test_two_thousand_half_open_connections_starve_neither_health_nor_a_users_call(
    tmp_path: Path, descriptors: None
) -> None:
    users = tmp_path / "team.toml"
    token = add_user(users, "alice")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "VEO_MCP_DATA_DIR": str(tmp_path / "data"),
            "VEO_MCP_OUTPUT_DIR": str(tmp_path / "out"),
            "VEO_MCP_USERS_FILE": str(users),
            "VEO_MCP_HTTP_HEADER_TIMEOUT": "2",
        }
    )
    with serving_http(env, simulate=True, open_files=1024) as served:
        port = int(served.url.rsplit(":", 1)[1].split("/")[0])
        attackers = _half_open(port)
        try:
            started = time.monotonic()
            health = httpx.get(served.url.removesuffix("/mcp") + "/healthz", timeout=10)
            health_s = time.monotonic() - started
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
            headers = {
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
            }
            started = time.monotonic()
            initialized = httpx.post(served.url, json=body, headers=headers, timeout=10)
            initialize_s = time.monotonic() - started
            assert health.status_code == 200 and initialized.status_code == 200
            # The head deadline closes what was admitted: the server's descriptors fall back to a handful.
            deadline = time.monotonic() + 20
            while (held := _descriptors_of(served.process.pid)) > 100:
                assert time.monotonic() < deadline, f"the server still holds {held} descriptors"
                time.sleep(0.1)
        finally:
            for attacker in attackers:
                attacker.close()
    log = "".join(served.lines) + "".join(
        line for line in iter(lambda: served.stderr.next_line(time.monotonic() + 5), None)
    )
    assert log.count("out of system resource") <= 2 and len(log) < 20_000, len(log)
    FIGURES["half_open_connections"] = ATTACKERS
    FIGURES["healthz_ms_under_half_open"] = round(health_s * 1000)
    FIGURES["initialize_ms_under_half_open"] = round(initialize_s * 1000)
