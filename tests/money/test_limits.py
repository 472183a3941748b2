"""The runaway-loop brakes (on by default) and the duplicate guard across processes, through real MCP sessions."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp.client import Client
from mcp_types import CallToolResult

from tests.helpers import current_era, disk_full, make_client, running_harness, service_settings, text_of
from veo_mcp.app import App
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig

CHEAP = {"prompt": "a paper plane", "duration": 8, "allow_duplicate": True}  # $0.96 with audio at 720p


def test_the_brakes_are_on_by_default() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.hourly_budget_usd == 10 and defaults.max_creates_per_minute == 10


async def test_a_runaway_loop_stops_at_the_hourly_budget(tmp_path: Path) -> None:
    async with running_harness(tmp_path, hourly_budget_usd=10) as harness, harness.client() as client:
        results = [await client.call_tool("generate_video", {**CHEAP, "prompt": f"plane {i}"}) for i in range(12)]
    refused = [r for r in results if r.is_error]
    assert len(results) - len(refused) == 10  # 10 × $0.96 = $9.60; the 11th would pass $10.00
    message = text_of(refused[0])
    assert "hourly budget of $10.00" in message and "$0.40" in message and "VEO_MCP_HOURLY_BUDGET" in message
    assert "0 turns it off" in message
    assert harness.ledger()["requests"]["create"] == 10


async def test_creates_per_minute_are_limited_and_zero_turns_it_off(tmp_path: Path) -> None:
    async with running_harness(tmp_path, max_creates_per_minute=3) as harness, harness.client() as client:
        results = [await client.call_tool("generate_video", {**CHEAP, "prompt": f"kite {i}"}) for i in range(5)]
    assert [r.is_error for r in results] == [False, False, False, True, True]
    assert "3 per minute" in text_of(results[3]) and "VEO_MCP_MAX_CREATES_PER_MINUTE" in text_of(results[3])
    assert harness.ledger()["requests"]["create"] == 3
    async with running_harness(tmp_path / "off", max_creates_per_minute=0) as harness, harness.client() as client:
        results = [await client.call_tool("generate_video", {**CHEAP, "prompt": f"kite {i}"}) for i in range(12)]
    assert not any(r.is_error for r in results)


@pytest.mark.parametrize("budget", ["hourly_budget_usd", "daily_budget_usd"])
async def test_the_budget_boundary_admits_exactly_the_remaining_amount(tmp_path: Path, budget: str) -> None:
    async with running_harness(tmp_path, **{budget: 1.92}) as harness, harness.client() as client:
        first = await client.call_tool("generate_video", {**CHEAP, "prompt": "one"})
        second = await client.call_tool("generate_video", {**CHEAP, "prompt": "two"})  # exactly what is left
        third = await client.call_tool("generate_video", {**CHEAP, "prompt": "three"})
    assert not first.is_error and not second.is_error and third.is_error
    assert harness.ledger()["requests"]["create"] == 2


@pytest.mark.parametrize("rounds", [12])
async def test_identical_requests_to_two_processes_at_once_create_one_task(tmp_path: Path, rounds: int) -> None:
    """Two servers on one data folder (two store connections) get the same request at the same instant."""
    simulator = Simulator(SimulatorConfig(speed=100))
    apps = [
        App(service_settings(tmp_path), client=make_client(simulator), simulated=True),
        App(service_settings(tmp_path), client=make_client(simulator), simulated=True),
    ]
    created: list[str] = []
    async with (
        apps[0].running(),
        apps[1].running(),
        Client(create_server(apps[0]), mode=current_era()) as one,
        Client(create_server(apps[1]), mode=current_era()) as two,
    ):
        for index in range(rounds):
            arguments = {"prompt": f"a lighthouse, take {index}"}

            async def call(client: Client, arguments: dict[str, object] = arguments) -> None:
                result = await client.call_tool("generate_video", arguments)
                assert not result.is_error, text_of(result)
                created.append((result.structured_content or {})["task_id"])

            async with anyio.create_task_group() as group:
                group.start_soon(call, one)
                group.start_soon(call, two)
    assert simulator.service.requests["create"] == rounds
    assert len(set(created)) == rounds  # both callers of a round got the same task


@pytest.mark.sqlite_only("SQLite's own 'disk is full', staged with max_page_count")
async def test_a_full_disk_after_the_create_still_returns_the_task_id(tmp_path: Path) -> None:
    """EvoLink accepted (and charges) the task, then the database cannot grow: the caller still gets the task id,
    and a retry with the same request_id answers with that task instead of hanging on a 'sending' record."""
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="delay", endpoint="create", seconds=3, after_accept=True))
    arguments = {"prompt": "a lighthouse in a storm, waves breaking " * 120, "request_id": "full-1"}  # ~4.7 KB
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:
        store = harness.app.parts.store
        results: list[CallToolResult] = []

        async def create() -> None:
            results.append(await client.call_tool("generate_video", arguments))

        async with anyio.create_task_group() as group:
            group.start_soon(create)
            with anyio.fail_after(10):  # the create is recorded and sent; its answer is held back by the fault
                while not simulator.service.tasks:  # noqa: ASYNC110 - the simulator has no event for this
                    await anyio.sleep(0.01)
            # SQLite's own "database or disk is full": from now on the database may not grow.
            await store._run(disk_full)
        again = await client.call_tool("generate_video", arguments)
    first = results[0]
    assert not first.is_error, text_of(first)
    task_id = (first.structured_content or {})["task_id"]
    assert "could not record it on disk" in text_of(first) and task_id in text_of(first)
    assert not again.is_error and (again.structured_content or {})["task_id"] == task_id
    assert (again.structured_content or {})["reused"] is True
    assert harness.ledger()["requests"]["create"] == 1


async def test_an_adopted_outcome_unknown_task_answers_its_request_id_from_then_on(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="drop_after_accept", endpoint="create"))
    arguments = {"prompt": "a fox in fresh snow", "request_id": "fox-1"}
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:
        dropped = await client.call_tool("generate_video", arguments)
        before = (await client.call_tool("list_generations", {})).structured_content or {}
        (charged,) = simulator.service.tasks  # the user finds it in the EvoLink dashboard
        adopted = await client.call_tool("get_generation", {"task_id": charged})
        retried = await client.call_tool("generate_video", arguments)
        after = (await client.call_tool("list_generations", {})).structured_content or {}
    assert dropped.is_error and "outcome unknown" in text_of(dropped)
    assert [u["request_id"] for u in before["unconfirmed"]] == ["fox-1"]
    state = adopted.structured_content or {}
    assert state["prompt"] == "a fox in fresh snow" and state["request_id"] == "fox-1"
    assert not retried.is_error and (retried.structured_content or {})["task_id"] == charged
    assert (retried.structured_content or {})["reused"] is True
    assert after["unconfirmed"] == []
    assert harness.ledger()["requests"]["create"] == 1
