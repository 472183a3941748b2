"""Two replicas on one fresh PostgreSQL schema, against one simulator process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SimulatorProcess
from tests.postgres import fresh_schema
from tests.replicas.cluster import KEY, Replica, replica, replica_env


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@pytest.fixture
def simulator() -> Iterator[SimulatorProcess]:
    process = SimulatorProcess(speed=40, api_key=KEY)
    yield process
    process.stop()


@pytest.fixture
def two(database: str, simulator: SimulatorProcess, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    with (
        replica(replica_env(database, simulator.base_url, tmp_path, "a"), "a") as a,
        replica(replica_env(database, simulator.base_url, tmp_path, "b"), "b") as b,
    ):
        yield a, b
