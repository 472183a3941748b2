"""The pure parts of `veo-mcp serve` (the endpoint line, the listening address, which uvicorn errors are only the
stop asked for), how a server stops on SIGTERM and SIGINT, `--timeout`'s seconds, and `veo-mcp users
add|list|remove` through the real entry point in this process: every line they print, exactly."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from tests.cli.conftest import Ended, run_in_process
from veo_mcp.cli import logs, serve, stopping
from veo_mcp.cli.parser import positive_seconds

cli = importlib.import_module("veo_mcp.cli.main")  # the module (the package exports its `main` function)


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ended]:
    for name in list(os.environ):
        if name.startswith(("EVOLINK_", "VEO_MCP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VEO_MCP_DATA_DIR", str(tmp_path / "data"))

    return lambda *argv: run_in_process(argv, capsys, monkeypatch)


def _settings(*, token: bool = False, users: bool = False, oauth: bool = False) -> Any:
    return SimpleNamespace(
        http_token="secret" if token else None,
        users_file=Path("team.toml") if users else None,
        oauth_issuer="https://issuer.example" if oauth else None,
    )


def test_the_endpoint_line_names_the_url_the_tokens_and_all_interfaces() -> None:
    url = "http://127.0.0.1:8000/mcp"
    assert serve.endpoint_line(url, _settings(), "127.0.0.1") == (
        "veo-mcp: MCP endpoint http://127.0.0.1:8000/mcp; no token required (loopback only)."
    )
    assert serve.endpoint_line(url, _settings(token=True), "127.0.0.1") == (
        "veo-mcp: MCP endpoint http://127.0.0.1:8000/mcp; clients must send 'Authorization: Bearer "
        "<VEO_MCP_HTTP_TOKEN>'."
    )
    assert serve.endpoint_line(url, _settings(users=True), "localhost") == (
        "veo-mcp: MCP endpoint http://127.0.0.1:8000/mcp; clients must send 'Authorization: Bearer <a users-file "
        "token>'."
    )
    assert serve.endpoint_line(url, _settings(oauth=True), "127.0.0.1") == (
        "veo-mcp: MCP endpoint http://127.0.0.1:8000/mcp; clients must send 'Authorization: Bearer <an OAuth "
        "access token>'."
    )
    everyone = _settings(token=True, users=True, oauth=True)
    assert serve.endpoint_line("http://0.0.0.0:8000/mcp", everyone, "0.0.0.0") == (  # noqa: S104
        "veo-mcp: MCP endpoint http://0.0.0.0:8000/mcp (all interfaces: use this machine's name or address); "
        "clients must send 'Authorization: Bearer <VEO_MCP_HTTP_TOKEN or a users-file token or an OAuth access "
        "token>'."
    )
    assert serve.endpoint_line("http://[::]:8000/mcp", _settings(), "::") == (
        "veo-mcp: MCP endpoint http://[::]:8000/mcp (all interfaces: use this machine's name or address); no token "
        "required (loopback only)."
    )
    assert serve.endpoint_line("http://[::1]:8000/mcp", _settings(), "::1") == (
        "veo-mcp: MCP endpoint http://[::1]:8000/mcp; no token required (loopback only)."
    )


@pytest.mark.parametrize(("host", "shown"), [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_the_endpoint_is_the_bound_port_with_an_ipv6_host_in_brackets(host: str, shown: str) -> None:
    listener, url = serve._endpoint(host, 0)
    try:
        port = listener.getsockname()[1]
        assert port > 0 and url == f"http://{shown}:{port}/mcp"
    finally:
        listener.close()


def _record(error: BaseException | None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "boom", None, exc_info)


def test_only_a_start_up_cut_short_by_ctrl_c_is_kept_out_of_the_log() -> None:
    assert serve._not_an_interruption(_record(KeyboardInterrupt())) is False
    assert serve._not_an_interruption(_record(asyncio.CancelledError())) is False
    assert serve._not_an_interruption(_record(ValueError("bad"))) is True
    assert serve._not_an_interruption(_record(None)) is True


class _Exited(Exception):
    pass


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("sent", "first"),
    [
        (signal.SIGTERM, "veo-mcp: SIGTERM received: stopping (a second signal stops at once).\n"),
        (signal.SIGINT, ""),  # Ctrl-C's own word, "stopped.", comes once stopped
    ],
)
def test_the_first_signal_asks_for_a_stop_and_a_second_ends_at_once(
    sent: signal.Signals, first: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    timers: list[float] = []
    exits: list[int] = []
    monkeypatch.setattr(stopping, "_force_after", timers.append)  # the real one ends the process after 20 s

    def exit_now(code: int) -> None:
        exits.append(code)
        raise _Exited

    monkeypatch.setattr(stopping.os, "_exit", exit_now)
    requested: list[int] = []

    async def main() -> None:
        asked = anyio.Event()

        def request_stop(received: int) -> None:
            requested.append(received)
            asked.set()

        async with anyio.create_task_group() as group:
            await group.start(stopping.stop_on_signals, request_stop)
            signal.raise_signal(sent)
            await asked.wait()
            assert capsys.readouterr().err == first
            signal.raise_signal(sent)

    with pytest.raises(BaseExceptionGroup) as ended:
        anyio.run(main)
    assert ended.group_contains(_Exited)
    assert requested == [sent] and timers == [stopping.STOP_LIMIT_S] and exits == [stopping.FORCED]
    assert capsys.readouterr().err == f"veo-mcp: {sent.name} again: stopping at once.\n"


def test_timeout_takes_seconds_above_zero() -> None:
    assert positive_seconds("2.5") == 2.5
    assert positive_seconds("1e-3") == 0.001
    for text, message in [
        ("0", "0 is not allowed; use a number of seconds above 0"),
        ("-1", "-1 is not allowed; use a number of seconds above 0"),
        ("soon", "'soon' is not a number of seconds"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            positive_seconds(text)
        assert str(refused.value) == message


def test_users_are_added_listed_and_removed_with_every_line_said(run: Callable[..., Ended], tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    added = run("users", "add", "alice", "--file", str(team), "--daily-budget", "5", "--confirm-above", "0.5")
    assert added.code == 0
    assert added.err == (
        f"veo-mcp: added alice to {team} (daily budget $5.00, asks above $0.50). Their token follows; it is shown "
        "only now. Clients send it as 'Authorization: Bearer <token>'.\n"
    )
    token = added.out.removesuffix("\n")
    assert token and "\n" not in token and token in added.out.splitlines()
    bob = run("users", "add", "bob", "--file", str(team))
    assert bob.code == 0 and bob.err == (
        f"veo-mcp: added bob to {team} (daily budget default, asks above default). Their token follows; it is shown "
        "only now. Clients send it as 'Authorization: Bearer <token>'.\n"
    )
    assert bob.out != added.out
    again = run("users", "add", "alice", "--file", str(team))
    assert again.code == 2 and again.out == ""
    assert again.err == f"veo-mcp: {team} already has a user 'alice'; remove it first to give them a new token.\n"
    listed = run("users", "list", "--file", str(team))
    assert listed.code == 0 and listed.err == ""
    assert listed.out == (
        f"2 user(s) in {team}\n"
        "- alice: daily budget $5.00, asks above $0.50\n"
        "- bob: daily budget default, asks above default\n"
    )
    as_json = run("users", "list", "--file", str(team), "--json")
    assert json.loads(as_json.out) == {
        "file": str(team),
        "users": [
            {"name": "alice", "daily_budget_usd": 5.0, "confirm_threshold_usd": 0.5},
            {"name": "bob", "daily_budget_usd": None, "confirm_threshold_usd": None},
        ],
    }
    removed = run("users", "remove", "alice", "--file", str(team))
    assert removed.code == 0 and removed.out == ""
    assert removed.err == (f"veo-mcp: removed alice from {team}; their token stops working at their next request.\n")
    assert run("users", "list", "--file", str(team)).out == (
        f"1 user(s) in {team}\n- bob: daily budget default, asks above default\n"
    )
    missing = run("users", "remove", "alice", "--file", str(team))
    assert missing.code == 2 and missing.out == ""
    assert missing.err == (f"veo-mcp: {team} has no user 'alice' (`veo-mcp users list` shows who is there).\n")


def test_a_negative_limit_is_refused_and_nothing_is_written(run: Callable[..., Ended], tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    ended = run("users", "add", "alice", "--file", str(team), "--daily-budget", "-1")
    assert ended.code == 2 and ended.out == ""
    assert ended.err == "veo-mcp: --daily-budget -1.0 is not allowed; use 0 or more US dollars.\n"
    assert not team.exists()


def test_serve_speaks_stdio_unless_told_otherwise() -> None:
    """What an MCP client's config runs (`veo-mcp serve`, no flags) is the stdio server it then talks to."""
    from veo_mcp.cli.parser import parse

    assert (parse(["serve"]).transport, parse(["serve"]).port) == ("stdio", 8000)
    assert parse(["serve", "--transport", "streamable-http"]).transport == "streamable-http"


