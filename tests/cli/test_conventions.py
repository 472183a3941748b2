"""Command-line conventions: help with a description and an example everywhere, global flags after the subcommand,
shell completion (argcomplete) for bash, zsh and fish, and an HTTP server that says where it listens."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp.client import Client

from tests.cli.conftest import run_in_process
from tests.helpers import line_containing, stop_process
from veo_mcp.cli.parser import build_parser, parse

VENV_BIN = Path(sys.executable).parent


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_every_subcommand_has_a_description_and_an_example() -> None:
    commands = _subcommands()
    assert {
        "serve",
        "generate",
        "list",
        "status",
        "wait",
        "download",
        "doctor",
        "demo",
        "simulator",
        "completion",
    } <= set(commands)
    for name, command in commands.items():
        text = command.format_help()
        assert command.description and len(command.description) > 40, name
        assert "example:\n  veo-mcp " in text or "example:\n  eval" in text, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    assert "streamable-http" in commands["serve"].format_help().split("--transport", 2)[2]


@pytest.mark.parametrize("argv", [["-v", "generate", "x"], ["generate", "x", "-v"], ["list", "--verbose"]])
def test_global_flags_work_before_and_after_the_subcommand(argv: list[str]) -> None:
    assert parse(argv).verbose is True
    assert parse([a for a in argv if a not in ("-v", "--verbose")]).verbose is False


def _completions(shell: str, line: str, tmp_path: Path) -> list[str]:
    """What the shell's completion would offer for `line`, through argcomplete's own protocol."""
    out = tmp_path / f"{shell}.txt"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": shell,
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    subprocess.run([sys.executable, "-m", "veo_mcp"], env=env, check=True, timeout=60, capture_output=True)
    return [word.split(":")[0].strip() for word in re.split(r"[\x0b\n]", out.read_text()) if word.strip()]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts_and_answers(shell: str, tmp_path: Path) -> None:
    script = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "completion", shell], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "veo-mcp" in script and "_ARGCOMPLETE" in script
    assert _completions(shell, "veo-mcp gen", tmp_path) == ["generate"]
    assert set(_completions(shell, "veo-mcp generate x --quality ", tmp_path)) == {"720p", "1080p", "4k"}


@pytest.mark.parametrize(
    ("shell", "registration"),
    [
        ("bash", "complete -o nospace -o default -o bashdefault -F _python_argcomplete veo-mcp"),
        ("zsh", "compdef _python_argcomplete veo-mcp"),
        ("fish", "complete --command veo-mcp -f -a '(__fish_veo-mcp_complete)'"),
    ],
)
def test_the_completion_script_completes_the_command_people_type(
    shell: str, registration: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sourced in a shell, the script registers its completion for `veo-mcp` itself (the command as typed)."""
    ended = run_in_process(("completion", shell), capsys, monkeypatch)
    assert ended.code == 0 and ended.err == ""
    assert registration in [line.strip() for line in ended.out.splitlines()]


@pytest.mark.skipif(shutil.which("bash") is None or not (VENV_BIN / "veo-mcp").exists(), reason="needs bash")
def test_bash_completes_through_the_printed_script() -> None:
    script = (
        'source <(veo-mcp completion bash); COMP_WORDS=(veo-mcp wa); COMP_CWORD=1; COMP_LINE="veo-mcp wa"; '
        'COMP_POINT=10; _python_argcomplete veo-mcp wa veo-mcp; echo "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    bash = shutil.which("bash") or "bash"
    done = subprocess.run([bash, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert done.stdout.split() == ["wait"]


@pytest.mark.parametrize("token", [None, "a-long-random-secret"])
async def test_http_server_prints_its_endpoint_and_whether_a_token_is_needed(tmp_path: Path, token: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update({"VEO_MCP_DATA_DIR": str(tmp_path / "data"), **({"VEO_MCP_HTTP_TOKEN": token} if token else {})})
    process = subprocess.Popen(
        [sys.executable, "-m", "veo_mcp", "serve", "--transport", "streamable-http", "--port", "0", "--simulate"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        endpoint = line_containing(process.stderr, "MCP endpoint")
        url = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", endpoint)
        assert url is not None and url.group(1) != "0", endpoint
        if token:
            assert "clients must send 'Authorization: Bearer <VEO_MCP_HTTP_TOKEN>'" in endpoint
            assert token not in endpoint
        else:
            assert "no token required" in endpoint
            async with Client(url.group(0), mode="legacy") as client:
                assert "generate_video" in {tool.name for tool in (await client.list_tools()).tools}
    finally:
        stop_process(process)
