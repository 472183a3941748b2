"""`veo-mcp simulator` in this process: the socket it listens on, the address it prints, its refusals, how a signal
stops it, and one short run on a loopback port (stopped by SIGTERM or Ctrl-C's SIGINT, as a user stops it)."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import sys
import threading
from typing import Any

import httpx
import pytest
import uvicorn

from veo_mcp.simulator import Simulator, SimulatorConfig
from veo_mcp.simulator.serve import _StopsOnSignals, base_url_of, bind_socket, run_simulator


def test_the_socket_listens_on_loopback_at_once_without_nagle() -> None:
    with bind_socket("127.0.0.1", 0) as sock:
        host, port = sock.getsockname()
        assert (host, sock.family, sock.type) == ("127.0.0.1", socket.AF_INET, socket.SOCK_STREAM)
        assert port > 0 and base_url_of(sock, "127.0.0.1") == f"http://127.0.0.1:{port}"
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert sock.getblocking() is False
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # listening: the connection waits in the backlog


def test_an_ipv6_address_is_bracketed() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with bind_socket("::1", 0) as sock:
        port = sock.getsockname()[1]
        assert (sock.family, port > 0) == (socket.AF_INET6, True)
        assert base_url_of(sock, "::1") == f"http://[::1]:{port}"


def _server() -> _StopsOnSignals:
    return _StopsOnSignals(uvicorn.Config(Simulator(SimulatorConfig()).app, log_level="warning"))


def test_a_signal_asks_the_server_to_stop_and_a_second_ctrl_c_forces_it() -> None:
    server = _server()
    assert (server.received, server.should_exit, server.force_exit) == (None, False, False)
    server._on_signal(signal.SIGINT, None)
    assert (server.received, server.should_exit, server.force_exit) == (signal.SIGINT, True, False)
    server._on_signal(signal.SIGINT, None)
    assert (server.received, server.should_exit, server.force_exit) == (signal.SIGINT, True, True)
    server._on_signal(signal.SIGTERM, None)
    assert server.received == signal.SIGINT  # the first signal says how the command ends


def test_a_term_signal_is_kept_and_does_not_force() -> None:
    server = _server()
    server._on_signal(signal.SIGTERM, None)
    server._on_signal(signal.SIGTERM, None)
    assert (server.received, server.should_exit, server.force_exit) == (signal.SIGTERM, True, False)


def test_signals_are_captured_only_while_serving() -> None:
    server = _server()
    before = {stop: signal.getsignal(stop) for stop in (signal.SIGINT, signal.SIGTERM)}
    with server.capture_signals():
        assert signal.getsignal(signal.SIGINT) == server._on_signal
        assert signal.getsignal(signal.SIGTERM) == server._on_signal
    assert {stop: signal.getsignal(stop) for stop in (signal.SIGINT, signal.SIGTERM)} == before


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        ({"speed": 0}, "--speed: Input should be greater than 0"),
        (
            {"speed": -1, "max_active_tasks": 0},
            "--speed: Input should be greater than 0; --max-active-tasks: Input should be greater than or equal to 1",
        ),
        ({"result_bytes": -5}, "--result-bytes: Input should be greater than or equal to 0"),
    ],
)
def test_a_bad_option_is_refused_before_anything_listens(
    options: dict[str, Any], problems: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        run_simulator(host="256.0.0.1", **options)  # were the options taken, it would stop there (1), not serve
    assert stopped.value.code == 2
    assert capsys.readouterr() == ("", f"veo-mcp simulator: {problems}.\n")


def test_a_port_in_use_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            run_simulator(port=port)
    assert stopped.value.code == 1
    expected = f"veo-mcp simulator: cannot listen on 127.0.0.1:{port}: Address already in use; use another --port.\n"
    assert capsys.readouterr() == ("", expected)


class _Lines(io.StringIO):
    """Stands in for stdout: keeps what is printed and says when the first line is out."""

    def __init__(self) -> None:
        super().__init__()
        self.first_line = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "\n" in self.getvalue():
            self.first_line.set()
        return written

    @property
    def text(self) -> str:
        return self.getvalue()


def _ask_then_stop(lines: _Lines, stop: signal.Signals, seen: dict[str, Any]) -> None:
    """From another thread: ask the running simulator, then send `stop` to this process once it handles it."""
    try:
        if lines.first_line.wait(10):
            base_url = lines.text.splitlines()[0]
            seen["base_url"] = base_url
            with httpx.Client(base_url=base_url, timeout=10) as http:
                seen["ledger"] = http.get("/_sim/ledger").status_code
                wrong = http.get("/v1/tasks/task-x", headers={"Authorization": "Bearer sk-wrong"})
                seen["wrong_key"] = (wrong.status_code, wrong.json()["error"]["message"])
    finally:
        if isinstance(_server_behind(stop), _StopsOnSignals):  # never to the default handler: it would kill us
            os.kill(os.getpid(), stop)
        elif (server := _server_behind(signal.SIGINT) or _server_behind(signal.SIGTERM)) is not None:
            server.should_exit = True  # it does not handle `stop`: the test fails, but does not hang


def _server_behind(stop: signal.Signals) -> _StopsOnSignals | None:
    """The server whose handler `stop` has now, if any."""
    server = getattr(signal.getsignal(stop), "__self__", None)
    return server if isinstance(server, _StopsOnSignals) else None


@pytest.mark.parametrize(
    ("stop", "limit", "said"),
    [(signal.SIGTERM, None, ""), (signal.SIGINT, 2, ", at most 2 active tasks")],
    ids=["sigterm", "ctrl-c"],
)
def test_the_simulator_serves_on_loopback_until_stopped(
    stop: signal.Signals,
    limit: int | None,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stdout = _Lines()
    monkeypatch.setattr(sys, "stdout", stdout)  # in the test itself: capture takes stdout back before it starts
    seen: dict[str, Any] = {}
    helper = threading.Thread(target=_ask_then_stop, args=(stdout, stop, seen), daemon=True)
    helper.start()
    if stop == signal.SIGINT:
        with pytest.raises(KeyboardInterrupt):
            run_simulator(speed=2.5, api_key="sk-right", max_active_tasks=limit)
    else:
        run_simulator(speed=2.5, api_key="sk-right", max_active_tasks=limit)
    helper.join(10)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", seen["base_url"]) and seen["base_url"] != "http://127.0.0.1:0"
    assert stdout.text == seen["base_url"] + "\n"
    assert (seen["ledger"], seen["wrong_key"]) == (200, (401, "Invalid API key"))
    assert capsys.readouterr().err == (
        f"EvoLink simulator: speed ×2.5{said}, ledger at /_sim/ledger, faults at /_sim/faults. Ctrl-C to stop.\n"
    )
    assert _server_behind(signal.SIGINT) is None and _server_behind(signal.SIGTERM) is None  # handlers given back
