"""generate_batch as a native MCP task: created once the batch is queued, followed until every item has finished and
its videos are saved, read on either era; cancelling it stops the queue (what was created goes on and is saved)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import running_harness
from tests.mcp.task_client import create_task, follow, task_request
from tests.mcp.tasks.test_task_flow import creator, final_of, reader
from veo_mcp.simulator import Simulator, SimulatorConfig

VARIANTS = {"prompt": "a kite over dunes", "variants": {"seed": [1, 2, 3]}}


async def test_a_batch_task_ends_when_every_video_is_saved(tmp_path: Path, era: str) -> None:
    async with running_harness(tmp_path) as harness, creator(harness) as making, reader(harness) as reading:
        created = await create_task(making, VARIANTS, tool="generate_batch")
        state, result = await final_of(reading, created.task_id)
    structured = result["structuredContent"]
    assert (
        created.status == "working"
        and state["status"] == "completed"
        and "3 of 3 videos saved" in state["statusMessage"]
    )
    assert structured["mcp_task_id"] == created.task_id and structured["finished"]
    assert [item["status"] for item in structured["items"]] == ["completed"] * 3
    assert all(Path(item["files"][0]).is_file() for item in structured["items"])
    assert harness.ledger()["requests"]["create"] == 3


async def test_cancelling_a_batch_task_sends_nothing_more(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=1))  # the first render outlasts the test: the rest stay queued
    async with (
        running_harness(tmp_path, simulator=simulator, max_concurrent=1) as harness,
        creator(harness) as making,
    ):
        created = await create_task(making, VARIANTS, tool="generate_batch")
        await task_request(making, "tasks/cancel", {"taskId": created.task_id})
        state = await follow(making.session, created.task_id)
        batch_id = (await harness.app.parts.store.mcp_task(created.task_id)).generation_task_id  # type: ignore[union-attr]
        got = await making.call_tool("get_batch", {"batch_id": batch_id})
    items = (got.structured_content or {})["items"]
    assert state["status"] == "cancelled" and "will not be sent" in state["statusMessage"]
    assert [item["status"] for item in items[1:]] == ["cancelled", "cancelled"]
    assert harness.ledger()["requests"]["create"] == 1
