"""What the assistant reads beside the results: a listing that also names the creates whose outcome is unknown (never
resent, with what to do), the log line a failed generation sends at warning level (2025 era), completions only for
the prompts and arguments that have them, and timestamps of MCP tasks in UTC's `Z` form."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import mcp_types as types
import pytest

from tests.helpers import finish, running_harness, text_of
from veo_mcp.mcp.tasks.wire import iso
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig

UNCONFIRMED_ADVICE = (
    "Check the EvoLink dashboard's task list; if it is there, get_generation with its id tracks it here. veo-mcp will "
    "not resend it."
)


async def test_the_listing_names_creates_whose_outcome_is_unknown_after_the_generations(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=100))
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a heron at dawn"})
        task_id = (created.structured_content or {})["task_id"]
        await finish(client, task_id)
        simulator.faults.add(Fault(kind="drop_after_accept", endpoint="create"))
        dropped = await client.call_tool("generate_video", {"prompt": "a lighthouse in a storm, long exposure look"})
        assert dropped.is_error
        listed = await client.call_tool("list_generations", {})
    data = listed.structured_content or {}
    [unconfirmed] = data["unconfirmed"]
    assert unconfirmed["prompt"] == "a lighthouse in a storm, long exposure look"
    assert unconfirmed["advice"] == UNCONFIRMED_ADVICE
    sent_at = unconfirmed["sent_at"]
    assert datetime.fromisoformat(sent_at).tzinfo is not None
    assert text_of(listed) == (
        f"1 generation(s)\n- {task_id}: completed 100% a heron at dawn\n"
        f"1 create(s) with unknown outcome (not resent): {sent_at} 'a lighthouse in a storm, long exposure l'"
    )


@pytest.mark.legacy_era  # 2026-07-28 has no connection-scoped logs
async def test_a_failed_generation_is_logged_as_a_warning_with_its_code_and_a_completed_one_as_info(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        harness.simulator.faults.add(Fault(kind="fail_task", error_code="content_policy_violation", fraction=0.3))
        failed = (await client.call_tool("generate_video", {"prompt": "x"})).structured_content or {}
        await finish(client, failed["task_id"])
        done = (await client.call_tool("generate_video", {"prompt": "y"})).structured_content or {}
        await finish(client, done["task_id"])
    levels = {str(log.data): log.level for log in harness.logs if log.logger == "veo-mcp"}
    assert levels[f"generation {failed['task_id']} is failed (content_policy_violation)"] == "warning"
    assert levels[f"generation {done['task_id']} is completed"] == "info"


async def test_only_the_prompts_arguments_that_have_choices_are_completed(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:

        async def values(prompt: str, argument: str, value: str) -> list[str]:
            reference = types.PromptReference(type="ref/prompt", name=prompt)
            return (await client.complete(reference, {"name": argument, "value": value})).completion.values

        assert await values("veo_prompt", "aspect_ratio", "9") == ["9:16"]
        assert await values("storyboard", "shots", "") == ["2", "3", "4", "5", "6"]
        assert await values("veo_prompt", "style", "DOC") == ["documentary"]
        assert await values("storyboards", "aspect_ratio", "9") == []  # no such prompt
        assert await values("veo_prompt", "idea", "a") == []  # free text: nothing to offer


def test_task_timestamps_are_utc_to_the_millisecond_with_a_z() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(datetime(2026, 12, 6, 12, 30, 5, 123456, tzinfo=UTC).timestamp()) == "2026-12-06T12:30:05.123Z"
