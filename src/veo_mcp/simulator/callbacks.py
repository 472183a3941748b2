"""Callback delivery the way EvoLink documents it (API doc §6): when a task with a `callback_url` completes or fails,
the simulator POSTs the task object (the same JSON as `GET /v1/tasks/{id}`) to that URL. The receiver must answer
2xx within 10 s; a failed delivery is retried up to 3 times, after 1, 2 and 4 s. Every attempt counts in the
ledger as `requests.callback`.

Timing follows the simulator's clock: a callback leaves when the task ends in simulated time (`POST /_sim/clock`
moves it), and the pauses between retries are simulated seconds too; the 10 s timeout is real time (it is the
network's). `run()` is the delivery loop: the simulator's lifespan runs it under uvicorn, and whoever embeds the
simulator in-process runs it in their own task group.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import httpx
from anyio.abc import TaskGroup

if TYPE_CHECKING:
    from veo_mcp.simulator.engine import SimTask, SimulatedService

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0
RETRY_DELAYS_S = (1.0, 2.0, 4.0)
LONGEST_NAP_S = 0.5  # real seconds between looks, whatever the clock says


class CallbackSender:
    def __init__(self, service: SimulatedService, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._service = service
        self._transport = transport
        self._pending: dict[str, SimTask] = {}
        self.delivering: set[str] = set()  # tasks whose callback is being delivered (or retried) now
        self._wake: anyio.Event | None = None  # made by `run` (an event needs the running event loop)
        service.clock.on_advance.append(self.wake)

    def schedule(self, task: SimTask) -> None:
        """Call `task.request.callback_url` back once the task has ended."""
        if task.request.callback_url:
            self._pending[task.id] = task
            self.wake()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        async with (
            httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False, transport=self._transport) as http,
            anyio.create_task_group() as group,
        ):
            while True:
                self._wake = wake = anyio.Event()
                nap = self._start_due(http, group)
                with anyio.move_on_after(nap):
                    await wake.wait()

    def _start_due(self, http: httpx.AsyncClient, group: TaskGroup) -> float:
        """Start delivering every callback that is due; real seconds until the next one."""
        clock = self._service.clock
        now = clock.now()
        for task_id, task in list(self._pending.items()):
            if task.ends_at() <= now:
                del self._pending[task_id]
                self.delivering.add(task_id)
                group.start_soon(self._deliver, http, task)
        upcoming = [task.ends_at() - now for task in self._pending.values()]
        return min([LONGEST_NAP_S, *(max(0.0, seconds) / clock.speed for seconds in upcoming)])

    async def _deliver(self, http: httpx.AsyncClient, task: SimTask) -> None:
        try:
            await self._attempts(http, task)
        finally:
            self.delivering.discard(task.id)

    async def _attempts(self, http: httpx.AsyncClient, task: SimTask) -> None:
        url = task.request.callback_url
        if not url:
            return
        for attempt in range(len(RETRY_DELAYS_S) + 1):
            if attempt:
                await anyio.sleep(RETRY_DELAYS_S[attempt - 1] / self._service.clock.speed)
            self._service.count_callback(task)
            body = self._service.task_object(task, task.base_url or "http://127.0.0.1/")
            try:
                response = await http.post(url, json=body)
            except httpx.HTTPError as error:
                logger.info("callback for %s failed (attempt %d): %r", task.id, attempt + 1, error)
                continue
            if response.is_success:
                self._service.count_callback(task, delivered=True)
                return
            logger.info("callback for %s answered HTTP %d (attempt %d)", task.id, response.status_code, attempt + 1)
        logger.warning("gave up calling back %s after %d attempts", task.id, len(RETRY_DELAYS_S) + 1)
