"""Shared fixtures: an in-process simulator and a client wired to it (the real transport seam, no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from veo_mcp.evolink import EvoLinkClient
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

TEST_KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def simulator() -> Simulator:
    return Simulator(SimulatorConfig(speed=1.0))


def make_client(simulator: Simulator, *, api_key: str | None = TEST_KEY, **options: float) -> EvoLinkClient:
    settings: dict[str, float] = {"max_backoff_s": 0.01, "request_timeout_s": 5.0}
    settings.update(options)
    return EvoLinkClient(
        api_key=api_key,
        base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(simulator),
        **settings,  # type: ignore[arg-type]
    )


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
