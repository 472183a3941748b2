"""A task-augmented generate_video goes through everything a plain call goes through before anything exists: the
cost question (asked once; a decline creates no task and no generation), budgets, request_id and the duplicate
guard. 2026-07-28 clients here (the SDK's); the 2025-era decline is in the TypeScript client's test."""

from __future__ import annotations

from pathlib import Path

from mcp.client import Client

from tests.helpers import running_harness, text_of
from tests.mcp.task_client import TaskExtension, create_task
from tests.mcp.test_questions import COSTLY, answering


async def _task_count(harness: object) -> int:
    return (await harness.app.parts.store.mcp_tasks(0, 100))[1]  # type: ignore[attr-defined]


async def test_a_costly_task_asks_once_and_a_decline_creates_nothing(tmp_path: Path) -> None:
    asked: list[str] = []
    tasks = TaskExtension()
    async with (
        running_harness(tmp_path) as harness,
        Client(
            harness.server, mode="auto", extensions=[tasks], elicitation_callback=answering("decline", False, asked)
        ) as client,
    ):
        declined = await client.call_tool("generate_video", COSTLY)
        created_tasks = await _task_count(harness)
    assert declined.is_error and "did not confirm" in text_of(declined)
    assert len(asked) == 1 and "$4.49" in asked[0]
    assert tasks.created == [] and created_tasks == 0
    assert harness.ledger()["requests"]["create"] == 0


async def test_a_costly_task_the_user_accepts_is_created_after_one_question(tmp_path: Path) -> None:
    asked: list[str] = []
    tasks = TaskExtension()
    async with (
        running_harness(tmp_path) as harness,
        Client(
            harness.server, mode="auto", extensions=[tasks], elicitation_callback=answering("accept", True, asked)
        ) as client,
    ):
        result = await client.call_tool("generate_video", COSTLY)
    assert not result.is_error, text_of(result)
    assert len(asked) == 1 and len(tasks.created) == 1
    assert len((result.structured_content or {})["files"]) == 2  # n=2: both videos saved
    assert harness.ledger()["requests"]["create"] == 1


async def test_request_id_and_the_duplicate_guard_never_pay_twice_through_tasks(tmp_path: Path) -> None:
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode="auto", extensions=[TaskExtension()]) as client,
    ):
        first = await create_task(client, {"prompt": "a windmill", "request_id": "windmill-1"})
        retried = await create_task(client, {"prompt": "a windmill", "request_id": "windmill-1"})
        again = await create_task(client, {"prompt": "a harbour"})
        duplicate = await create_task(client, {"prompt": "a harbour"})
        records = {r.task_id: r for r in (await harness.app.parts.store.mcp_tasks(0, 10))[0]}
    assert len({first.task_id, retried.task_id, again.task_id, duplicate.task_id}) == 4
    by_request = records[retried.task_id].call_result
    assert records[first.task_id].generation_task_id == records[retried.task_id].generation_task_id
    assert by_request["reused"] and "request_id" in by_request["reused_reason"]
    assert records[again.task_id].generation_task_id == records[duplicate.task_id].generation_task_id
    assert records[duplicate.task_id].call_result["reused"]
    assert harness.ledger()["requests"]["create"] == 2


async def test_budgets_refuse_before_any_task_exists(tmp_path: Path) -> None:
    tasks = TaskExtension()
    async with (
        running_harness(tmp_path, max_cost_per_request_usd=0.5) as harness,
        Client(harness.server, mode="auto", extensions=[tasks]) as client,
    ):
        refused = await client.call_tool("generate_video", {**COSTLY, "confirm_cost": True})
        created_tasks = await _task_count(harness)
    assert refused.is_error and "0.5" in text_of(refused)
    assert tasks.created == [] and created_tasks == 0
    assert harness.ledger()["requests"]["create"] == 0
