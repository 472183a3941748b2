"""Replicas through an operator's worst day (issue 25): a replica killed mid-batch, a create answered while the
database was out of reach, a cancel on the replica that is not polling. Real `veo-mcp serve` processes on one fresh
PostgreSQL schema, a simulator process that outlives them, and a TCP forwarder between one replica and the
database where its link must fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from tests.helpers import SimulatorProcess, text_of
from tests.mcp.team_server import client_of
from tests.network import Forwarder
from tests.replicas.cluster import replica, replica_env, saved


async def _until(probe: Any, what: str, timeout_s: float = 30.0) -> Any:
    """`probe()` (sync) until it answers something true; fails the test after `timeout_s`."""
    with anyio.fail_after(timeout_s):
        while not (found := probe()):  # noqa: ASYNC110 - the simulator's ledger has no event to wait on
            await anyio.sleep(0.1)
    assert found, what
    return found


def _creates(simulator: SimulatorProcess) -> int:
    return int(simulator.ledger()["requests"]["create"])


async def test_a_killed_replicas_batch_queue_is_taken_over_unasked(
    database: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """Replica A runs a 12-item batch and its create-rate brake (5 a minute) holds it at 5/12; A is SIGKILLed.
    Nobody asks replica B anything, yet B takes the queue over and sends on until its own brake (8 a minute, A's
    five included) holds it. A third replica started then is told who runs the queue."""
    env = {
        name: replica_env(database, simulator.base_url, tmp_path, name, VEO_MCP_MAX_CREATES_PER_MINUTE=limit)
        for name, limit in (("a", "5"), ("b", "8"), ("c", "8"))
    }
    items = {"items": [{"prompt": f"shot {n} of twelve", "duration": 4} for n in range(12)]}
    with replica(env["b"], "b") as b:
        with replica(env["a"], "a") as a:
            async with client_of(a.url, None, mode="legacy") as on_a:
                batch_id = ((await on_a.call_tool("generate_batch", items)).structured_content or {})["batch_id"]
                with anyio.fail_after(30):
                    while "MAX_CREATES_PER_MINUTE" not in str(  # noqa: ASYNC110 - until A's own brake holds it
                        (await on_a.call_tool("get_batch", {"batch_id": batch_id})).structured_content
                    ):
                        await anyio.sleep(0.1)
            assert _creates(simulator) == 5
            a.kill()
        await _until(lambda: _creates(simulator) == 8, "replica B to send the dead replica's queued items")
        async with client_of(b.url, None, mode="legacy") as on_b:
            on_b_state = (await on_b.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
        with replica(env["c"], "c") as c:
            async with client_of(c.url, None, mode="legacy") as on_c:
                on_c_state = (await on_c.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
    created = [item["task_id"] for item in on_b_state["items"] if item["task_id"]]
    assert len(created) == len(set(created)) == 8 == _creates(simulator)  # nothing sent twice
    assert [item["status"] for item in on_b_state["items"]].count("queued") == 4
    assert "8 generations were started in the last 60 seconds" in on_b_state["queue"]  # B's own word: it runs it
    assert on_c_state["queue"].startswith("another veo-mcp replica runs this batch's queue")


async def test_a_create_answered_while_the_database_is_out_of_reach_keeps_its_record_on_every_replica(
    database: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """Replica A reaches PostgreSQL through a forwarder the test cuts while A's create is on the wire: EvoLink's
    answer comes, A cannot record it. Replica B is asked about the task first: it is the create's (prompt,
    request_id), never "(created outside this server)"; once A's link is back both replicas show that record and the
    video is saved once, under the prompt's name."""
    forwarder = Forwarder.to(database)
    env_a = replica_env(forwarder.url_for(database), simulator.base_url, tmp_path, "a")
    env_b = replica_env(database, simulator.base_url, tmp_path, "b")
    simulator.fault(kind="delay", endpoint="create", seconds=3600, after_accept=True, on_clock=True)
    asked = {"prompt": "a harbour crane at dawn", "duration": 4, "request_id": "harbour-7"}
    try:
        with replica(env_a, "a") as a, replica(env_b, "b") as b:
            async with client_of(a.url, None, mode="legacy") as on_a, client_of(b.url, None, mode="legacy") as on_b:
                answered: list[Any] = []
                async with anyio.create_task_group() as group:
                    group.start_soon(lambda: _answer_into(answered, on_a.call_tool("generate_video", asked)))
                    await _until(lambda: simulator.ledger()["tasks"], "EvoLink to make the task (its answer held)")
                    forwarder.cut()
                    simulator.advance(3600)  # the answer goes out; A cannot record it
                task_id = (answered[0].structured_content or {})["task_id"]
                first_on_b = (await on_b.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
                forwarder.restore()
                on_b_saved = await saved(on_b, task_id)
                on_a_saved = await saved(on_a, task_id)
                listed = (await on_b.call_tool("list_generations", {})).structured_content or {}
    finally:
        forwarder.close()
    assert "could not record it" in text_of(answered[0])
    for state in (first_on_b, on_b_saved, on_a_saved):
        assert (state["prompt"], state["request_id"]) == (asked["prompt"], "harbour-7"), state
    assert [g["prompt"] for g in listed["generations"]] == [asked["prompt"]]
    assert [f["path"] for f in on_a_saved["files"]] == [f["path"] for f in on_b_saved["files"]]
    assert "harbour-crane" in Path(on_b_saved["files"][0]["path"]).name
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 1 and ledger["requests"]["download"] == 1


async def _answer_into(found: list[Any], call: Any) -> None:
    found.append(await call)
