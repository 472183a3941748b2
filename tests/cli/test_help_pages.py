"""Every `veo-mcp ... --help` page, word for word (`tests/cli/help_pages.json`): the commands, their arguments, flags,
defaults, choices and examples are what a person reads first, and a change to them must be deliberate. The pages
are rendered at a fixed width of 100 columns, as a terminal of that width shows them, and recorded per Python
version (argparse lays pages out a little differently from one version to the next).

After a deliberate change: `VEO_MCP_UPDATE_HELP=1 python -m pytest -n0 tests/cli/test_help_pages.py`, then read the
diff of help_pages.json before committing it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pytest

from veo_mcp.cli.parser import build_parser

PAGES = Path(__file__).with_name("help_pages.json")
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _recorded() -> dict[str, str]:
    recorded: dict[str, dict[str, str]] = json.loads(PAGES.read_text(encoding="utf-8"))
    if PYTHON not in recorded:
        pytest.skip(
            f"help pages are recorded for Python {', '.join(recorded)}; VEO_MCP_UPDATE_HELP=1 records {PYTHON}'s"
        )
    return recorded[PYTHON]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def _pages(parser: argparse.ArgumentParser, name: str) -> dict[str, str]:
    pages = {name: parser.format_help()}
    for command, sub in _subcommands(parser).items():
        pages.update(_pages(sub, f"{name} {command}"))
    return pages


def test_every_help_page_is_the_recorded_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "40")
    seen = _pages(build_parser(), "veo-mcp")
    if os.environ.get("VEO_MCP_UPDATE_HELP") == "1":
        every = json.loads(PAGES.read_text(encoding="utf-8")) if PAGES.exists() else {}
        every[PYTHON] = seen
        PAGES.write_text(json.dumps(every, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    recorded = _recorded()
    assert sorted(seen) == sorted(recorded), "a command was added or removed (see this module's docstring)"
    for page, text in recorded.items():
        assert seen[page] == text, f"`{page} --help` changed (see this module's docstring)"
    assert {"veo-mcp", "veo-mcp generate", "veo-mcp serve", "veo-mcp users add"} <= set(seen)


def test_the_pages_name_the_examples_and_defaults_a_person_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever is recorded, the pages themselves show the example and the default a person copies."""
    monkeypatch.setenv("COLUMNS", "100")
    seen = _pages(build_parser(), "veo-mcp")
    assert seen["veo-mcp generate"].startswith("usage: veo-mcp generate ")
    assert 'veo-mcp generate "the same kite, closer" --image-file ./kite.png --json' in seen["veo-mcp generate"]
    assert "(default: 8000; 0: any free)" in seen["veo-mcp serve"]
