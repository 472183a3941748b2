"""`veo-mcp demo` in this process (the real process is tested in test_cli.py): one generation end to end against the
built-in simulator, whatever the shell says about simulating, at the speed asked, into the folder asked; a bad
--speed is named as the flag typed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Shell
from veo_mcp.cli.demo import DEFAULT_PROMPT


def test_the_demo_makes_one_simulated_video_into_the_folder_given(shell: Shell) -> None:
    folder = shell.home / "elsewhere"
    ended = shell.run("demo", "--speed", "300", "--output-dir", str(folder), "--json", VEO_MCP_SIMULATE="0")
    assert ended.code == 0, ended.err
    summary = json.loads(ended.out.strip().splitlines()[-1])
    assert (summary["simulated"], summary["status"], summary["prompt"]) == (True, "completed", DEFAULT_PROMPT)
    saved = Path(summary["videos"][0]["path"])
    assert saved.parent == folder / "simulated" and saved.read_bytes()[4:8] == b"ftyp"
    assert summary["estimated_cost_usd"] == 0.48


def test_a_bad_speed_is_named_as_the_flag_typed(shell: Shell) -> None:
    ended = shell.run("demo", "--speed", "-3")
    assert (ended.code, ended.out) == (2, "")
    assert ended.err.startswith(
        "veo-mcp: --speed (VEO_MCP_SIMULATOR_SPEED): Input should be greater than 0 (given: -3.0). "
    )
