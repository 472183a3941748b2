"""A SQLite database that veo-mcp kept its generations in and that is now missing, empty or damaged: refused in
words that say which and what to do, or (only when asked, VEO_MCP_NEW_DATABASE=1) set aside under a name that says
why, and a new one started."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from veo_mcp.storage.database import StoreError
from veo_mcp.storage.sqlite import marker_of
from veo_mcp.storage.store import Store


async def _used(path: Path) -> str:
    """A database veo-mcp has kept generations in; what its marker says since when."""
    store = await Store.open(path)
    await store.aclose()
    return marker_of(path).read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("loss", ["is missing", "is empty"])
async def test_a_database_that_was_used_and_is_lost_is_refused_saying_how(tmp_path: Path, loss: str) -> None:
    path = tmp_path / "veo-mcp.sqlite3"
    since = await _used(path)
    if loss == "is missing":
        path.unlink()
    else:
        path.write_bytes(b"")
    with pytest.raises(StoreError) as refused:
        await Store.open(path)
    assert str(refused.value).startswith(
        f"veo-mcp's database {path} {loss}, but veo-mcp kept its generations there (since {since}): it was "
        "truncated, deleted or replaced."
    )


async def test_asked_for_a_new_database_an_empty_one_is_set_aside_and_the_start_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "veo-mcp.sqlite3"
    await _used(path)
    path.write_bytes(b"")
    caplog.set_level(logging.WARNING, logger="veo_mcp")
    store = await Store.open(path, new=True)
    await store.aclose()
    [aside] = [p.name for p in tmp_path.iterdir() if ".empty-" in p.name]
    assert re.fullmatch(r"veo-mcp\.sqlite3\.empty-\d{8}-\d{6}", aside), aside
    assert f"starting a new database at {path} (VEO_MCP_NEW_DATABASE=1)" in caplog.messages


async def test_a_damaged_database_is_refused_unless_a_new_one_is_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "veo-mcp.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="is damaged"):
        await Store.open(path)  # not asked for: nothing is moved
    assert [p.name for p in tmp_path.iterdir()] == ["veo-mcp.sqlite3"]
    store = await Store.open(path, new=True)
    await store.aclose()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert any(re.fullmatch(r"veo-mcp\.sqlite3\.damaged-\d{8}-\d{6}", name) for name in names), names
