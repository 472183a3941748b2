"""generate_batch through real client sessions, on both protocol eras: variants, one confirmation, a queue under the
account's concurrency limit, every item checked first, budgets on the total, and the batch's progress tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client import Client

from tests.helpers import current_era, make_image, running_harness, text_of
from tests.mcp.test_questions import answering
from veo_mcp.simulator import Simulator, SimulatorConfig

# 2 aspect ratios × 3 durations, with sound at 720p: 36 s × $0.12 = $4.32, above the $2.00 threshold.
VARIANTS = {"prompt": "a fox in fresh snow", "variants": {"aspect_ratio": ["16:9", "9:16"], "duration": [4, 6, 8]}}


async def finish_batch(client: Client, batch_id: str, rounds: int = 20) -> dict[str, Any]:
    """wait_for_batch until every item has finished (at most `rounds` calls); the final state."""
    state: dict[str, Any] = {"finished": False}
    for _ in range(rounds):
        result = await client.call_tool("wait_for_batch", {"batch_id": batch_id, "timeout_seconds": 10})
        assert not result.is_error, text_of(result)
        state = result.structured_content or {}
        if state["finished"]:
            return state
    raise AssertionError(f"batch {batch_id} did not finish after {rounds} waits: {state}")


@pytest.mark.parametrize("max_concurrent", [2, 4], ids=["queue-at-the-limit", "queue-above-the-limit"])
async def test_a_variant_batch_under_a_concurrency_limit_of_two(tmp_path: Path, max_concurrent: int) -> None:
    """6 items, one confirmation, the account allows 2 at once: all 6 created and completed, none failed. Queued at
    the limit nothing is refused upstream; above it, EvoLink's 429s hold the queue instead of failing items."""
    asked: list[str] = []
    simulator = Simulator(SimulatorConfig(speed=250, max_active_tasks=2))
    async with (
        running_harness(tmp_path, simulator=simulator, max_concurrent=max_concurrent) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("accept", True, asked)) as client,
    ):
        queued = await client.call_tool("generate_batch", VARIANTS)
        assert not queued.is_error, text_of(queued)
        first = queued.structured_content or {}
        state = await finish_batch(client, first["batch_id"])
        listed = await client.call_tool("list_generations", {"batch_id": first["batch_id"]})
    assert len(asked) == 1 and "6 generations" in asked[0] and "$4.32" in asked[0]
    assert first["uri"] == f"veo://batches/{first['batch_id']}" and first["estimated_cost_usd"] == pytest.approx(4.32)
    assert [(i["index"], i["arguments"]["aspect_ratio"], i["duration"]) for i in first["items"]] == [
        (0, "16:9", 4),
        (1, "16:9", 6),
        (2, "16:9", 8),
        (3, "9:16", 4),
        (4, "9:16", 6),
        (5, "9:16", 8),
    ]
    assert [item["status"] for item in state["items"]] == ["completed"] * 6
    assert state["done"] == state["total"] == 6 and all(item["task_id"] for item in state["items"])
    ledger = harness.ledger()
    assert len(ledger["tasks"]) == 6 and {t["status"] for t in ledger["tasks"]} == {"completed"}
    refused_upstream = ledger["requests"]["create"] - 6
    assert refused_upstream == 0 if max_concurrent == 2 else refused_upstream > 0  # 429s happened, failed nothing
    assert {g["task_id"] for g in (listed.structured_content or {})["generations"]} == {
        item["task_id"] for item in state["items"]
    }


