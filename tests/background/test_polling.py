"""The poll loop when upstream briefly does not know a task: it keeps asking at the longest pause, gives the task up
only after `UNKNOWN_POLLS` such pauses in a row, and a successful answer in between starts that window again.

The simulator renders at speed 1 (a render outlasts the test until its clock is moved), the server polls every
10-20 ms, and each 404 is one injected fault: the tests count polls, and read the poll loop's own clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from tests.helpers import Harness, finish, running_harness
from veo_mcp.background.poller import UNKNOWN_POLLS
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig

POLL_MAX_S = 0.02
WINDOW_S = UNKNOWN_POLLS * POLL_MAX_S


@asynccontextmanager
async def rendering(tmp_path: Path) -> AsyncIterator[tuple[Harness, str]]:
    """A server polling one generation that keeps rendering until the simulator's clock moves."""
    simulator = Simulator(SimulatorConfig(speed=1))
    async with (
        running_harness(
            tmp_path, simulator=simulator, poll_interval_min_s=POLL_MAX_S / 2, poll_interval_max_s=POLL_MAX_S
        ) as harness,
        harness.client() as client,
    ):
        created = await client.call_tool("generate_video", {"prompt": "a task upstream forgets now and then"})
        yield harness, (created.structured_content or {})["task_id"]


async def polls(harness: Harness, task_id: str, count: int) -> None:
    """Until `count` more status polls have reached the simulator, or the server gave the task up."""
    gets = harness.simulator.service.requests
    target = gets["get"] + count
    with anyio.fail_after(10):
        while gets["get"] < target and harness.app.parts.poller.tracks(task_id):  # noqa: ASYNC110 - a bound wait
            await anyio.sleep(0.002)


async def test_a_success_between_brief_404s_starts_the_unknown_window_again(tmp_path: Path) -> None:
    async with rendering(tmp_path) as (harness, task_id):
        poller, generation = harness.app.parts.poller, harness.app.parts.registry.generations[task_id]
        unknown_once = Fault(kind="status", endpoint="get", status=404)
        harness.simulator.faults.add(unknown_once)
        await polls(harness, task_id, 2)  # a 404, then an answer
        started = anyio.current_time()
        while anyio.current_time() - started <= WINDOW_S:  # 404s, each followed by an answer, spanning the window
            harness.simulator.faults.add(unknown_once)
            await polls(harness, task_id, 2)
        harness.simulator.faults.add(unknown_once)
        await polls(harness, task_id, 2)  # one more 404, past the window since the first one, and the poll after it
        still_followed = poller.tracks(task_id) and generation.error_message is None
        harness.simulator.service.clock.advance(3600)
        async with harness.client() as client:
            state = await finish(client, task_id)
    assert still_followed, generation.error_message
    assert state["status"] == "completed" and state["error_message"] is None


async def test_a_task_upstream_keeps_not_knowing_is_given_up_but_not_before_the_window(tmp_path: Path) -> None:
    """The positive control of the test above: in the same setting, 404s with no answer between them do end it."""
    async with rendering(tmp_path) as (harness, task_id):
        poller, generation = harness.app.parts.poller, harness.app.parts.registry.generations[task_id]
        before_the_first_404 = anyio.current_time()
        harness.simulator.faults.add(Fault(kind="status", endpoint="get", status=404, count=1000))
        with anyio.fail_after(10):
            while poller.tracks(task_id):  # noqa: ASYNC110 - the server's own decision, awaited within a bound
                await anyio.sleep(0.002)
        given_up_after = anyio.current_time() - before_the_first_404
        async with harness.client() as client:
            state = (await client.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
    assert given_up_after >= WINDOW_S, given_up_after
    assert generation.error_message and "404" in state["error_message"] and not state["finished"]
