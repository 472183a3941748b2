"""Money guards through the MCP surface: limits, confirmation, idempotent request ids, duplicates, unknown outcomes.

Every test reads the simulator's ledger: what matters is how many creates reached (and were charged by) upstream.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.context import ClientRequestContext

from tests.helpers import current_era, finish, make_client, running_harness, service_settings, text_of
from veo_mcp.app import App
from veo_mcp.mcp.server import create_server
from veo_mcp.money import guards
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig

EIGHT_S_1080P = {"prompt": "a lighthouse in fog", "duration": 8, "quality": "1080p"}  # $0.96
EIGHT_S_4K = {"prompt": "a lighthouse in fog", "duration": 8, "quality": "4k"}  # $2.2464


def creates(simulator: Simulator) -> int:
    return simulator.service.requests["create"]


async def test_cheap_request_goes_through_and_expensive_one_asks_for_confirmation(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        cheap = await client.call_tool("generate_video", EIGHT_S_1080P)
        assert not cheap.is_error, text_of(cheap)
        expensive = await client.call_tool("generate_video", EIGHT_S_4K)
        assert expensive.is_error
        message = text_of(expensive)
        assert "$2.25 (162 credits)" in message and "$2.00" in message and "confirm_cost" in message
        assert "Nothing was sent" in message
        assert creates(harness.simulator) == 1
        confirmed = await client.call_tool("generate_video", {**EIGHT_S_4K, "confirm_cost": True})
        assert not confirmed.is_error, text_of(confirmed)
        assert (confirmed.structured_content or {})["estimated_cost_usd"] == pytest.approx(2.2464)
        assert creates(harness.simulator) == 2


@pytest.mark.parametrize(("accept", "sent"), [(True, 1), (False, 0)])
async def test_elicitation_asks_the_user_when_the_client_can(tmp_path: Path, accept: bool, sent: int) -> None:
    asked: list[str] = []

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": accept})

    async with running_harness(tmp_path) as harness, harness.client(elicitation_callback=answer) as client:
        result = await client.call_tool("generate_video", EIGHT_S_4K)
        assert result.is_error is not accept, text_of(result)
        assert len(asked) == 1 and "$2.25 (162 credits)" in asked[0] and "$2.00" in asked[0]
        if not accept:
            assert "did not confirm" in text_of(result) and "nothing was sent" in text_of(result)
        assert creates(harness.simulator) == sent


async def test_declined_elicitation_sends_nothing(tmp_path: Path) -> None:
    async def decline(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with running_harness(tmp_path) as harness, harness.client(elicitation_callback=decline) as client:
        result = await client.call_tool("generate_video", EIGHT_S_4K)
    assert result.is_error and "did not confirm" in text_of(result)
    assert creates(harness.simulator) == 0


@pytest.mark.parametrize(("model", "charged"), [("veo3.1-pro", 0.96), ("veo3.1-fast", 0.48)])
async def test_an_unpublished_price_is_estimated_at_its_ceiling_and_budgets_count_what_evolink_reserved(
    tmp_path: Path, model: str, charged: float
) -> None:
    """Issue 22: with the default hourly budget every request for these models used to be refused. Their cost is now
    estimated with a stated ceiling ($0.60/s: 4 s = $2.40, above the $2.00 threshold, so it is asked about), and
    once EvoLink has answered, the budgets count what it reserved (usage.credits_reserved), not the ceiling."""
    request = {"prompt": "a lighthouse", "model": model}
    async with running_harness(tmp_path, hourly_budget_usd=10.0) as harness, harness.client() as client:
        estimate = await client.call_tool("estimate_cost", request)
        asked = await client.call_tool("generate_video", request)
        made = await client.call_tool("generate_video", {**request, "confirm_cost": True})
        spending = await harness.app.parts.store.spending(guards.windows_at(time.time()))
    estimated = estimate.structured_content or {}
    assert (estimated["usd"], estimated["known"]) == (2.4, False)
    assert estimated["summary"].startswith("at most $2.40 (173 credits): 1 × 4 s at 720p with audio; EvoLink ")
    assert f"publishes no price for {model}" in estimated["summary"] and "$0.60/s" in estimated["summary"]
    assert asked.is_error and "costs at most $2.40" in text_of(asked) and "confirm_cost" in text_of(asked)
    assert not made.is_error, text_of(made)
    assert creates(harness.simulator) == 1
    assert spending.last_hour_usd == pytest.approx(charged)  # what EvoLink reserved, not the $2.40 ceiling


async def test_per_request_limit_names_both_numbers(tmp_path: Path) -> None:
    async with running_harness(tmp_path, max_cost_per_request_usd=0.5) as harness, harness.client() as client:
        over = await client.call_tool("generate_video", EIGHT_S_1080P)
        under = await client.call_tool("generate_video", {"prompt": "short", "duration": 4})  # $0.48
        confirmed_over = await client.call_tool("generate_video", {**EIGHT_S_4K, "confirm_cost": True})
    assert over.is_error and "$0.96" in text_of(over) and "$0.50" in text_of(over)
    assert "VEO_MCP_MAX_COST_PER_REQUEST" in text_of(over)
    assert confirmed_over.is_error and "$0.50" in text_of(confirmed_over)
    assert not under.is_error
    assert creates(harness.simulator) == 1


async def test_daily_budget_counts_todays_commitments(tmp_path: Path) -> None:
    async with running_harness(tmp_path, daily_budget_usd=2.0) as harness, harness.client() as client:
        first = await client.call_tool("generate_video", {**EIGHT_S_1080P, "prompt": "one"})
        second = await client.call_tool("generate_video", {**EIGHT_S_1080P, "prompt": "two"})
        third = await client.call_tool("generate_video", {**EIGHT_S_1080P, "prompt": "three"})
    assert not first.is_error and not second.is_error
    message = text_of(third)
    assert third.is_error and "$0.96" in message and "$1.92" in message and "$2.00" in message
    assert creates(harness.simulator) == 2


async def test_failed_generations_do_not_count_against_the_budget(tmp_path: Path) -> None:
    async with running_harness(tmp_path, daily_budget_usd=1.0) as harness, harness.client() as client:
        harness.simulator.faults.add(Fault(kind="fail_task", error_code="service_error", fraction=0.2))
        failed = await client.call_tool("generate_video", EIGHT_S_1080P)
        state = await finish(client, (failed.structured_content or {})["task_id"])
        assert state["status"] == "failed"
        again = await client.call_tool("generate_video", EIGHT_S_1080P)
    assert not again.is_error, text_of(again)
    assert (again.structured_content or {})["reused"] is False  # a failed duplicate does not block a new try
    assert creates(harness.simulator) == 2


async def test_request_id_makes_a_retry_free(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        arguments = {"prompt": "a red kite", "request_id": "kite-1"}
        first = await client.call_tool("generate_video", arguments)
        retry = await client.call_tool("generate_video", arguments)
        other_args_same_id = await client.call_tool("generate_video", {"prompt": "changed", "request_id": "kite-1"})
    first_data, retry_data = first.structured_content or {}, retry.structured_content or {}
    assert first_data["reused"] is False and retry_data["reused"] is True
    assert retry_data["task_id"] == first_data["task_id"] == (other_args_same_id.structured_content or {})["task_id"]
    assert "Same request_id" in text_of(retry)
    assert creates(harness.simulator) == 1


async def test_concurrent_calls_with_one_request_id_create_once(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="delay", endpoint="create", seconds=0.3, after_accept=True))
    task_ids: list[str] = []
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:

        async def call() -> None:
            result = await client.call_tool("generate_video", {"prompt": "race", "request_id": "r-1"})
            assert not result.is_error, text_of(result)
            task_ids.append((result.structured_content or {})["task_id"])

        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(call)
    assert len(task_ids) == 6 and len(set(task_ids)) == 1
    assert creates(simulator) == 1


async def test_concurrent_identical_calls_without_a_request_id_create_once(tmp_path: Path) -> None:
    """Four identical calls at once in one server: the duplicate guard (checked again inside the create's write
    transaction) lets exactly one through; the others get its task."""
    task_ids: list[str] = []
    async with running_harness(tmp_path) as harness, harness.client() as client:

        async def call() -> None:
            result = await client.call_tool("generate_video", {"prompt": "four at once", "duration": 6})
            assert not result.is_error, text_of(result)
            task_ids.append((result.structured_content or {})["task_id"])

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(call)
    assert len(task_ids) == 4 and len(set(task_ids)) == 1
    assert creates(harness.simulator) == 1


async def test_request_id_survives_a_restart(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    arguments = {"prompt": "before the restart", "request_id": "restart-1"}
    results = []
    for _ in range(2):
        service = App(service_settings(tmp_path), client=make_client(simulator), simulated=True)
        async with service.running(), Client(create_server(service), mode=current_era()) as client:
            results.append(await client.call_tool("generate_video", arguments))
    first, second = (result.structured_content or {} for result in results)
    assert second["task_id"] == first["task_id"] and second["reused"] is True
    assert creates(simulator) == 1


async def test_identical_request_returns_the_earlier_generation_unless_asked(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        first = await client.call_tool("generate_video", {"prompt": "same", "duration": 6})
        again = await client.call_tool("generate_video", {"prompt": "same", "duration": 6})
        different = await client.call_tool("generate_video", {"prompt": "same", "duration": 8})
        forced = await client.call_tool("generate_video", {"prompt": "same", "duration": 6, "allow_duplicate": True})
    ids = [(r.structured_content or {})["task_id"] for r in (first, again, different, forced)]
    assert ids[0] == ids[1] and len({ids[0], ids[2], ids[3]}) == 3
    assert (again.structured_content or {})["reused"] is True and "allow_duplicate" in text_of(again)
    assert creates(harness.simulator) == 3


async def test_an_identical_repeat_is_answered_before_any_question_or_limit(tmp_path: Path) -> None:
    """The repeat costs nothing, so it is neither refused by a budget it would pass nor asked about again."""
    asked: list[str] = []

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with (
        running_harness(tmp_path, daily_budget_usd=3.0) as harness,
        harness.client(elicitation_callback=answer) as client,
    ):
        first = await client.call_tool("generate_video", EIGHT_S_4K)  # $2.2464 of the $3.00: asked once
        again = await client.call_tool("generate_video", EIGHT_S_4K)  # another $2.2464 would pass the budget
    assert not first.is_error and not again.is_error, text_of(again)
    assert (again.structured_content or {})["reused"] is True
    assert (again.structured_content or {})["task_id"] == (first.structured_content or {})["task_id"]
    assert len(asked) == 1
    assert creates(harness.simulator) == 1


async def test_an_identical_request_is_reused_inside_the_window_and_made_anew_after_it(tmp_path: Path) -> None:
    """Both sides of the duplicate window, with no clock race: the earlier create is aged in the store."""
    async with running_harness(tmp_path, duplicate_window_s=60) as harness, harness.client() as client:
        first = await client.call_tool("generate_video", {"prompt": "later again"})
        inside = await client.call_tool("generate_video", {"prompt": "later again"})
        await harness.app.parts.store._write("UPDATE creates SET created_at = created_at - 61", ())
        after = await client.call_tool("generate_video", {"prompt": "later again"})
    first_id = (first.structured_content or {})["task_id"]
    assert (inside.structured_content or {})["reused"] is True and (inside.structured_content or {})[
        "task_id"
    ] == first_id
    assert (after.structured_content or {})["reused"] is False and (after.structured_content or {})[
        "task_id"
    ] != first_id
    assert creates(harness.simulator) == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="drop_after_accept", endpoint="create"),
        Fault(kind="status", endpoint="create", status=502),
        Fault(kind="malformed_json", endpoint="create"),
    ],
    ids=["dropped", "502", "malformed"],
)
async def test_outcome_unknown_is_recorded_shown_and_never_resent(tmp_path: Path, fault: Fault) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(fault)
    arguments: dict[str, Any] = {"prompt": "ambiguous", "request_id": "amb-1"}
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:
        first = await client.call_tool("generate_video", arguments)
        retry = await client.call_tool("generate_video", arguments)
        same_args_new_id = await client.call_tool("generate_video", {"prompt": "ambiguous", "request_id": "amb-2"})
        listed = (await client.call_tool("list_generations", {})).structured_content or {}
    assert first.is_error and "outcome unknown" in text_of(first) and "dashboard" in text_of(first)
    assert retry.is_error and "not sent again" in text_of(retry) and "new request_id" in text_of(retry)
    # An identical request without the same id meets the duplicate guard: also not resent.
    assert same_args_new_id.is_error and "allow_duplicate" in text_of(same_args_new_id)
    assert [u["request_id"] for u in listed["unconfirmed"]] == ["amb-1"]
    assert listed["unconfirmed"][0]["state"] == "outcome_unknown"
    assert creates(simulator) == 1
