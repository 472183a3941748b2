"""A real PostgreSQL for the tests: the cluster `scripts/local-postgres` starts, one fresh schema per test.

Each test run has a cluster of its own in a folder of its own (`claim_run_folder`), stopped when the run ends; where
PostgreSQL cannot be had, the tests that need it skip and say why. A schema per test keeps tests apart (their own
tables, advisory lock and notification channel) without the cost of a database each;
`?options=-csearch_path%3D<schema>` in the URL makes every connection of the store use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from veo_mcp.storage.owners import pid_alive

if TYPE_CHECKING:
    from veo_mcp.storage import Store

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local-postgres"


RUN_FOLDER = "VEO_MCP_TEST_PG_DIR"
_RUN_PREFIX = "veo-mcp-pg-run-"
_UNAVAILABLE = 3  # scripts/local-postgres: PostgreSQL cannot be had on this machine


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be had here (not installed and no root to install it, or the install failed)."""


def claim_run_folder() -> None:
    """In the test run's first process: a cluster folder of this run's own, which the xdist workers inherit through
    the environment, so two checkouts (or the suite beside CI) never share or stop each other's cluster."""
    if os.environ.get("VEO_MCP_TEST_POSTGRES_URL") or os.environ.get(RUN_FOLDER):
        return
    _stop_abandoned_runs()
    os.environ[RUN_FOLDER] = str(Path(tempfile.gettempdir()) / f"{_RUN_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def release_run_folder() -> None:
    """At the end of the run: stop and remove this run's cluster, if a test started it."""
    folder = os.environ.get(RUN_FOLDER)
    if folder and f"{_RUN_PREFIX}{os.getpid()}-" in folder:
        if Path(folder).exists():
            _script("stop", folder)
        Path(f"{folder}.lock").unlink(missing_ok=True)


def _stop_abandoned_runs() -> None:
    """Clusters left by runs that were killed before they could stop them (their first process is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_RUN_PREFIX}*"):
        pid = int(folder.name.removeprefix(_RUN_PREFIX).split("-", 1)[0] or 0)
        if pid and not pid_alive(pid):
            if folder.is_dir():
                _script("stop", str(folder))
            else:
                folder.unlink(missing_ok=True)  # a lock file


def _script(command: str, folder: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if folder:
        env["VEO_MCP_LOCAL_PG_DIR"] = folder
    return subprocess.run(
        [sys.executable, str(SCRIPT), command], capture_output=True, text=True, timeout=300, check=False, env=env
    )


@cache
def _started() -> str | PostgresUnavailable:
    """This run's cluster, started once per process (the answer, unavailable included, is kept)."""
    done = _script("start", os.environ.get(RUN_FOLDER))
    if done.returncode == _UNAVAILABLE:
        return PostgresUnavailable(done.stderr.strip().splitlines()[-1].removeprefix("local-postgres: "))
    if done.returncode != 0:
        raise RuntimeError(f"scripts/local-postgres start failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def server_url() -> str:
    """VEO_MCP_TEST_POSTGRES_URL when given, else this run's own cluster, started on first use by whichever worker
    gets there first (the script serialises the others, which then reuse it). Raises PostgresUnavailable when
    PostgreSQL cannot be had here."""
    if given := os.environ.get("VEO_MCP_TEST_POSTGRES_URL"):
        return given
    started = _started()
    if isinstance(started, PostgresUnavailable):
        raise started
    return started


def require_server() -> str:
    """The cluster's URL, or the test is skipped with one line that says why and how to get PostgreSQL."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip('PostgreSQL tests need psycopg: python -m pip install -e ".[test]"')
    try:
        return server_url()
    except PostgresUnavailable as unavailable:
        pytest.skip(f"PostgreSQL cannot be had here: {unavailable}; then run the tests again")


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(require_server(), autocommit=True) as connection:
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
