"""A render that stops progressing is called stalled: the wait ends, the ETA stops pretending, and next_step tells the
model to tell the user (it may still finish; how to check later)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import mcp_types as types
import pytest

from tests.helpers import running_harness, text_of
from veo_mcp.core.generation import STALL_MIN_S, STALL_WITHOUT_ESTIMATE_S, Generation, stall_threshold
from veo_mcp.settings import load_settings
from veo_mcp.simulator import Fault


async def test_a_stuck_render_is_reported_stalled_not_almost_done(tmp_path: Path) -> None:
    async with running_harness(tmp_path, stall_after_s=0.5) as harness:
        harness.simulator.faults.add(Fault(kind="stall", fraction=0.4))
        async with harness.client() as client:
            started = time.monotonic()
            created = await client.call_tool("generate_video", {"prompt": "a glacier that never finishes"})
            task_id = (created.structured_content or {})["task_id"]
            with anyio.fail_after(30):  # the stall (after 0.5 s) ends the wait, not its timeout of 45 s
                waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 45})
            took = time.monotonic() - started
            again = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 1})
            got = await client.call_tool("get_generation", {"task_id": task_id})
            listed = await client.call_tool("list_generations", {})
            resource = await client.read_resource(f"veo://generations/{task_id}")
    state = waited.structured_content or {}
    assert state["stalled"] is True and state["finished"] is False and state["progress"] == 40
    assert state["timed_out"] is False  # the stall ended the wait, long before its timeout
    assert state["eta_seconds"] is None and 0 <= state["elapsed_seconds"] <= round(took) + 1  # still counting
    next_step = state["next_step"]
    assert "Tell the user" in next_step and "may still finish" in next_step
    assert f"get_generation (task_id '{task_id}')" in next_step and "instead of waiting now" in next_step
    text = text_of(waited)
    assert "stalled" in text and "s left" not in text and "call wait_for_generation" not in text, text
    assert (again.structured_content or {})["stalled"] is True  # already stalled: waited the full second, no change
    assert (got.structured_content or {})["stalled"] is True and "Tell the user" in text_of(got)
    assert (listed.structured_content or {})["generations"][0]["stalled"] is True
    contents = resource.contents[0]
    assert isinstance(contents, types.TextResourceContents) and json.loads(contents.text)["stalled"] is True
    assert harness.ledger()["tasks"][0]["status"] == "processing"


async def test_a_moving_render_is_never_stalled(tmp_path: Path) -> None:
    async with running_harness(tmp_path, stall_after_s=30) as harness, harness.client() as client:
        created = await client.call_tool("generate_video", {"prompt": "a kite"})
        task_id = (created.structured_content or {})["task_id"]
        waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 30})
    state = waited.structured_content or {}
    assert state["finished"] is True and state["stalled"] is False


def test_elapsed_time_counts_until_the_end_and_never_below_zero() -> None:
    generation = Generation(task_id="t", model="m", prompt="p", request={}, simulated=True, created_at=1000.0)
    assert generation.elapsed_seconds(now=1065.4) == 65  # running: until now
    assert generation.elapsed_seconds(now=999.0) == 0  # a clock that stepped back: never negative
    generation.status, generation.completed_at = "completed", 1030.0
    assert generation.elapsed_seconds(now=5000.0) == 30  # finished: until it finished, whenever asked
    generation.completed_at = None
    assert generation.elapsed_seconds(now=1012.0) == 12  # finished but the end unknown: until now


def test_the_stall_threshold_follows_the_estimate_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert stall_threshold(30, None) == STALL_MIN_S  # a quick render still gets two minutes
    assert stall_threshold(150, None) == 300  # twice the estimate
    assert stall_threshold(None, None) == STALL_WITHOUT_ESTIMATE_S
    assert stall_threshold(150, 45) == 45
    monkeypatch.setenv("VEO_MCP_STALL_AFTER", "90")
    assert load_settings().stall_after_s == 90
