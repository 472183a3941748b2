"""Sheets and tables as a terminal of a given width shows them, exactly: prose wraps under its column, a path never
does, and saved paths that do not fit move below the table after their row's first cell (or stay in it with
`wide`)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from veo_mcp.cli.views import Column, Fact, age, print_sheet, print_table

COLUMNS = [Column("ID"), Column("PROMPT", wraps=True)]
LONG = "/videos/a-very-long-folder-name/lighthouse-at-dusk.mp4"


def _terminal(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, highlight=False, color_system=None)


def _shown(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_paths_that_do_not_fit_follow_the_table_after_their_rows_first_cell() -> None:
    console = _terminal(60)
    rows = [["a1", "a lighthouse at dusk over a calm sea with gulls"], ["b2", "fog"]]
    print_table(console, "jobs", COLUMNS, rows, [[LONG], []])
    assert _shown(console) == (
        "jobs\n"
        "ID  PROMPT                                           SAVED  \n"
        "a1  a lighthouse at dusk over a calm sea with gulls  1 video\n"
        "b2  fog                                              -      \n"
        f"a1  {LONG}\n"
    )


def test_paths_that_fit_stay_in_the_table() -> None:
    console = _terminal(60)
    print_table(console, "jobs", COLUMNS, [["a1", "a lighthouse"]], [["/v/a.mp4"]])
    assert _shown(console) == "jobs\nID  PROMPT        SAVED   \na1  a lighthouse  /v/a.mp4\n"


def test_wide_keeps_the_paths_in_the_table_however_narrow_the_terminal() -> None:
    console = _terminal(60)
    rows = [["a1", "a lighthouse at dusk over a calm sea with gulls"], ["b2", "fog"]]
    print_table(console, "jobs", COLUMNS, rows, [[LONG], []], wide=True)
    assert _shown(console) == (
        "jobs\n"
        f"ID  PROMPT                                           SAVED{' ' * (len(LONG) - 5)}\n"
        f"a1  a lighthouse at dusk over a calm sea with gulls  {LONG}\n"
        f"b2  fog                                              -{' ' * (len(LONG) - 1)}\n"
    )


def test_a_sheet_wraps_prose_under_its_column_and_never_a_path() -> None:
    console = _terminal(40)
    facts = [
        Fact("status", "completed"),
        Fact("prompt", "a lighthouse at dusk over a calm sea with gulls circling"),
        Fact("file", "/videos/a-very-long-folder-name/lighthouse.mp4", "path"),
    ]
    print_sheet(console, "veo-mcp status", facts)
    assert _shown(console) == (
        "veo-mcp status\n"
        "status  completed\n"
        "prompt  a lighthouse at dusk over a calm\n"
        "        sea with gulls circling\n"
        "file    /videos/a-very-long-folder-name/lighthouse.mp4\n"
    )


def test_the_prompt_wraps_to_the_terminal_and_a_long_title_stays_one_line() -> None:
    console = _terminal(30)
    print_table(console, "jobs", COLUMNS, [["a1", "a lighthouse at dusk over a calm sea with gulls"]])
    assert _shown(console) == (
        "jobs\nID  PROMPT                    \na1  a lighthouse at dusk over \n    a calm sea with gulls     \n"
    )
    console = _terminal(20)
    print_sheet(console, "veo-mcp status of a long-named generation", [Fact("status", "completed")])
    assert _shown(console) == "veo-mcp status of a long-named generation\nstatus  completed\n"


def test_paths_stay_in_the_table_exactly_while_the_prompt_keeps_its_room() -> None:
    """The boundary: the terminal is just wide enough for the ID, the gaps, the path and 24 columns of prompt."""
    just = len("ID") + 2 * len("  ") + len(LONG) + 24
    rows = [["a1", "a lighthouse at dusk over a calm sea"]]
    console = _terminal(just)
    print_table(console, "jobs", COLUMNS, rows, [[LONG]])
    assert _shown(console).splitlines()[2].endswith(LONG)
    narrower = _terminal(just - 1)
    print_table(narrower, "jobs", COLUMNS, rows, [[LONG]])
    assert _shown(narrower).splitlines()[2].endswith("1 video") and _shown(narrower).splitlines()[-1] == f"a1  {LONG}"


def test_a_tables_long_title_stays_one_line_on_a_narrow_terminal() -> None:
    console = _terminal(14)
    print_table(console, "jobs of the week at the harbour", COLUMNS, [["a1", "fog"]])
    assert _shown(console) == "jobs of the week at the harbour\nID  PROMPT  \na1  fog     \n"


def test_an_age_is_said_in_its_largest_whole_unit() -> None:
    now = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)

    def ago(**elapsed: float) -> str:
        return age((now - timedelta(**elapsed)).isoformat(), now)

    assert [ago(seconds=45), ago(minutes=12, seconds=59), ago(hours=5, minutes=59), ago(days=3, hours=23)] == [
        "45s",
        "12m",
        "5h",
        "3d",
    ]
    assert [ago(seconds=60), ago(hours=1), ago(days=1)] == ["1m", "1h", "1d"]
    assert [ago(seconds=-30), age(None, now), age("not a time", now)] == ["0s", "-", "-"]
