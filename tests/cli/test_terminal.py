"""`veo-mcp` in a real terminal (a pseudo-terminal of a given width, its controlling terminal): Ctrl-C typed into it,
and what its tables and sheets look like at 80 and 120 columns."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import KEY, Shell, needs_pty
from tests.helpers import SimulatorProcess

pytestmark = needs_pty

LONG_PROMPT = (
    "a red kite glides over rippled dunes at dusk while the camera tracks low beside it and the wind lifts sand "
    "in slow golden veils"
)


def _ends_on_ctrl_c(shell: Shell, *argv: str, ready: str) -> str:
    terminal = shell.terminal(*argv)
    terminal.wait_for(ready)
    terminal.ctrl_c()
    code = terminal.finish(timeout_s=30)  # waiting for an Enter that never comes would end here, failing
    assert code == 130, terminal.screen
    return terminal.screen


def test_serve_over_stdio_stops_at_the_first_ctrl_c(shell: Shell) -> None:
    """In a terminal the stdio server used to wait for Enter after Ctrl-C (its stdin read could not be cancelled)."""
    screen = _ends_on_ctrl_c(shell, "serve", "--simulate", ready="Ctrl-C stops it.")
    assert "an MCP client starts this command itself" in screen
    assert screen.rstrip().endswith("veo-mcp: stopped.") and "Traceback" not in screen


def test_the_http_server_and_the_simulator_exit_130_on_ctrl_c(shell: Shell) -> None:
    screen = _ends_on_ctrl_c(
        shell, "serve", "--transport", "streamable-http", "--port", "0", "--simulate", ready="MCP endpoint"
    )
    assert "veo-mcp: stopped." in screen and "Traceback" not in screen
    screen = _ends_on_ctrl_c(shell, "simulator", "--port", "0", ready="Ctrl-C to stop.")
    assert "veo-mcp: stopped." in screen and "Traceback" not in screen


@pytest.fixture
def two_generations(shell: Shell, upstream: SimulatorProcess) -> list[dict[str, str]]:
    shell.use(upstream)
    made = []
    for prompt in ("a boat", LONG_PROMPT):
        ended = shell.run("generate", prompt, "--json")
        assert ended.code == 0, ended.err
        made.append({"task_id": ended.json["task_id"], "path": ended.json["videos"][0]["path"], "prompt": prompt})
    assert all(len(item["path"]) > 80 for item in made)  # longer than the narrow terminal: must never be cut
    return made


def _assert_paths_whole(screen: str, made: list[dict[str, str]]) -> None:
    lines = screen.splitlines()
    for item in made:
        assert any(item["path"] in line for line in lines), f"{item['path']} is not whole on one line:\n{screen}"


def _assert_fits(screen: str, columns: int, made: list[dict[str, str]]) -> None:
    """Nothing but a line carrying a path is wider than the terminal (a path line runs on, whole)."""
    for line in screen.splitlines():
        if not any(item["path"] in line for item in made):
            assert len(line.rstrip()) <= columns, f"{len(line.rstrip())} columns: {line!r}\n{screen}"


@pytest.mark.parametrize("columns", [80, 120])
def test_list_fits_the_terminal_wraps_prompts_and_never_paths(
    shell: Shell, two_generations: list[dict[str, str]], columns: int
) -> None:
    terminal = shell.terminal("list", columns=columns)
    assert terminal.finish() == 0, terminal.screen
    screen = terminal.screen
    header = next(line for line in screen.splitlines() if "TASK ID" in line)
    assert re.split(r"\s{2,}", header.strip()) == ["TASK ID", "STATUS", "DONE", "AGE", "PROMPT", "SAVED"]
    for item in two_generations:
        row = next(line for line in screen.splitlines() if line.startswith(item["task_id"] + " "))
        assert "completed" in row and "100%" in row, row
    words = " ".join(screen.split())
    assert all(word in words for word in LONG_PROMPT.split()), screen  # wrapped, never cut
    _assert_paths_whole(screen, two_generations)
    _assert_fits(screen, columns, two_generations)


def test_list_wide_puts_every_path_in_its_row(shell: Shell, two_generations: list[dict[str, str]]) -> None:
    terminal = shell.terminal("list", "--wide", columns=80)
    assert terminal.finish() == 0, terminal.screen
    for item in two_generations:
        row = next(line for line in terminal.screen.splitlines() if line.startswith(item["task_id"] + " "))
        assert row.rstrip().endswith(item["path"]), row
        assert item["prompt"] in row  # nothing wraps in a wide table


@pytest.mark.parametrize("command", ["status", "wait"])
def test_a_generation_sheet_at_80_columns_wraps_the_prompt_and_keeps_the_path_whole(
    shell: Shell, two_generations: list[dict[str, str]], command: str
) -> None:
    item = two_generations[1]
    terminal = shell.terminal(command, item["task_id"], columns=80)
    assert terminal.finish() == 0, terminal.screen
    sheet = terminal.screen.split(item["task_id"] + "\n", 1)[-1]  # after the progress bar (wait) and title
    _assert_paths_whole(sheet, [item])
    _assert_fits(sheet, 80, [item])
    prompt_lines = [line for line in sheet.splitlines() if line.startswith("prompt") or line.startswith(" " * 8)]
    assert len(prompt_lines) >= 2 and " ".join(" ".join(prompt_lines).split()[1:]).startswith(LONG_PROMPT[:60])
    assert "download_video" not in sheet and "Done: the video is saved." in sheet


def test_generate_in_a_narrow_terminal_keeps_the_saved_path_whole(shell: Shell, upstream: SimulatorProcess) -> None:
    shell.use(upstream)
    terminal = shell.terminal("generate", LONG_PROMPT, columns=80)
    assert terminal.finish() == 0, terminal.screen
    listed = shell.run("list", "--json").json["generations"][0]
    _assert_paths_whole(terminal.screen, [{"path": listed["files"][0]}])


@pytest.fixture
def slow_upstream() -> Iterator[SimulatorProcess]:
    simulator = SimulatorProcess(speed=1, api_key=KEY)  # renders take a minute: they are still running at Ctrl-C
    yield simulator
    simulator.stop()


def test_a_batch_names_the_per_minute_brake_and_ctrl_c_says_what_keeps_rendering(
    shell: Shell, slow_upstream: SimulatorProcess, tmp_path: Path
) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text("".join(json.dumps({"prompt": f"shot {n}", "seed": n}) + "\n" for n in (1, 2, 3)))
    shell.use(slow_upstream)
    terminal = shell.terminal("batch", str(shots), "--yes", VEO_MCP_MAX_CREATES_PER_MINUTE="2")
    screen = terminal.wait_for("VEO_MCP_MAX_CREATES_PER_MINUTE")
    assert "the per-minute brake on runaway loops holds the rest" in " ".join(screen.split())
    terminal.wait_for("(queue waiting, see above)")
    terminal.ctrl_c()
    assert terminal.finish(timeout_s=30) == 130, terminal.screen
    said = terminal.screen.split("veo-mcp: stopped", 1)[1]
    assert f"`veo-mcp batch {shots}` again" in said  # one line: the path is never broken
    said = " ".join(said.split())
    assert "0 of 3 items had finished, 2 keep rendering in the simulator (nothing is billed), 1 not sent yet" in said
    assert "before a generation was known" not in said
    assert slow_upstream.ledger()["requests"]["create"] == 2


def test_the_simulator_stops_on_sigterm_with_0_and_serves_until_then(tmp_path: Path) -> None:
    """An orchestrator's stop: the simulator answers until SIGTERM, then ends cleanly (0, not a re-raised signal)."""
    simulator = subprocess.Popen(
        [sys.executable, "-m", "veo_mcp", "simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert simulator.stdout is not None
        base_url = simulator.stdout.readline().strip()
        assert httpx.get(f"{base_url}/_sim/ledger", timeout=10).status_code == 200  # serving: the control
        simulator.send_signal(signal.SIGTERM)
        code = simulator.wait(timeout=30)
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait(timeout=10)
    assert code == 0, simulator.stderr.read() if simulator.stderr else ""
    assert "Traceback" not in (simulator.stderr.read() if simulator.stderr else "")
