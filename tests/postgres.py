"""A real PostgreSQL for the tests: the cluster `scripts/local-postgres` starts, one fresh schema per test.

A schema per test keeps tests apart (their own tables, advisory lock and notification channel) without the cost of a
database each; `?options=-csearch_path%3D<schema>` in the URL makes every connection of the store use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from veo_mcp.storage import Store

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local-postgres"


@cache
def server_url() -> str:
    """VEO_MCP_TEST_POSTGRES_URL (CI starts the cluster before the tests), else the local cluster, started on first
    use (an already running one is reused)."""
    if given := os.environ.get("VEO_MCP_TEST_POSTGRES_URL"):
        return given
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "start"], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/local-postgres start failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as connection:
        connection.execute(sql)


def schema_url(schema: str) -> str:
    return f"{server_url()}?options=-csearch_path%3D{schema}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """The URL of an empty schema of its own, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _admin(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(schema)
    finally:
        _admin(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def database_location(engine: str, tmp_path: Path) -> Iterator[Path | str]:
    """Where a test's store lives on `engine` ("sqlite": a file under tmp_path; "postgres": a fresh schema)."""
    if engine == "sqlite":
        yield tmp_path / "data" / "veo-mcp.sqlite3"
        return
    with fresh_schema() as url:
        yield url


@asynccontextmanager
async def store_on(engine: str, tmp_path: Path) -> AsyncIterator[Store]:
    """An open store on `engine` (see `database_location`), closed afterwards."""
    from veo_mcp.storage import Store

    with database_location(engine, tmp_path) as location:
        opened = await Store.open(location)
        try:
            yield opened
        finally:
            await opened.aclose()
