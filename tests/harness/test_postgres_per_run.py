"""The suite runs on any machine: each run has a PostgreSQL cluster of its own, stopped when the run ends, and where
PostgreSQL cannot be had the tests that need it skip and say why (issue 24)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.postgres import RUN_FOLDER, require_server

ROOT = Path(__file__).resolve().parents[2]
THIS = "tests/harness/test_postgres_per_run.py::test_this_run_has_a_cluster_of_its_own"


def test_this_run_has_a_cluster_of_its_own() -> None:
    import psycopg

    url = require_server()
    if os.environ.get("VEO_MCP_TEST_POSTGRES_URL"):
        return  # a cluster given from outside is the caller's to manage
    folder = Path(os.environ[RUN_FOLDER])
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW data_directory").fetchone()
    assert row is not None
    assert Path(row[0]) == folder / "data"
    print(f"cluster folder: {folder}")  # read by the test below


def _inner_run(**env: str) -> subprocess.Popen[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {RUN_FOLDER, "VEO_MCP_TEST_POSTGRES_URL"} and not k.startswith("PYTEST_XDIST")
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-rsP", THIS],
        cwd=ROOT,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_runs_at_once_each_use_their_own_cluster_and_remove_it() -> None:
    runs = [_inner_run(), _inner_run()]
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    folders = []
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert "1 passed" in output and "skipped" not in output, output
        folder = Path(re.findall(r"cluster folder: (\S+)", output)[0])
        assert folder.parent == Path(tempfile.gettempdir())
        assert folder.name.startswith(f"veo-mcp-pg-run-{run.pid}-")  # named after the run that owns it
        assert not folder.exists() and not Path(f"{folder}.lock").exists()  # stopped and removed at the end
        folders.append(folder)
    assert folders[0] != folders[1]


def test_without_postgresql_the_tests_skip_and_say_why() -> None:
    run = _inner_run(VEO_MCP_LOCAL_PG_BINDIR="/nonexistent/postgresql/bin")
    output = run.communicate(timeout=240)[0]
    assert run.returncode == 0, output
    assert "SKIPPED [1]" in output and "passed" not in output, output
    assert (
        "PostgreSQL cannot be had here: VEO_MCP_LOCAL_PG_BINDIR=/nonexistent/postgresql/bin has no initdb; "
        "point it at PostgreSQL's bin folder; then run the tests again"
    ) in output.replace("\n", " "), output
