"""How the command line speaks: results on stdout, progress and messages on stderr, one JSON object with `--json`.

Output that is not a terminal (a pipe, a file) is never wrapped at 80 columns, so paths stay whole. A failure is one
or two lines (or `{"error": ...}` with `--json`) and an exit code, the same for every command:

    0    done: the command did what was asked
    1    failed: it ran but could not get there (the message says why and what to do)
    2    usage: what was typed or configured cannot be used (a flag, a file, a setting, a missing key); nothing
         was sent
    130  interrupted (Ctrl-C): the message says what happens to work under way

A reader that stops reading (`| head -1`) changes nothing: the rest of the output is dropped and the command ends
with its own exit code, whenever the reader left.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # rich costs ~80 ms to import; `serve` never needs it
    from rich.console import Console

DONE = 0
FAILED = 1
USAGE_ERROR = 2
INTERRUPTED = 130
# Wide enough for any path; rich tables only take the width their content needs.
UNWRAPPED = 100_000


class CommandFailed(Exception):
    """An expected failure: its message says what went wrong and what to do (and the generation it concerns)."""

    def __init__(self, message: str, *, exit_code: int = FAILED, task_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details: dict[str, Any] = {"task_id": task_id} if task_id else {}


def console(*, stderr: bool) -> Console:
    """A console for stdout or stderr. At a terminal its width is the terminal's (tables and sheets fit it); the
    messages on stderr are never wrapped by it (a sentence naming a path stays one line the terminal soft-wraps).
    Into a pipe or a file nothing is wrapped."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False, soft_wrap=stderr)
    return Console(stderr=stderr, highlight=False, width=UNWRAPPED, soft_wrap=True)


def emit_json(value: Any) -> None:
    print(json.dumps(value), flush=True)


_Shown = TypeVar("_Shown")


def left_to_show(result: _Shown | int, *, as_json: bool) -> _Shown | int:
    """A command's result still to be shown as a table or sheet, or its exit code when nothing is left to show: the
    run failed (its code), or --json printed the result (0)."""
    if isinstance(result, int):
        return result
    if as_json:
        emit_json(result)
        return 0
    return result


def report_failure(failure: CommandFailed, *, as_json: bool) -> int:
    """Say what failed (stderr, or a JSON object on stdout with --json); the exit code."""
    if as_json:
        emit_json({"error": failure.message, "exit_code": failure.exit_code, **failure.details})
    else:
        print(f"veo-mcp: {failure.message}", file=sys.stderr, flush=True)
    return failure.exit_code


def _drop_stdout() -> None:
    """Point stdout at nothing: later writes (and the interpreter's final flush) succeed and go nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _ForgivingStdout:
    """stdout that a reader may leave (`| head -1`): the write that meets the closed pipe and every later one go
    nowhere, so the command finishes what it was doing and exits with its own code, whenever the reader left."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            written: int = self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:
            _drop_stdout()
            return len(text)
        return written

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _drop_stdout()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """Writes to a pipe whose reader left are dropped (see `_ForgivingStdout`); should one still escape, the command
    ends without a traceback (exit 1, as Python advises)."""
    original = sys.stdout
    if not isinstance(original, _ForgivingStdout):
        sys.stdout = _ForgivingStdout(original)
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
        sys.exit(FAILED)
    finally:
        sys.stdout = original
