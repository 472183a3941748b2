"""Result links at the edges of their lives: our 24 h expiry is an estimate, so a link a little past it is still
tried and one well past it is not; a refusal is final once the link is past its expiry or has refused for long, and
a hiccup before that (retried)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from tests.helpers import Harness, finish, running_harness, text_of
from veo_mcp.background.downloads import EXPIRY_GRACE_S, LINK_FAILURE_GRACE_S
from veo_mcp.core.generation import Generation
from veo_mcp.evolink.catalog import RESULT_LINK_TTL_S
from veo_mcp.simulator import Fault

# How far from each edge the cases stand: far more than a test takes, far less than the edge's own size.
MARGIN_S = 300.0


async def _rendered(harness: Harness, client: Client, prompt: str) -> Generation:
    created = await client.call_tool("generate_video", {"prompt": prompt})
    task_id = (created.structured_content or {})["task_id"]
    await finish(client, task_id)
    return await harness.app.parts.registry.get(task_id)


async def _state(client: Client, task_id: str) -> dict[str, Any]:
    return (await client.call_tool("get_generation", {"task_id": task_id})).structured_content or {}


@pytest.mark.parametrize(
    ("past_expiry_s", "saved"),
    [(EXPIRY_GRACE_S - MARGIN_S, True), (EXPIRY_GRACE_S + MARGIN_S, False)],
    ids=["within-the-grace", "past-the-grace"],
)
async def test_a_link_past_its_estimated_expiry_is_tried_within_the_grace_and_never_after(
    tmp_path: Path, past_expiry_s: float, saved: bool
) -> None:
    async with running_harness(tmp_path, auto_download=False) as harness, harness.client() as client:
        generation = await _rendered(harness, client, "an old lantern")
        generation.completed_at = time.time() - RESULT_LINK_TTL_S - past_expiry_s
        downloaded = await client.call_tool("download_video", {"task_id": generation.task_id})
        state = await _state(client, generation.task_id)
    fetched = harness.ledger()["requests"]["download"]
    if saved:
        assert not downloaded.is_error, text_of(downloaded)
        assert state["download_status"] == "saved" and Path(state["files"][0]["path"]).is_file() and fetched == 1
    else:
        assert downloaded.is_error and "expired" in text_of(downloaded)
        assert state["download_status"] == "expired" and state["files"] == [] and fetched == 0


async def test_a_refusal_from_a_link_past_its_expiry_is_final_at_once(tmp_path: Path) -> None:
    async with running_harness(tmp_path, auto_download=False) as harness, harness.client() as client:
        generation = await _rendered(harness, client, "a lantern just past its day")
        generation.completed_at = time.time() - RESULT_LINK_TTL_S - MARGIN_S  # tried (within the grace) ...
        harness.simulator.faults.add(Fault(kind="status", endpoint="download", status=403))
        refused = await client.call_tool("download_video", {"task_id": generation.task_id})
        state = await _state(client, generation.task_id)
        again = await client.call_tool("download_video", {"task_id": generation.task_id})
    assert refused.is_error and "expired" in text_of(refused)  # ... and its refusal believed: it expired
    assert state["download_status"] == "expired" and "cannot be fetched" in state["advice"]
    assert again.is_error and "expired" in text_of(again) and harness.ledger()["requests"]["download"] == 1


@pytest.mark.parametrize(
    ("refusing_for_s", "final"),
    [(LINK_FAILURE_GRACE_S - MARGIN_S, False), (LINK_FAILURE_GRACE_S + MARGIN_S, True)],
    ids=["briefly", "for-long"],
)
async def test_a_young_link_that_keeps_refusing_is_retried_until_it_has_refused_for_long(
    tmp_path: Path, refusing_for_s: float, final: bool
) -> None:
    async with running_harness(tmp_path, auto_download=False) as harness, harness.client() as client:
        generation = await _rendered(harness, client, "a young lantern")
        generation.link_failing_since = time.time() - refusing_for_s  # refused since then, as far as we know
        harness.simulator.faults.add(Fault(kind="status", endpoint="download", status=404))
        refused = await client.call_tool("download_video", {"task_id": generation.task_id})
        state = await _state(client, generation.task_id)
    assert refused.is_error
    if final:
        assert state["download_status"] == "expired" and "expired" in text_of(refused)
    else:
        assert state["download_status"] == "failed" and "tried again" in text_of(refused)
        assert "404" in state["download_error"] and "download_video" in state["advice"]
