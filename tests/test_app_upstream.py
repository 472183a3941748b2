"""Which upstream the app talks to, and how it is set up: the built-in simulator (in this process, its account kept in
`VEO_MCP_DATA_DIR/simulated`, at the configured speed, allowed to call this server back on loopback), a
`veo-mcp simulator` process (any key works there), EvoLink itself, or nothing without a key. The client gets the
configured timeouts and retries, and reports every call to the operator's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.helpers import service_settings
from veo_mcp.app import _upstream, simulated_folder
from veo_mcp.evolink import catalog
from veo_mcp.evolink.errors import NotFoundError
from veo_mcp.simulator import SimulatorTransport


def _headers(client: Any) -> httpx.Headers:
    return client._api.headers  # type: ignore[no-any-return]


def test_the_built_in_simulator_runs_in_this_process_with_its_account_in_the_data_folder(tmp_path: Path) -> None:
    settings = service_settings(
        tmp_path, simulate=True, simulator_speed=7.0, request_timeout_s=11.0, get_retry_attempts=2
    )
    seen: list[tuple[str, str | None]] = []
    upstream = _upstream(settings, lambda operation, kind: seen.append((operation, kind)))
    assert upstream is not None and (upstream.simulated, upstream.embedded, upstream.simulators) == (True, True, [])
    client = upstream.build()
    [simulator] = upstream.simulators
    assert isinstance(client._transport, SimulatorTransport) and client._transport.simulator is simulator
    assert simulator.config.speed == 7.0 and simulator.service.clock.speed == 7.0
    assert simulator.config.state_dir == simulated_folder(settings) == settings.data_dir / "simulated"
    assert simulator.config.allow_private_callbacks is True
    assert str(client._api.base_url).rstrip("/") == catalog.SIM_IN_PROCESS_BASE_URL
    assert str(client._files.base_url).rstrip("/") == catalog.SIM_IN_PROCESS_BASE_URL
    assert _headers(client)["Authorization"] == "Bearer simulated"
    assert client._api.timeout == httpx.Timeout(11.0, connect=settings.connect_timeout_s)
    assert client._get_attempts == 2

    async def ask() -> None:
        async with client:
            with pytest.raises(NotFoundError):
                await client.get_task("task-unified-0000000000-nothere1")

    anyio.run(ask)
    assert seen == [("get", "not_found")]
    assert (settings.data_dir / "simulated").is_dir()


def test_a_simulator_process_is_reached_over_the_network_with_any_key(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, simulate=True, base_url="http://127.0.0.1:9", api_key=None)
    upstream = _upstream(settings, lambda operation, kind: None)
    assert upstream is not None and (upstream.simulated, upstream.embedded) == (True, False)
    client = upstream.build()
    assert client._transport is None and upstream.simulators == []
    assert str(client._api.base_url).rstrip("/") == "http://127.0.0.1:9"
    assert _headers(client)["Authorization"] == "Bearer simulated"
    keyed = _upstream(service_settings(tmp_path, simulate=True, base_url="http://127.0.0.1:9", api_key="sk-x"), print)
    assert keyed is not None and _headers(keyed.build())["Authorization"] == "Bearer sk-x"


def test_evolink_itself_with_the_key_and_nothing_without_one(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, simulate=False, api_key="sk-real", download_timeout_s=99.0)
    upstream = _upstream(settings, lambda operation, kind: None)
    assert upstream is not None and (upstream.simulated, upstream.embedded) == (False, False)
    client = upstream.build()
    assert client._transport is None and str(client._api.base_url).rstrip("/") == settings.base_url
    assert _headers(client)["Authorization"] == "Bearer sk-real"
    assert _upstream(service_settings(tmp_path, simulate=False, api_key=None), print) is None
