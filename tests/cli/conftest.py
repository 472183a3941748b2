"""What the command-line tests share: a clean shell (no EvoLink or veo-mcp variables, a private home for the data,
videos and settings file), the command run through its console entry point in this process or as a real process
(in a real terminal when the behaviour is about one), and a `veo-mcp simulator` process whose generations outlive
each command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cli.terminal import HAVE_PTY, Terminal
from tests.helpers import SimulatorProcess
from veo_mcp import cli

KEY = "sk-cli-0123456789abcdef"
needs_pty = pytest.mark.skipif(not HAVE_PTY, reason="needs a POSIX pseudo-terminal")


@dataclass
class Ended:
    code: int | str | None
    out: str
    err: str

    @property
    def json(self) -> Any:
        lines = self.out.strip().splitlines()
        assert len(lines) == 1, self.out
        return json.loads(lines[0])


def run_in_process(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Ended:
    """`veo-mcp ARGV` through its console entry point in this process: its exit code and what it printed."""
    monkeypatch.setattr("sys.argv", ["veo-mcp", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main(list(argv))
    captured = capsys.readouterr()
    return Ended(ended.value.code, captured.out, captured.err)


@dataclass
class Shell:
    """A person's shell: its environment, and `veo-mcp` run in it."""

    home: Path
    env: dict[str, str]
    _run: Callable[..., Ended]
    terminals: list[Terminal] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return Path(self.env["VEO_MCP_DATA_DIR"])

    @property
    def videos(self) -> Path:
        return Path(self.env["VEO_MCP_OUTPUT_DIR"])

    def use(self, upstream: SimulatorProcess) -> Shell:
        """Point this shell at a simulator process with a key (so generations outlive each command)."""
        self.env.update(
            {
                "EVOLINK_API_KEY": KEY,
                "EVOLINK_BASE_URL": upstream.base_url,
                "EVOLINK_FILES_BASE_URL": upstream.base_url,
                "VEO_MCP_SIMULATE": "1",
                "VEO_MCP_POLL_MIN": "0.05",
                "VEO_MCP_POLL_MAX": "0.3",
            }
        )
        return self

    def run(self, *argv: str, **env: str) -> Ended:
        """`veo-mcp ARGV` through its console entry point, in this process."""
        return self._run(argv, env)

    def process(self, *argv: str, stdin: Any = subprocess.DEVNULL, **env: str) -> subprocess.CompletedProcess[str]:
        """`veo-mcp ARGV` as its own process (stdin not a terminal, output piped)."""
        return subprocess.run(
            [sys.executable, "-m", "veo_mcp", *argv],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            stdin=stdin,
            timeout=120,
            check=False,
        )

    def terminal(self, *argv: str, columns: int = 80, **env: str) -> Terminal:
        """`veo-mcp ARGV` in a real terminal `columns` wide (closed when the test ends)."""
        launched = Terminal([sys.executable, "-m", "veo_mcp", *argv], env={**self.env, **env}, columns=columns)
        self.terminals.append(launched)
        return launched


OUR_PREFIXES = ("EVOLINK_", "VEO_MCP_")  # the variables veo-mcp reads: a test sets its own, never the machine's


def without_our_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment without any EvoLink or veo-mcp variable of the machine (or of the all-on-PostgreSQL
    run), for a command run in this process."""
    for name in list(os.environ):
        if name.startswith(OUR_PREFIXES):
            monkeypatch.delenv(name)


def clean_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_PREFIXES) and k not in ("COLUMNS", "LINES")}
    env.update(
        {
            "VEO_MCP_DATA_DIR": str(home / "data"),
            "VEO_MCP_OUTPUT_DIR": str(home / "videos"),
            "VEO_MCP_SIMULATOR_SPEED": "300",
            "VEO_MCP_IMAGE_DIRS": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),  # the settings file veo-mcp reads is this test's own
        }
    )
    return env


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Shell]:
    home = tmp_path / "home"
    home.mkdir()
    env = clean_environment(home)

    def run(argv: tuple[str, ...], extra: dict[str, str]) -> Ended:
        with monkeypatch.context() as patched:
            without_our_variables(patched)
            for name, value in {**env, **extra}.items():
                patched.setenv(name, value)
            patched.setattr("sys.argv", ["veo-mcp", *argv])
            with pytest.raises(SystemExit) as ended:
                cli.main(list(argv))
        captured = capsys.readouterr()
        return Ended(ended.value.code, captured.out, captured.err)

    person = Shell(home, env, run)
    yield person
    for launched in person.terminals:
        launched.close()


@pytest.fixture(scope="session")
def upstream() -> Iterator[SimulatorProcess]:
    """One simulator process per test worker: every test's generations are its own (their data folders differ)."""
    simulator = SimulatorProcess(speed=300, api_key=KEY)
    try:
        yield simulator
    finally:
        simulator.stop()


def the_only_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]
