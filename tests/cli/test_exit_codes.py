"""One exit-code table for every command (README "Exit codes"): 0 done, 1 failed, 2 usage, 130 interrupted (the
Ctrl-C cases run in a real terminal: test_terminal.py and test_commands.py)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Shell
from veo_mcp import __version__
from veo_mcp.cli import output
from veo_mcp.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(subparsers.choices)


def test_the_readme_table_is_the_codes_the_command_uses() -> None:
    table = (ROOT / "README.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\d+)` \| (\w+)", table, re.MULTILINE))
    assert rows == {
        str(output.DONE): "done",
        str(output.FAILED): "failed",
        str(output.USAGE_ERROR): "usage",
        str(output.INTERRUPTED): "interrupted",
    }


# What each command needs besides flags, so only the mistyped flag is wrong.
_POSITIONAL = {
    "generate": ["a kite"],
    "estimate": ["a kite"],
    "batch": ["shots.jsonl"],
    "status": ["task-1"],
    "wait": ["task-1"],
    "download": ["task-1"],
    "combine": ["task-1", "task-2"],
    "completion": ["bash"],
    "users": ["list"],
}


@pytest.mark.parametrize("command", _commands())
def test_every_command_answers_a_mistyped_flag_with_2(shell: Shell, command: str) -> None:
    words = [command, *_POSITIONAL.get(command, [])]
    ended = shell.run(*words, "--no-such-flag")
    assert ended.code == 2 and ended.out == "" and "unrecognized arguments: --no-such-flag" in ended.err
    as_json = shell.run(*words, "--no-such-flag", "--json")
    assert as_json.code == 2 and as_json.json["exit_code"] == 2 and as_json.json["usage"] is True


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["serve", "--port", "80000"], "80000 is not a port"),
        (["serve", "--transport", "streamable-http", "--port", "-1"], "-1 is not a port"),
        (["simulator", "--port", "70000"], "70000 is not a port"),
        (["generate", "", "--simulate"], "prompt is empty"),
        (["estimate", "   "], "prompt is empty"),
        (["generate", "a kite"], "export EVOLINK_API_KEY=your-key"),
        (["users", "add", "not a name!", "--file", "team.toml"], "User name 'not a name!' is not allowed"),
        (["users", "add", "bob", "--file", "team.toml", "--daily-budget", "-1"], "--daily-budget -1.0 is not allowed"),
        (["users", "list", "--file", "team/none.toml"], "is not a folder"),
        (["combine", "task-unified-1-aaaa"], "at least two TASK ids"),
    ],
)
def test_what_cannot_be_used_as_typed_exits_2(
    shell: Shell, argv: list[str], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(shell.home)
    ended = shell.run(*argv)
    assert ended.code == 2, (ended.code, ended.err)
    assert says in ended.err and "Traceback" not in ended.err and "unexpected error" not in ended.err


def test_an_empty_prompt_is_the_same_usage_error_in_generate_and_batch(shell: Shell, tmp_path: Path) -> None:
    lines = tmp_path / "empty.jsonl"
    lines.write_text('{"prompt": ""}\n')
    batch = shell.run("batch", str(lines), "--simulate", "--yes")
    generate = shell.run("generate", "", "--simulate")
    assert (batch.code, generate.code) == (2, 2)
    assert "prompt is empty" in batch.err and "prompt is empty" in generate.err


def test_version_works_before_and_after_a_command(shell: Shell) -> None:
    for argv in (["--version"], ["list", "--version"], ["generate", "x", "--version"], ["users", "list", "--version"]):
        ended = shell.run(*argv)
        assert (ended.code, ended.out) == (0, f"veo-mcp {__version__}\n"), argv


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for the pipeline")
@pytest.mark.parametrize("reader", ["head -1", "true"])  # reads one line / has left before anything is written
def test_a_reader_leaving_early_never_changes_the_exit_code(shell: Shell, reader: str) -> None:
    bash = shutil.which("bash") or "bash"
    (shell.home / "a-file").write_text("not a folder")
    for env, expected in (({}, 0), ({"VEO_MCP_OUTPUT_DIR": str(shell.home / "a-file" / "videos")}, 1)):
        script = f"set -o pipefail; {sys.executable} -m veo_mcp doctor --simulate | {reader}"
        done = subprocess.run(
            [bash, "-c", script], capture_output=True, text=True, env={**shell.env, **env}, timeout=120, check=False
        )
        assert done.returncode == expected, (reader, env, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_a_failure_exits_1_with_one_line_or_one_json_object(shell: Shell) -> None:
    ended = shell.run("status", "task-unified-0-nosuchid", "--simulate", "--json")
    assert ended.code == 1 and ended.json["exit_code"] == 1 and ended.json["task_id"] == "task-unified-0-nosuchid"
    assert json.loads(ended.out)["error"].startswith("task id 'task-unified-0-nosuchid' names no generation")
