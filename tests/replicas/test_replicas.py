"""Two replicas on one PostgreSQL: one create, one poller and one download per task across them; a replica's crash
hands its generations to the survivor; changes and new generations reach sessions on the other replica, on both
protocol eras. Real server processes, a real PostgreSQL (scripts/local-postgres), the simulator as upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest

from tests.delivery.conftest import metric
from tests.helpers import SimulatorProcess
from tests.mcp.team_server import client_of, notifications_into
from tests.replicas.cluster import KEY, Replica, replica, replica_env, saved
from veo_mcp.storage import Store


def _task(ledger: dict[str, Any], task_id: str) -> dict[str, Any]:
    return next(t for t in ledger["tasks"] if t["id"] == task_id)


def _upstream_gets(replica: Replica) -> float:
    """How many times `replica` asked upstream about a task (its own Prometheus counter)."""
    text = httpx.get(replica.url.removesuffix("/mcp") + "/metrics", timeout=10).text
    return metric(text, 'veo_mcp_upstream_requests_total{operation="get"}')


async def _claims(database: str) -> dict[str, str]:
    store = await Store.open(database)
    try:
        return await store.poll_claims()
    finally:
        await store.aclose()


async def test_a_generation_made_on_one_replica_is_waited_and_saved_on_the_other(
    two: tuple[Replica, Replica], simulator: SimulatorProcess, database: str
) -> None:
    a, b = two
    async with client_of(a.url, None, mode="legacy") as on_a, client_of(b.url, None, mode="legacy") as on_b:
        created = await on_a.call_tool("generate_video", {"prompt": "a heron over two rooftops", "duration": 4})
        task_id = (created.structured_content or {})["task_id"]
        state = await saved(on_b, task_id)
        seen_on_a = (await on_a.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
    assert state["status"] == "completed" and len(state["files"]) == 1
    assert Path(state["files"][0]["path"]).is_file()
    assert [f["path"] for f in seen_on_a["files"]] == [f["path"] for f in state["files"]]
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 1 and ledger["requests"]["download"] == 1
    # One replica asked EvoLink about the task; the other only read what it recorded.
    polls = sorted(_upstream_gets(replica) for replica in two)
    assert polls[0] == 0 and polls[1] == _task(ledger, task_id)["gets"] > 0
    assert list(await _claims(database)) == [task_id]


async def test_a_killed_replica_hands_its_running_generations_to_the_survivor(database: str, tmp_path: Path) -> None:
    """Replica A creates two generations and polls them; B starts after A holds both (so B only reads); A is
    SIGKILLed mid-render; B takes the polling over, and saves both videos. Nothing is created or fetched twice."""
    slow = SimulatorProcess(speed=4, api_key=KEY)  # renders take seconds: still running when the replica dies
    try:
        env = {name: replica_env(database, slow.base_url, tmp_path, name) for name in ("a", "b")}
        with replica(env["a"], "a") as a:
            async with client_of(a.url, None, mode="legacy") as on_a:
                task_ids = [
                    (
                        await on_a.call_tool("generate_video", {"prompt": f"a kite, take {i}", "duration": 4})
                    ).structured_content["task_id"]  # type: ignore[index]
                    for i in range(2)
                ]
            held = await _until(lambda: _held_by(database, a, task_ids), "replica A to poll both tasks")
            with replica(env["b"], "b") as b:
                async with client_of(b.url, None, mode="legacy") as on_b:
                    before = (await on_b.call_tool("get_generation", {"task_id": task_ids[0]})).structured_content
                    assert before is not None and before["finished"] is False
                    a.kill()
                    states = [await saved(on_b, task_id) for task_id in task_ids]
                after = await _claims(database)
        ledger = slow.ledger()
    finally:
        slow.stop()
    assert all(s["status"] == "completed" and Path(s["files"][0]["path"]).is_file() for s in states)
    assert ledger["requests"]["create"] == 2 and ledger["requests"]["download"] == 2  # nothing twice
    assert set(after) == set(held) == set(task_ids)
    assert all(f"|{b.process.pid}|" in owner for owner in after.values())  # the survivor polls them now


async def _held_by(database: str, holder: Replica, task_ids: list[str]) -> dict[str, str] | None:
    claims = await _claims(database)
    mine = {task: owner for task, owner in claims.items() if f"|{holder.process.pid}|" in owner}
    return mine if set(mine) == set(task_ids) else None


async def _until(probe: Any, what: str, timeout_s: float = 60.0) -> Any:
    with anyio.fail_after(timeout_s):
        while not (found := await probe()):  # noqa: ASYNC110 - polling the database, nothing to wait on
            await anyio.sleep(0.1)
    assert found, what
    return found


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_session_on_one_replica_hears_what_the_other_polled(two: tuple[Replica, Replica], mode: str) -> None:
    a, b = two
    heard: list[Any] = []
    async with (
        client_of(b.url, None, mode=mode, **notifications_into(heard)) as on_b,
        client_of(a.url, None, mode="legacy") as on_a,
    ):
        await on_b.list_resources()
        created = await on_a.call_tool("generate_video", {"prompt": "a lantern crossing a bridge", "duration": 4})
        task_id, uri = (created.structured_content or {})["task_id"], (created.structured_content or {})["uri"]
        if mode == "legacy":
            await on_b.subscribe_resource(uri)
            with anyio.fail_after(60):
                while not any(isinstance(n, types.ResourceUpdatedNotification) and n.params.uri == uri for n in heard):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
        else:
            with anyio.fail_after(60):
                async with on_b.listen(resource_subscriptions=[uri], resources_list_changed=True) as stream:
                    async for event in stream:
                        heard.append(event)
                        if uri in repr(event):
                            break
        listed = (await on_b.call_tool("list_generations", {})).structured_content or {}
    assert task_id in [g["task_id"] for g in listed["generations"]]


async def test_the_same_request_to_two_replicas_at_once_makes_one_task(
    two: tuple[Replica, Replica], simulator: SimulatorProcess
) -> None:
    """The first create's answer is held back a second, so the other replica's identical request meets it in
    flight: the database's duplicate guard answers both with one task."""
    a, b = two
    simulator.fault(kind="delay", endpoint="create", seconds=1, after_accept=True)
    same = {"prompt": "one harbour, two replicas", "duration": 4, "request_id": "harbour-1"}
    answers: dict[str, dict[str, Any]] = {}

    async def ask(name: str, url: str) -> None:
        async with client_of(url, None, mode="legacy") as client:
            result = await client.call_tool("generate_video", same)
            assert not result.is_error, result
            answers[name] = result.structured_content or {}

    async with anyio.create_task_group() as group:
        group.start_soon(ask, "a", a.url)
        group.start_soon(ask, "b", b.url)
    assert answers["a"]["task_id"] == answers["b"]["task_id"]
    assert sorted(answer["reused"] for answer in answers.values()) == [False, True]
    assert simulator.ledger()["requests"]["create"] == 1