@pytest.fixture
def logging_put_back() -> Iterator[None]:
    """`serve` configures the root logger (and uvicorn its own loggers) for the process; put them back afterwards."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    kept = {
        name: (logging.getLogger(name), list(logging.getLogger(name).handlers), logging.getLogger(name).level)
        for name in names
    }
    formatters = [(handler, handler.formatter) for handler in logging.getLogger().handlers]
    lines = list(logs._lines)
    yield
    for logger, handlers, level in kept.values():
        logger.handlers[:] = handlers
        logger.setLevel(level)
    for handler, formatter in formatters:
        handler.setFormatter(formatter)
    logs._lines[:] = lines


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("flags", "upstream"),
    [
        ((), "veo-mcp: no EVOLINK_API_KEY set; tools will explain how to set it (or run with --simulate)."),
        (
            ("--simulate",),
            "veo-mcp: SIMULATED mode, upstream is the built-in simulator; videos are test patterns, nothing is billed.",
        ),
    ],
)
def test_an_http_server_says_what_it_talks_to_and_where_it_listens_then_sigterm_stops_it_with_0(
    flags: tuple[str, ...],
    upstream: str,
    run: Callable[..., Ended],
    monkeypatch: pytest.MonkeyPatch,
    logging_put_back: None,
) -> None:
    """The endpoint line comes once the server serves; an orchestrator's SIGTERM, sent right after it, stops the
    server cleanly (exit 0, no traceback)."""
    timers: list[float] = []
    monkeypatch.setattr(stopping, "_force_after", timers.append)  # the real one ends the process after 20 s
    serving = serve._announced

    def stopped_once_announced(config: Any, announce: Callable[[], None]) -> Any:
        def announce_then_stop() -> None:
            announce()
            signal.raise_signal(signal.SIGTERM)

        return serving(config, announce_then_stop)

    monkeypatch.setattr(serve, "_announced", stopped_once_announced)
    ended = run("serve", "--transport", "streamable-http", "--port", "0", *flags)
    assert (ended.code, ended.out) == (0, ""), ended.err
    said, endpoint, stopping_line = ended.err.splitlines()
    assert said == upstream
    listening = re.fullmatch(
        r"veo-mcp: MCP endpoint http://127\.0\.0\.1:(\d+)/mcp; no token required \(loopback only\)\.", endpoint
    )
    assert listening is not None and int(listening.group(1)) > 0, endpoint
    assert stopping_line == "veo-mcp: SIGTERM received: stopping (a second signal stops at once)."
    assert timers == [stopping.STOP_LIMIT_S]