async def test_every_item_is_checked_before_anything_is_sent(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        bad_items = await client.call_tool(
            "generate_batch",
            {
                "items": [
                    {"prompt": "fine"},
                    {"prompt": "too long", "duration": 5},
                    {"prompt": "typo", "durration": 8},
                    {"prompt": "one per batch", "request_id": "x"},
                ]
            },
        )
        bad_variant = await client.call_tool(
            "generate_batch", {"prompt": "a kite", "variants": {"quality": ["720p", "8k"]}}
        )
        no_variants = await client.call_tool("generate_batch", {"prompt": "a kite"})
        identical = await client.call_tool("generate_batch", {"items": [{"prompt": "same"}, {"prompt": "same"}]})
        too_many = await client.call_tool("generate_batch", {"prompt": "x", "variants": {"seed": list(range(1, 52))}})
    text = text_of(bad_items)
    assert bad_items.is_error and "3 of 4 items" in text and "Nothing was sent" in text
    assert "items[1]" in text and "duration" in text and "5" in text
    assert "items[2]" in text and "'durration'" in text and "Did you mean 'duration'" in text
    assert "items[3]" in text and "request_id is set once for the whole batch" in text
    assert bad_variant.is_error and "items[1] (quality '8k')" in text_of(bad_variant)
    assert no_variants.is_error and "variants" in text_of(no_variants)
    assert identical.is_error and "items[0] and items[1] are the same request" in text_of(identical)
    assert too_many.is_error and "51 items" in text_of(too_many)
    assert harness.ledger()["requests"]["create"] == 0


@pytest.mark.parametrize("request_id", [None, "two-takes"], ids=["no-request-id", "request-id"])
async def test_identical_items_make_two_tasks_with_allow_duplicate_and_are_refused_without_it(
    tmp_path: Path, request_id: str | None
) -> None:
    """Two identical items: without allow_duplicate the second could only return the first one's video, so the batch
    is refused before anything is sent, saying how to pay for both; with it, each item is a generation of its own
    (neither the duplicate guard nor the items' request_ids answer the second with the first's task)."""
    items = [{"prompt": "the same take", "seed": 7}, {"prompt": "the same take", "seed": 7}]
    named = {"request_id": request_id} if request_id else {}
    async with running_harness(tmp_path) as harness, harness.client() as client:
        refused = await client.call_tool("generate_batch", {"items": items, **named})
        sent_when_refused = harness.ledger()["requests"]["create"]
        queued = await client.call_tool("generate_batch", {"items": items, "allow_duplicate": True, **named})
        assert not queued.is_error, text_of(queued)
        state = await finish_batch(client, (queued.structured_content or {})["batch_id"])
    text = text_of(refused)
    assert refused.is_error and "items[0] and items[1] are the same request" in text and "Nothing was sent" in text
    assert "allow_duplicate: true" in text and sent_when_refused == 0
    task_ids = [item["task_id"] for item in state["items"]]
    assert len(set(task_ids)) == 2 and [item["status"] for item in state["items"]] == ["completed"] * 2
    ledger = harness.ledger()
    assert ledger["requests"]["create"] == 2 and {task["id"] for task in ledger["tasks"]} == set(task_ids)


async def test_budgets_apply_to_the_batch_total_before_anything_is_sent(tmp_path: Path) -> None:
    async with (
        running_harness(tmp_path, hourly_budget_usd=4.0, max_cost_per_request_usd=0.9) as harness,
        harness.client() as client,
    ):
        over_hour = await client.call_tool(
            "generate_batch", {"prompt": "a kite", "variants": {"seed": [1, 2, 3, 4, 5, 6, 7, 8, 9]}}
        )
        over_item = await client.call_tool(
            "generate_batch", {"items": [{"prompt": "short"}, {"prompt": "long", "duration": 8}], "confirm_cost": True}
        )
    assert over_hour.is_error and "$4.32" in text_of(over_hour) and "VEO_MCP_HOURLY_BUDGET" in text_of(over_hour)
    assert over_item.is_error and "items[1]" in text_of(over_item) and "per-request limit" in text_of(over_item)
    assert harness.ledger()["requests"]["create"] == 0


async def test_without_a_way_to_ask_the_total_needs_confirm_cost_and_a_no_sends_nothing(tmp_path: Path) -> None:
    asked: list[str] = []
    async with running_harness(tmp_path) as harness:
        async with harness.client() as client:
            refused = await client.call_tool("generate_batch", VARIANTS)
            assert harness.ledger()["requests"]["create"] == 0
            confirmed = await client.call_tool("generate_batch", {**VARIANTS, "confirm_cost": True})
        declining = answering("decline", False, asked)
        async with Client(harness.server, mode=current_era(), elicitation_callback=declining) as client:
            declined = await client.call_tool("generate_batch", {**VARIANTS, "variants": {"seed": [7, 8, 9, 10, 11]}})
    assert refused.is_error and "generate_batch again" in text_of(refused) and "confirm_cost: true" in text_of(refused)
    assert not confirmed.is_error, text_of(confirmed)
    assert declined.is_error and "did not confirm" in text_of(declined) and len(asked) == 1


async def test_a_retried_batch_pays_nothing_twice(tmp_path: Path) -> None:
    request = {"items": [{"prompt": "take one", "seed": 1}, {"prompt": "take two", "seed": 2}], "request_id": "r-1"}
    async with running_harness(tmp_path) as harness, harness.client() as client:
        first = (await client.call_tool("generate_batch", request)).structured_content or {}
        await finish_batch(client, first["batch_id"])
        again = (await client.call_tool("generate_batch", request)).structured_content or {}
        read = await client.read_resource(first["uri"])
        got = (await client.call_tool("get_batch", {"batch_id": first["batch_id"]})).structured_content or {}
    assert again["reused"] and again["batch_id"] == first["batch_id"]
    assert [i["task_id"] for i in again["items"]] == [i["task_id"] for i in got["items"]]
    assert harness.ledger()["requests"]["create"] == 2
    resource = read.contents[0]
    assert isinstance(resource, types.TextResourceContents) and '"finished": true' in resource.text
    assert got["finished"] and "combine_videos" in got["next_step"]


async def test_the_batch_resource_tells_subscribers_as_items_change(tmp_path: Path) -> None:
    request = {"items": [{"prompt": "heard one"}, {"prompt": "heard two"}]}
    async with running_harness(tmp_path) as harness, harness.client() as client:
        first = (await client.call_tool("generate_batch", request)).structured_content or {}
        uri, batch_id = first["uri"], first["batch_id"]
        if current_era() == "legacy":
            await client.subscribe_resource(uri)
            await finish_batch(client, batch_id)
            heard = [n.params.uri for n in harness.notifications if isinstance(n, types.ResourceUpdatedNotification)]
        else:  # 2026-07-28: subscriptions/listen
            heard = []
            with anyio.fail_after(20):
                async with client.listen(resource_subscriptions=[uri]) as stream:
                    async for event in stream:
                        heard.append(getattr(event, "uri", ""))
                        state = await client.call_tool("get_batch", {"batch_id": batch_id})
                        if (state.structured_content or {})["finished"]:
                            break
    assert heard.count(uri) >= 2  # items being created, rendering, finishing


async def test_the_create_rate_brake_holds_the_queue_and_says_so(tmp_path: Path) -> None:
    async with (
        running_harness(tmp_path, max_creates_per_minute=2) as harness,
        harness.client() as client,
    ):
        queued = await client.call_tool("generate_batch", {"prompt": "a kite", "variants": {"seed": [1, 2, 3]}})
        first = queued.structured_content or {}
        waiting: dict[str, Any] = {"queue": None}
        with anyio.fail_after(10):
            while "VEO_MCP_MAX_CREATES_PER_MINUTE" not in (waiting["queue"] or ""):
                await anyio.sleep(0.02)
                waiting = (
                    await client.call_tool("get_batch", {"batch_id": first["batch_id"]})
                ).structured_content or {}
    assert "allows 2 new generations per minute" in " ".join(first["notes"])
    statuses = [item["status"] for item in waiting["items"]]
    assert statuses.count("queued") == 1 and "refused" not in statuses
    assert harness.ledger()["requests"]["create"] == 2


async def test_items_with_local_images_are_uploaded_once_and_named_when_refused(tmp_path: Path) -> None:
    frame = make_image(tmp_path / "pictures" / "frame.png", (30, 160, 90))
    outside = make_image(tmp_path / "elsewhere" / "other.png", (160, 30, 90))
    shots = [{"prompt": f"from the frame, take {n}", "image_files": [str(frame)]} for n in (1, 2)]
    async with (
        running_harness(tmp_path, image_dirs=[tmp_path / "pictures"]) as harness,
        harness.client() as client,
    ):
        refused = await client.call_tool(
            "generate_batch", {"items": [*shots, {"prompt": "x", "image_files": [str(outside)]}]}
        )
        assert harness.ledger()["requests"]["upload"] == 0
        queued = await client.call_tool("generate_batch", {"items": shots})
        state = await finish_batch(client, (queued.structured_content or {})["batch_id"])
    assert refused.is_error and "items[2]" in text_of(refused) and "1 of 3 items" in text_of(refused)
    assert [item["status"] for item in state["items"]] == ["completed", "completed"]
    assert harness.ledger()["requests"]["upload"] == 1  # one content, uploaded once, after the checks
    assert all(task["prompt"].startswith("from the frame") for task in harness.ledger()["tasks"])


async def test_items_are_read_by_the_same_rule_as_generate_video(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        queued = await client.call_tool(
            "generate_batch",
            {"items": [{"prompt": "a", "duration": "8", "quality": "720P"}, {"prompt": "b", "n": "two"}]},
        )
        fixed = await client.call_tool(
            "generate_batch", {"items": [{"prompt": "a", "duration": "8", "quality": "720P"}, {"prompt": "b"}]}
        )
    assert queued.is_error and "items[1]: n" in text_of(queued) and "1 of 2 items" in text_of(queued)
    result = fixed.structured_content or {}
    assert not fixed.is_error and result["items"][0]["duration"] == 8
    assert 'items[0]: duration: "8" was read as 8.' in result["notes"]
    assert any(note.startswith("items[0]: quality") for note in result["notes"])
