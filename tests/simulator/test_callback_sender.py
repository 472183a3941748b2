"""The simulator's callback sender alone: what it logs for each failed attempt, when it gives up, and how long it
naps before the next task ends (the delivery loop itself is tested end to end in tests/test_callbacks.py)."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest

from veo_mcp.evolink import parse_video_request
from veo_mcp.simulator import Simulator, SimulatorConfig
from veo_mcp.simulator.callbacks import CallbackSender

REQUEST = parse_video_request({"prompt": "a heron", "callback_url": "https://hooks.example.com/done"})


async def test_each_failed_attempt_is_logged_then_the_delivery_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    simulator = Simulator(SimulatorConfig(speed=1e6))  # retry pauses of a microsecond
    task = simulator.service.create(REQUEST)
    answers = iter([httpx.Response(500), None, httpx.Response(204)])

    def hook(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer is None:
            raise httpx.ConnectError("refused")
        return answer

    caplog.set_level(logging.INFO, logger="veo_mcp.simulator.callbacks")
    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as http:
        await CallbackSender(simulator.service)._attempts(http, task)
    assert [record.getMessage() for record in caplog.records] == [
        f"callback for {task.id} answered HTTP 500 (attempt 1)",
        f"callback for {task.id} failed (attempt 2): ConnectError('refused')",
    ]
    assert (task.callback_attempts, task.callback_delivered) == (3, True)


async def test_it_gives_up_after_four_attempts(caplog: pytest.LogCaptureFixture) -> None:
    simulator = Simulator(SimulatorConfig(speed=1e6))
    task = simulator.service.create(REQUEST)
    caplog.set_level(logging.INFO, logger="veo_mcp.simulator.callbacks")
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(503))) as http:
        await CallbackSender(simulator.service)._attempts(http, task)
    assert [record.getMessage() for record in caplog.records] == [
        *(f"callback for {task.id} answered HTTP 503 (attempt {attempt})" for attempt in (1, 2, 3, 4)),
        f"gave up calling back {task.id} after 4 attempts",
    ]
    assert (task.callback_attempts, task.callback_delivered) == (4, False)


async def test_it_naps_until_the_next_task_ends_and_at_most_half_a_second() -> None:
    simulator = Simulator(SimulatorConfig(speed=1.0))
    sender = CallbackSender(simulator.service)
    task = simulator.service.create(REQUEST)
    clock = simulator.service.clock
    hook = httpx.MockTransport(lambda request: httpx.Response(204))  # never the real network
    async with httpx.AsyncClient(transport=hook) as http, anyio.create_task_group() as group:
        assert sender._start_due(http, group) == 0.5  # nothing pending
        sender.schedule(task)
        assert sender._start_due(http, group) == 0.5  # ends in half a minute: look again in half a second
        clock.advance(task.ends_at() - clock.now() - 0.2)
        assert 0.1 < sender._start_due(http, group) <= 0.2 + 1e-9  # the real time since only shortens it
        assert sender.delivering == set()
