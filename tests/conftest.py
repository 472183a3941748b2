"""Fixtures: an in-process simulator and clients wired to it (the real transport seam, no mocks); helpers.py has
the shared building blocks."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.helpers import FIGURES, TEST_KEY, make_client, use_era
from tests.postgres import claim_run_folder, fresh_schema, release_run_folder
from veo_mcp.evolink import EvoLinkClient
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport


@pytest.fixture(autouse=True)
def _store_on_postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """VEO_MCP_TEST_ALL_ON_POSTGRES=1 runs the whole suite with every store on PostgreSQL: each test gets a fresh
    schema through VEO_MCP_DATABASE_URL (its subprocesses too). Tests about the SQLite file itself opt out with
    `@pytest.mark.sqlite_only`."""
    if os.environ.get("VEO_MCP_TEST_ALL_ON_POSTGRES") != "1":
        yield
        return
    if (marker := request.node.get_closest_marker("sqlite_only")) is not None:
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'about the SQLite file itself'}")
    with fresh_schema() as url:
        monkeypatch.setenv("VEO_MCP_DATABASE_URL", url)
        yield


@pytest.fixture
def simulator() -> Simulator:
    return Simulator(SimulatorConfig(speed=1.0))


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[EvoLinkClient]:
    async with make_client(simulator) as evolink:
        yield evolink


@pytest.fixture
async def raw_http(simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the simulator, for checking its wire behaviour directly."""
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(simulator),
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ) as http:
        yield http


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand this worker's figures to the controller (see pytest_testnodedown)."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["veo_mcp_figures"] = dict(FIGURES)


def pytest_testnodedown(node: object, error: object) -> None:
    """On the xdist controller: add up the figures each worker counted."""
    FIGURES.update(getattr(node, "workeroutput", {}).get("veo_mcp_figures", {}))


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        release_run_folder()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_line("veo-mcp robustness figures: " + ", ".join(f"{k}={v}" for k, v in FIGURES.items()))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the run's first process (xdist's controller, or the only one)
        claim_run_folder()
    config.addinivalue_line("markers", "legacy_era: uses a 2025-era-only feature (resources/subscribe, logging)")
    config.addinivalue_line("markers", "sqlite_only: about the SQLite file itself (skipped with ALL_ON_POSTGRES)")
    config.addinivalue_line("markers", "long: takes most of a minute; started first so the run ends sooner")
    config.addinivalue_line(
        "markers", "not_under_mutation: needs a process's signals as a terminal gives them; left out of mutation runs"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests go first: started last, one would keep a worker busy after the others are done."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that ask for `era` run once per protocol era (once, legacy, when marked legacy_era or when the test is
    not a coroutine: a synchronous test speaks no MCP)."""
    if "era" in metafunc.fixturenames:
        legacy_only = metafunc.definition.get_closest_marker(
            "legacy_era"
        ) is not None or not inspect.iscoroutinefunction(metafunc.function)
        metafunc.parametrize("era", ["legacy"] if legacy_only else ["legacy", "auto"], indirect=True)


@pytest.fixture
def era(request: pytest.FixtureRequest) -> Iterator[str]:
    use_era(request.param)
    yield request.param
    use_era("legacy")
