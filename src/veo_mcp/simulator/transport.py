"""In-process access to the simulator through httpx, with the network's failure modes kept.

`httpx.ASGITransport` neither enforces timeouts nor knows dropped connections; this wrapper turns the simulator's
delays into `httpx.ReadTimeout` and its dropped connections into `httpx.RemoteProtocolError`, as a real socket would.
"""

from __future__ import annotations

import math

import anyio
import httpx

from veo_mcp.evolink import catalog
from veo_mcp.simulator.app import SimulatedConnectionDrop, Simulator

IN_PROCESS_BASE_URL = catalog.SIM_IN_PROCESS_BASE_URL


class SimulatorTransport(httpx.AsyncBaseTransport):
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._inner = httpx.ASGITransport(app=simulator.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        try:
            with anyio.fail_after(read_timeout if read_timeout is not None else math.inf):
                return await self._inner.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("The simulator did not answer in time.", request=request) from None
        except SimulatedConnectionDrop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()
