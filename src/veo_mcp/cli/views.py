"""What the commands print for a person: sheets (one thing, a line per fact) and tables (many things, a row each).

Two rules keep them usable in any terminal: prose (a prompt, a next step) wraps to the terminal's width, and a path
never does - it is printed whole on its own line, so a long one runs on (the terminal soft-wraps it) and still
copies as one path. Tables fit the terminal without dropping a column: the prompt column wraps, the saved column
shows what is saved and the paths follow below; `--wide` prints them in the table, as wide as they need.
Output into a pipe or a file is never wrapped at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from veo_mcp.cli.output import UNWRAPPED

if TYPE_CHECKING:
    from rich.console import Console

Kind = Literal["text", "path"]
_GAP = "  "
# The prompt column keeps at least this many characters before paths move out of the table.
_PROMPT_ROOM = 24


@dataclass(frozen=True, slots=True)
class Fact:
    """One line of a sheet: `path` values are never wrapped."""

    key: str
    value: str
    kind: Kind = "text"


def path_fact(key: str, path: str, detail: str = "") -> list[Fact]:
    facts = [Fact(key, path, "path")]
    if detail:
        facts.append(Fact("", detail))
    return facts


def print_sheet(console: Console, title: str, facts: Sequence[Fact]) -> None:
    """A title line, then `key  value` lines: text values wrapped under their own column, paths whole."""
    from rich.text import Text

    console.print(Text(title, style="bold"), soft_wrap=True)
    width = max((len(fact.key) for fact in facts), default=0)
    room = console.width - width - len(_GAP)
    for fact in facts:
        key = (fact.key.ljust(width) + _GAP, "bold")
        if fact.kind == "path" or console.width >= UNWRAPPED or room < 20:
            console.print(Text.assemble(key, fact.value), soft_wrap=True)
            continue
        lines = Text(fact.value).wrap(console, room) if fact.value else [Text("")]
        for number, line in enumerate(lines):
            line.rstrip()
            lead = key if number == 0 else " " * (width + len(_GAP))
            console.print(Text.assemble(lead, line), soft_wrap=True)


def age(created_at: str | None, now: datetime | None = None) -> str:
    """How long ago, in the fewest characters: `45s`, `12m`, `5h`, `3d`."""
    if not created_at:
        return "-"
    try:
        then = datetime.fromisoformat(created_at)
    except ValueError:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    wraps: bool = False  # the prompt: takes what is left and wraps; every other column keeps its text whole
    justify: Literal["left", "right"] = "left"


def print_table(
    console: Console,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    saved: Sequence[Sequence[str]] | None = None,
    *,
    wide: bool = False,
    saved_header: str = "SAVED",
) -> None:
    """A borderless table; with `saved`, its last column lists each row's saved paths when they fit (or `wide`),
    otherwise that column says how many are saved and the paths follow the table, one whole line each, after
    their row's first cell."""
    from rich.table import Table
    from rich.text import Text

    every = [*columns, Column(saved_header)] if saved is not None else list(columns)
    fixed = sum(max(len(c.header), *(len(row[i]) for row in rows)) for i, c in enumerate(columns) if not c.wraps)
    longest_path = max((len(path) for paths in saved or [] for path in paths), default=0)
    room = console.width - fixed - len(_GAP) * (len(every) - 1)
    inline = wide or console.width >= UNWRAPPED or room - max(longest_path, len(saved_header)) >= _PROMPT_ROOM
    grid = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False, header_style="bold", title=None)
    for column in every:
        grid.add_column(
            column.header,
            no_wrap=not column.wraps,
            overflow="fold" if column.wraps else "ignore",
            justify=column.justify,
            ratio=1 if column.wraps else None,
            min_width=8 if column.wraps else None,
        )
    for number, row in enumerate(rows):
        if saved is None:
            grid.add_row(*row)
            continue
        shown = "\n".join(saved[number]) if inline else _count(saved[number])
        grid.add_row(*row, shown or "-")
    console.print(Text(title, style="bold"), soft_wrap=True)
    if wide and console.width < UNWRAPPED:  # as wide as the rows need: the terminal soft-wraps long lines
        from rich.console import Console as Wide

        wide_console = Wide(
            file=console.file,
            width=UNWRAPPED,
            highlight=False,
            force_terminal=console.is_terminal,
            no_color=console.no_color,
        )
        wide_console.print(grid, crop=False)
    else:
        console.print(grid)
    if saved is not None and not inline and any(saved):
        for row, paths in zip(rows, saved, strict=True):
            for path in paths:
                console.print(f"{row[0]}{_GAP}{path}", soft_wrap=True, markup=False, highlight=False)


def _count(paths: Sequence[str]) -> str:
    if not paths:
        return ""
    return "1 video" if len(paths) == 1 else f"{len(paths)} videos"
