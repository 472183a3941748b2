"""The batch queue on a server several people share: they take turns when a slot frees, one person's own hold never
holds another's queue, and what each is told about the wait shows nobody else's activity (issue 23, finding 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from tests.helpers import make_client, service_settings
from veo_mcp.app import App
from veo_mcp.context import acting_as
from veo_mcp.core.batches import Batch, PreparedItem, item_request
from veo_mcp.evolink import parse_video_request
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig


async def _submit(app: App, who: str, count: int) -> Batch:
    items = [
        PreparedItem(n, {"prompt": f"{who}'s shot {n}"}, item_request({"prompt": f"{who}'s shot {n}"}, f"items[{n}]"))
        for n in range(count)
    ]
    with acting_as(who):
        submitted = await app.parts.batches.submit(
            items, request_id=None, allow_duplicate=False, consent="given", confirm_cost=False
        )
    return submitted.batch


async def _until(probe: Any, timeout_s: float = 20.0) -> Any:
    with anyio.fail_after(timeout_s):
        while not (found := probe()):  # noqa: ASYNC110 - the simulator has no event for a create
            await anyio.sleep(0.01)
    return found


async def test_people_take_turns_when_a_slot_frees(tmp_path: Path) -> None:
    """One slot (VEO_MCP_MAX_CONCURRENT=1): Alice queued three shots before Bob queued two, yet each slot that frees
    goes to the other person: alice, bob, alice, bob, alice - not Alice's whole batch first."""
    simulator = Simulator(SimulatorConfig(speed=1))  # nothing finishes unless the test moves the clock
    app = App(service_settings(tmp_path, max_concurrent=1), client=make_client(simulator), simulated=True)
    async with app.running():
        await _submit(app, "alice", 3)
        await _submit(app, "bob", 2)
        for sent in range(1, 6):
            await _until(lambda sent=sent: len(simulator.service.tasks) >= sent)
            simulator.service.clock.advance(600)  # the running one finishes: its slot frees
    senders = [task.request.prompt.split("'")[0] for task in simulator.service.tasks.values()]
    assert senders == ["alice", "bob", "alice", "bob", "alice"]


async def test_a_429_holds_everyone_and_says_only_that_the_account_is_busy(tmp_path: Path) -> None:
    """EvoLink allows one task at once and answers 429 beyond: both people's queues wait, and each is told that the
    account is busy - never how many generations anyone started."""
    simulator = Simulator(SimulatorConfig(speed=1, max_active_tasks=1))
    app = App(service_settings(tmp_path, max_concurrent=4), client=make_client(simulator), simulated=True)
    async with app.running():
        alice = await _submit(app, "alice", 2)
        bob = await _submit(app, "bob", 2)
        notes: dict[str, str | None] = {"alice": None, "bob": None}
        with anyio.fail_after(20):
            while None in notes.values():  # one created, the next refused with 429: the hold is recorded
                await anyio.sleep(0.01)
                for who, batch in (("alice", alice), ("bob", bob)):
                    with acting_as(who):
                        notes[who] = (await app.parts.batches.state(batch)).queue
    assert len(simulator.service.tasks) == 1 and simulator.service.requests["create"] >= 2
    for note in notes.values():
        assert note is not None and note.startswith("the EvoLink account is busy"), notes
        assert "generations were started" not in note and "alice" not in note and "bob" not in note


async def test_a_queue_held_by_a_429_sends_again_as_soon_as_a_generation_finishes(tmp_path: Path) -> None:
    """EvoLink's 429 asks for an hour (Retry-After) while one generation renders: the queue is held for everyone,
    but a slot freeing ends the hold - the item goes out when that generation finishes, not an hour later."""
    simulator = Simulator(SimulatorConfig(speed=1))  # renders wait for the clock
    app = App(service_settings(tmp_path), client=make_client(simulator), simulated=True)
    async with app.running():
        await app.parts.pipeline.generate(parse_video_request({"prompt": "the one that keeps the account busy"}))
        simulator.faults.add(Fault(kind="status", endpoint="create", status=429, retry_after=3600, count=100))
        batch = await _submit(app, "alice", 1)
        with anyio.fail_after(20):
            while not (note := await _note_of(app, "alice", batch)):  # noqa: ASYNC110 - the queue has no event
                await anyio.sleep(0.01)
        assert note.startswith("the EvoLink account is busy"), note
        simulator.faults.clear()
        assert len(simulator.service.tasks) == 1 and batch.items[0].state == "queued"  # held, though EvoLink is free
        simulator.service.clock.advance(3600)  # the rendering generation finishes, and with it the hold
        await _until(lambda: len(simulator.service.tasks) == 2)
        assert await _note_of(app, "alice", batch) is None


async def _note_of(app: App, who: str, batch: Batch) -> str | None:
    with acting_as(who):
        return (await app.parts.batches.state(batch)).queue
