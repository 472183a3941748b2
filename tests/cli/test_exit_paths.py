"""How `veo-mcp` ends, through its real entry point (`veo_mcp.cli.main`) in this process: for each kind of failure,
the exit code and the whole message, as one line on stderr or one JSON object on stdout with `--json`, never a
traceback (unless `-v` asks for it). test_commands.py and test_follow_up.py run the same paths as subprocesses."""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Ended, run_in_process, without_our_variables
from veo_mcp.cli.output import CommandFailed, report_failure
from veo_mcp.errors import NotConfiguredError, VeoError

cli = importlib.import_module("veo_mcp.cli.main")  # the module (the package exports its `main` function)
NO_KEY = (
    "No EvoLink API key is set in this shell, so nothing can be sent to EvoLink. Give it to this shell: `export "
    "EVOLINK_API_KEY=your-key` (or a line EVOLINK_API_KEY=your-key in ~/.config/veo-mcp/veo-mcp.env, which every "
    "veo-mcp command reads), or add --simulate to try it with the built-in simulator. A key in your MCP client's "
    "config reaches only the server that client starts."
)
BAD_SETTING = "VEO_MCP_CONFIRM_ABOVE: Input should be greater than or equal to 0."
BAD_THRESHOLD = (  # a command at a terminal: this shell, the settings file or a flag
    f"{BAD_SETTING} Fix it in this shell, in ~/.config/veo-mcp/veo-mcp.env or on the command line, and run the "
    "command again."
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    without_our_variables(monkeypatch)
    monkeypatch.setenv("VEO_MCP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VEO_MCP_OUTPUT_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("VEO_MCP_SIMULATOR_SPEED", "300")
    return tmp_path


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ended]:
    return lambda *argv: run_in_process(argv, capsys, monkeypatch)


def raising(error: BaseException) -> Callable[..., int]:
    def dispatch(*args: object) -> int:
        raise error

    return dispatch


def assert_one_line(ended: Ended, message: str, code: int) -> None:
    assert ended.code == code, (ended.code, ended.err)
    assert ended.err == f"veo-mcp: {message}\n" and ended.out == ""


def test_a_finished_command_exits_0(run: Callable[..., Ended]) -> None:
    ended = run("completion", "bash")
    assert ended.code == 0 and "_python_argcomplete" in ended.out and ended.err == ""


def test_no_key_is_one_line_and_a_usage_error(run: Callable[..., Ended]) -> None:
    assert_one_line(run("generate", "a kite"), NO_KEY, 2)
    ended = run("generate", "a kite", "--json")
    assert ended.code == 2 and ended.err == "" and ended.json == {"error": NO_KEY, "exit_code": 2}


def test_a_bad_setting_is_one_line_and_exit_2(run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEO_MCP_CONFIRM_ABOVE", "-3")
    assert_one_line(run("generate", "a kite", "--simulate"), BAD_THRESHOLD, 2)
    ended = run("status", "task-unified-1-abc", "--json")
    assert ended.code == 2 and ended.err == "" and ended.json == {"error": BAD_THRESHOLD, "exit_code": 2}


def test_a_usage_error_names_the_flag_and_exits_2(run: Callable[..., Ended]) -> None:
    ended = run("generate", "a kite", "--count", "9")
    assert ended.code == 2 and ended.out == ""
    assert ended.err == (
        "veo-mcp generate: error: argument -n/--count: 9 is not allowed; use a whole number from 1 to 4\n"
        "Run 'veo-mcp generate --help' for the flags and an example.\n"
    )
    as_json = run("generate", "a kite", "--count", "9", "--json")
    assert as_json.code == 2 and as_json.err == ""
    assert as_json.json == {
        "error": "veo-mcp generate: argument -n/--count: 9 is not allowed; use a whole number from 1 to 4",
        "exit_code": 2,
        "usage": True,
    }


def test_an_unconfirmed_cost_without_a_terminal_sends_nothing_and_exits_1(run: Callable[..., Ended]) -> None:
    ended = run("generate", "a city at night", "--simulate", "--quality", "4k", "--duration", "8", "--json")
    unconfirmed = (
        "This video is estimated at $2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s, above the $2.00 "
        "confirmation threshold. Nothing was sent. If you want it, run the same command again with --yes "
        "(VEO_MCP_CONFIRM_ABOVE sets the threshold)."
    )
    assert ended.code == 1 and ended.json == {"error": unconfirmed, "exit_code": 1}
    assert ended.err == ""


def test_an_unknown_generation_names_itself(run: Callable[..., Ended]) -> None:
    ended = run("status", "task-unified-0-nosuchid", "--simulate", "--json")
    assert ended.code == 1
    assert ended.json == {
        "error": "task id 'task-unified-0-nosuchid' names no generation this server knows for you. Check the task id: use "
        "one `veo-mcp generate` printed or `veo-mcp list` shows; a task of another EvoLink account cannot be read.",
        "exit_code": 1,
        "task_id": "task-unified-0-nosuchid",
    }


def test_an_unexpected_failure_is_one_line_and_the_traceback_only_with_v(
    run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_dispatch", raising(RuntimeError("the unforeseen happened")))
    message = "unexpected error: RuntimeError: the unforeseen happened"
    assert_one_line(run("list"), f"{message} (run again with -v for the details)", 1)
    verbose = run("list", "-v")
    assert verbose.code == 1 and verbose.err.startswith("Traceback (most recent call last):")
    assert verbose.err.endswith(f"\nveo-mcp: {message}\n")
    as_json = run("list", "--json")
    assert as_json.json == {"error": f"{message} (run again with -v for the details)", "exit_code": 1}


def test_a_database_that_cannot_be_used_is_named_with_its_remedy_not_unexpected(
    run: Callable[..., Ended], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = home / "data" / "veo-mcp.sqlite3"
    database.parent.mkdir()
    database.write_bytes(b"this is not a database " * 100)
    monkeypatch.setenv("EVOLINK_API_KEY", "sk-test")
    ended = run("list")
    assert ended.code == 1 and ended.out == "" and "unexpected" not in ended.err and "Traceback" not in ended.err
    assert ended.err.startswith(f"veo-mcp: veo-mcp's database {database} is damaged (file is not a database).")
    assert "VEO_MCP_NEW_DATABASE=1" in ended.err


@pytest.mark.parametrize(
    ("error", "message", "code"),
    [
        (
            CommandFailed("the port is taken; use another --port.", exit_code=3),
            "the port is taken; use another --port.",
            3,
        ),
        (
            ExceptionGroup("outer", [ExceptionGroup("inner", [CommandFailed("deep inside a task group")])]),
            "deep inside a task group",
            1,
        ),
        (NotConfiguredError("No key."), f"No key. {NO_KEY.split('. ', 1)[1]}", 1),  # said for this shell
        (BaseExceptionGroup("one", [VeoError("in a group", advice="Do this.")]), "in a group Do this.", 1),
        (RuntimeError("a bug"), "unexpected error: RuntimeError: a bug (run again with -v for the details)", 1),
        (
            ExceptionGroup("empty-ish", [ValueError("v")]),
            "unexpected error: ValueError: v (run again with -v for the details)",
            1,
        ),
    ],
)
def test_every_failure_a_command_raises_ends_in_one_line(
    run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch, error: BaseException, message: str, code: int
) -> None:
    monkeypatch.setattr(cli, "_dispatch", raising(error))
    assert_one_line(run("list"), message, code)
    ended = run("list", "--json")
    assert ended.code == code and ended.err == "" and ended.json == {"error": message, "exit_code": code}


def test_ctrl_c_says_stopped_and_exits_130(run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_dispatch", raising(KeyboardInterrupt()))
    ended = run("list", "--json")
    assert ended.code == 130 and ended.err == "veo-mcp: stopped.\n" and ended.out == ""


def test_an_exit_asked_for_by_a_command_is_kept(run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_dispatch", raising(SystemExit(4)))
    ended = run("list")
    assert ended.code == 4 and ended.err == "" and ended.out == ""


def test_a_command_that_returns_a_code_exits_with_it(
    run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_dispatch", lambda args: 7)
    assert run("list").code == 7


def test_the_failure_report_carries_the_generation(capsys: pytest.CaptureFixture[str]) -> None:
    failure = CommandFailed("generation task-1 failed.", task_id="task-1")
    assert failure.exit_code == 1 and failure.message == str(failure) == "generation task-1 failed."
    assert report_failure(failure, as_json=True) == 1
    assert json.loads(capsys.readouterr().out) == {
        "error": "generation task-1 failed.",
        "exit_code": 1,
        "task_id": "task-1",
    }
    assert report_failure(CommandFailed("plain", exit_code=5), as_json=False) == 5
    assert capsys.readouterr() == ("", "veo-mcp: plain\n")
    assert CommandFailed("no generation").details == {}


def test_a_reader_that_went_away_ends_the_command_quietly_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`veo-mcp list | head -c 1`: stdout (a file of its own here) is pointed at /dev/null, the exit code is 1."""
    with (tmp_path / "stdout").open("w") as stdout:
        monkeypatch.setattr("sys.stdout", stdout)
        monkeypatch.setattr(cli, "_dispatch", raising(BrokenPipeError()))
        monkeypatch.setattr("sys.argv", ["veo-mcp", "list"])
        with pytest.raises(SystemExit) as ended:
            cli.main(["list"])
        print("after the reader left", file=stdout, flush=True)
    assert ended.value.code == 1
    assert (tmp_path / "stdout").read_text() == ""  # everything after the broken pipe goes to /dev/null


def test_a_command_without_json_fails_in_words(run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` has no --json: its refusal is a line on stderr, stdout stays clean (it belongs to the protocol). A
    server reads the environment its MCP client gives it, so that is where it says to fix a setting."""
    monkeypatch.setenv("VEO_MCP_CONFIRM_ABOVE", "-3")
    served = f"{BAD_SETTING} Fix it in the server's environment (or on the command line) and start again."
    assert_one_line(run("serve"), served, 2)


def test_json_asked_for_where_it_is_not_known_still_answers_in_json(run: Callable[..., Ended]) -> None:
    ended = run("--json")
    assert ended.code == 2 and ended.err == ""
    assert ended.json == {"error": "veo-mcp: unrecognized arguments: --json", "exit_code": 2, "usage": True}


def test_the_arguments_given_are_the_ones_obeyed(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["veo-mcp", "--version"])  # what the interpreter was started with
    with pytest.raises(SystemExit) as ended:
        cli.main(["completion", "fish"])
    assert ended.value.code == 0 and "complete" in capsys.readouterr().out


@pytest.mark.parametrize("verbose", [False, True])
def test_logs_go_to_stderr_with_time_level_and_source_and_debug_only_with_v(
    run: Callable[..., Ended], monkeypatch: pytest.MonkeyPatch, verbose: bool
) -> None:
    def dispatch(args: object) -> int:
        logging.getLogger("veo_mcp.example").debug("a detail")
        logging.getLogger("veo_mcp.example").warning("a warning")
        return 0

    monkeypatch.setattr(cli, "_dispatch", dispatch)
    monkeypatch.setattr(logging.root, "handlers", [])  # as in a fresh process: nothing configured yet
    level = logging.root.level
    try:
        ended = run("list", *(["-v"] if verbose else []))
    finally:
        logging.root.setLevel(level)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    expected = [stamp + " WARNING veo_mcp.example: a warning"]
    if verbose:
        expected.insert(0, stamp + " DEBUG veo_mcp.example: a detail")
    lines = ended.err.splitlines()
    assert ended.code == 0 and ended.out == "" and len(lines) == len(expected), ended.err
    assert all(re.fullmatch(pattern, text) for pattern, text in zip(expected, lines, strict=True)), ended.err
