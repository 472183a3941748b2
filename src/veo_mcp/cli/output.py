"""How the command line speaks: tables on stdout, progress and messages on stderr, one JSON object with `--json`.

Output that is not a terminal (a pipe, a file) is never wrapped at 80 columns, so paths stay whole. A failure is one
or two lines (or `{"error": ...}` with `--json`) and an exit code: 1 for a failure, 2 for a usage error, 130 after
Ctrl-C. A reader that closes the pipe early (`| head -c 1`) ends the command quietly.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich costs ~80 ms to import; `serve` never needs it
    from rich.console import Console
    from rich.table import Table

FAILED = 1
INTERRUPTED = 130
# Wide enough for any path; rich tables only take the width their content needs.
_UNWRAPPED = 100_000


class CommandFailed(Exception):
    """An expected failure: its message says what went wrong and what to do (and the generation it concerns)."""

    def __init__(self, message: str, *, exit_code: int = FAILED, task_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details: dict[str, Any] = {"task_id": task_id} if task_id else {}


def console(*, stderr: bool) -> Console:
    """A console for stdout or stderr that wraps only for a person at a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, width=_UNWRAPPED, soft_wrap=True)


def table(rows: list[tuple[str, str]], title: str) -> Table:
    from rich.table import Table

    grid = Table(title=title, show_header=False, title_justify="left")
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def emit_json(value: Any) -> None:
    print(json.dumps(value), flush=True)


def report_failure(failure: CommandFailed, *, as_json: bool) -> int:
    """Say what failed (stderr, or a JSON object on stdout with --json); the exit code."""
    if as_json:
        emit_json({"error": failure.message, "exit_code": failure.exit_code, **failure.details})
    else:
        print(f"veo-mcp: {failure.message}", file=sys.stderr, flush=True)
    return failure.exit_code


@contextlib.contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """A reader that stopped reading (`| head`) ends the command without a traceback (exit 1, as Python advises)."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at nothing so the interpreter's final flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(FAILED)
