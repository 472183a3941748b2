"""A batch's queue survives restarts: unsent items are sent afterwards, sent ones are tracked, and an item whose
create outcome is unknown is never sent again. Each test stops one server and starts another on the same data
folder and the same (still running) simulator, with real client sessions on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client

from tests.helpers import running_harness, text_of
from tests.mcp.test_batches import finish_batch
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig

ITEMS = {"items": [{"prompt": f"shot {number}", "seed": number} for number in range(1, 5)], "request_id": "story-1"}


async def batch_until(client: Client, batch_id: str, done: Any) -> dict[str, Any]:
    """get_batch until `done(state)` holds (bounded)."""
    with anyio.fail_after(10):
        while True:
            state = (await client.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
            if done(state):
                return state
            await anyio.sleep(0.02)


async def rendered(client: Client, simulator: Simulator, batch_id: str) -> dict[str, Any]:
    """Move the simulated clock on whenever an item is rendering, until every item has finished (bounded)."""
    with anyio.fail_after(20):
        while True:
            state = (await client.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
            if state["finished"]:
                return state
            if any(item["status"] in ("pending", "processing") for item in state["items"]):
                simulator.service.clock.advance(200)  # far more than any of these renders takes
            await anyio.sleep(0.02)


async def test_a_restart_in_the_middle_resumes_without_a_second_create(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=1))  # nothing finishes unless the test moves the clock
    async with running_harness(tmp_path, simulator=simulator, max_concurrent=1) as first, first.client() as client:
        queued = await client.call_tool("generate_batch", ITEMS)
        assert not queued.is_error, text_of(queued)
        batch_id = (queued.structured_content or {})["batch_id"]
        before = await batch_until(client, batch_id, lambda state: state["items"][0]["task_id"])
    assert [item["status"] for item in before["items"][1:]] == ["queued"] * 3  # one slot: the rest waited
    sent_before = simulator.service.requests["create"]
    async with running_harness(tmp_path, simulator=simulator, max_concurrent=1) as second, second.client() as client:
        with anyio.fail_after(10):  # the queue goes on by itself after the restart: nobody asks about the batch
            while len(simulator.service.tasks) < 2:
                simulator.service.clock.advance(200)
                await anyio.sleep(0.02)
        state = await rendered(client, simulator, batch_id)
        again = (await client.call_tool("generate_batch", ITEMS)).structured_content or {}
    assert sent_before == 1
    assert [item["status"] for item in state["items"]] == ["completed"] * 4
    assert state["items"][0]["task_id"] == before["items"][0]["task_id"]  # tracked, not created again
    assert again["reused"] and again["batch_id"] == batch_id
    assert simulator.service.requests["create"] == 4 and len(simulator.service.tasks) == 4


async def test_an_item_whose_create_outcome_is_unknown_is_never_resent(tmp_path: Path) -> None:
    # The first create is accepted upstream, then its answer is held back: the server stops while sending it.
    held = Fault(kind="delay", endpoint="create", seconds=30, after_accept=True)
    simulator = Simulator(SimulatorConfig(speed=100, faults=[held]))
    request = {"items": [{"prompt": "unlucky"}, {"prompt": "lucky"}]}
    async with running_harness(tmp_path, simulator=simulator, max_concurrent=1) as first, first.client() as client:
        batch_id = ((await client.call_tool("generate_batch", request)).structured_content or {})["batch_id"]
        await batch_until(client, batch_id, lambda state: simulator.service.tasks)  # accepted upstream, unanswered
        assert [item["status"] for item in (await batch_until(client, batch_id, bool))["items"]] == [
            "sending",
            "queued",
        ]
    async with running_harness(tmp_path, simulator=simulator) as second, second.client() as client:
        state = await finish_batch(client, batch_id)
        listed = (await client.call_tool("list_generations", {"batch_id": batch_id})).structured_content or {}
    unlucky, lucky = state["items"]
    assert unlucky["status"] == "outcome_unknown" and unlucky["task_id"] is None
    assert "will not send it again" in unlucky["message"] or "not sent again" in unlucky["message"]
    assert lucky["status"] == "completed"
    assert [u["prompt"] for u in listed["unconfirmed"]] == ["unlucky"]  # shown with the batch's generations
    assert simulator.service.requests["create"] == 2 and len(simulator.service.tasks) == 2


async def test_a_session_that_ends_mid_batch_loses_no_item(tmp_path: Path) -> None:
    """Issue 22: six variants against an account that runs two tasks at once; the session (and the server) ends while
    the third create is backing off after EvoLink's 429. The 429 was a definite "no": the next server sends every
    item, so there are six creates and six videos, and no item is left 'outcome unknown'."""
    simulator = Simulator(SimulatorConfig(speed=1, max_active_tasks=2))  # nothing finishes unless the clock moves
    variants = {"prompt": "a lighthouse", "variants": {"seed": [1, 2, 3, 4, 5, 6]}, "confirm_cost": True}
    slow_backoff = {"max_backoff_s": 5.0}  # EvoLink says Retry-After 10: the client waits 5 s before trying again
    async with (
        running_harness(tmp_path, simulator=simulator, client_options=slow_backoff) as first,
        first.client() as client,
    ):
        queued = await client.call_tool("generate_batch", variants)
        assert not queued.is_error, text_of(queued)
        batch_id = (queued.structured_content or {})["batch_id"]
        with anyio.fail_after(10):  # the third create was refused with a 429 and is backing off
            while simulator.service.requests["create"] < 3:  # noqa: ASYNC110 - the simulator's own count
                await anyio.sleep(0.01)
    assert len(simulator.service.tasks) == 2
    async with running_harness(tmp_path, simulator=simulator) as second, second.client() as client:
        resumed = (await client.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
        state = await rendered(client, simulator, batch_id)
        saved = await finish_batch(client, batch_id)
    assert [item["status"] for item in resumed["items"]].count("outcome_unknown") == 0
    assert [item["status"] for item in state["items"]] == ["completed"] * 6
    assert len(simulator.service.tasks) == 6 and all(item["files"] for item in saved["items"])
