"""Fixtures: an in-process simulator and clients wired to it (the real transport seam, no mocks); helpers.py has
the shared building blocks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers import FIGURES, TEST_KEY, make_client
from veo_mcp.evolink import EvoLinkClient
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_line("veo-mcp robustness figures: " + ", ".join(f"{k}={v}" for k, v in FIGURES.items()))
