"""What a batch's owner sees, to the letter: its id, label and creation time, each item's state once created, the
refusals (with their advice), the reuse of an earlier batch, waiting with a short timeout, local images of the items,
and why a queue waits (the account's holds, a learned concurrency limit, another replica running it) and what the
log says about each hold."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import mcp_types as types
import pytest
from mcp.client import Client

from tests.helpers import call_ok, make_client, make_image, no_dns, running_harness, service_settings, text_of
from veo_mcp.app import App
from veo_mcp.context import LOCAL_PRINCIPAL, acting_as
from veo_mcp.core.batches import Batch, BatchError, BatchState, PreparedItem, item_arguments, item_request
from veo_mcp.evolink import parse_video_request
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig
from veo_mcp.storage import BatchItemRecord, BatchRecord, DatabaseWriteError

T = TypeVar("T")
OTHER_REPLICA = "another-machine|4242|token"  # a replica on another machine that never wrote a heartbeat

BOTH_ERAS = pytest.mark.usefixtures("era")


def _prepared(*prompts: str) -> list[PreparedItem]:
    return [
        PreparedItem(n, {"prompt": prompt}, item_request({"prompt": prompt}, f"items[{n}]"))
        for n, prompt in enumerate(prompts)
    ]


async def _submit(app: App, who: str, *prompts: str) -> Batch:
    with acting_as(who):
        submitted = await app.parts.batches.submit(
            _prepared(*prompts), request_id=None, allow_duplicate=False, consent="given", confirm_cost=False
        )
    return submitted.batch


async def _state(app: App, who: str, batch: Batch) -> BatchState:
    with acting_as(who):
        return await app.parts.batches.state(batch)


async def _resource(client: Client, uri: str) -> dict[str, Any]:
    """The batch's resource: its whole public state (BatchState as JSON)."""
    read = await client.read_resource(uri)
    resource = read.contents[0]
    assert isinstance(resource, types.TextResourceContents)
    shown: dict[str, Any] = json.loads(resource.text)
    return shown


async def _until(probe: Callable[[], Awaitable[T | None]], timeout_s: float = 20.0) -> T:
    """`probe()` again until it answers (bounded): the queue has no event for the states these tests wait on."""
    with anyio.fail_after(timeout_s):
        while not (found := await probe()):  # noqa: ASYNC110 - no event for a queue's note or an item's create
            await anyio.sleep(0.01)
    return found


# --- what generate_batch and get_batch answer ------------------------------------------------------------------


@BOTH_ERAS
async def test_a_batch_shows_its_id_label_and_creation_time_exactly(tmp_path: Path) -> None:
    """A batch is named "batch-" and 20 hex digits, the same again for the same request_id and items; the label is
    the first prompt and how many more items follow; created_at is the UTC time it was stored."""
    items = [{"prompt": "take one", "seed": 1}, {"prompt": "take two", "seed": 2}, {"prompt": "take three", "seed": 3}]
    async with running_harness(tmp_path) as harness, harness.client() as client:
        named = await call_ok(client, "generate_batch", items=items, request_id="r-1")
        again = await call_ok(client, "generate_batch", items=items, request_id="r-1")
        other = await call_ok(client, "generate_batch", items=items[:1], request_id="r-2")
        stored = await harness.app.parts.store.batch(named["batch_id"], LOCAL_PRINCIPAL)
        shown = await _resource(client, named["uri"])
    assert stored is not None
    record = stored[0]
    assert re.fullmatch(r"batch-[0-9a-f]{20}", named["batch_id"]), named["batch_id"]
    assert again["batch_id"] == named["batch_id"] != other["batch_id"]
    # Pinned on purpose: the local user's ids are what they always were, so a request_id sent before an upgrade
    # still finds its batch after it.
    assert named["batch_id"] == "batch-" + hashlib.sha256(f"r-1\n{record.fingerprint}".encode()).hexdigest()[:20]
    assert shown["label"] == record.label == "take one (+2 more)"
    assert shown["created_at"] == datetime.fromtimestamp(record.created_at, tz=UTC).isoformat(timespec="seconds")
    assert shown["created_at"].endswith("+00:00")


async def test_one_request_id_names_a_different_batch_for_each_principal(tmp_path: Path) -> None:
    """Ids are scoped to whoever submits: two users who pick the same request_id never meet in one batch."""
    app = App(
        service_settings(tmp_path),
        client=make_client(Simulator(SimulatorConfig(speed=100))),
        simulated=True,
        resolver=no_dns,
    )
    ids = []
    async with app.running():
        for principal in ("alice", "bob"):
            with acting_as(principal):
                submitted = await app.parts.batches.submit(
                    _prepared("the same take"),
                    request_id="r-1",
                    allow_duplicate=False,
                    consent="given",
                    confirm_cost=False,
                )
            ids.append(submitted.batch.record.batch_id)
    assert all(re.fullmatch(r"batch-[0-9a-f]{20}", batch_id) for batch_id in ids) and ids[0] != ids[1]


@BOTH_ERAS
async def test_a_created_item_shows_its_generation(tmp_path: Path) -> None:
    """Once created, an item shows its generation's resource and status (not the queue's word "created"), and that
    nothing earlier answered it."""
    simulator = Simulator(SimulatorConfig(speed=0.01))  # stays pending for minutes: the test reads it first
    async with running_harness(tmp_path, simulator=simulator) as harness, harness.client() as client:
        uri = (await call_ok(client, "generate_batch", items=[{"prompt": "a heron"}]))["uri"]

        async def created() -> dict[str, Any] | None:
            state = await _resource(client, uri)
            return state if state["items"][0]["task_id"] else None

        state = await _until(created)
    item = state["items"][0]
    assert item == {
        "index": 0,
        "arguments": {"prompt": "a heron"},
        "status": "pending",
        "finished": False,
        "task_id": item["task_id"],
        "uri": f"veo://generations/{item['task_id']}",
        "duration": 4,
        "estimated_cost_usd": 0.48,
        "progress": 0,
        "files": [],
        "download_status": "none",
        "reused": False,
        "message": None,
    }
    assert [task["id"] for task in harness.ledger()["tasks"]] == [item["task_id"]]


@BOTH_ERAS
async def test_an_item_answered_by_an_earlier_generation_says_so(tmp_path: Path) -> None:
    """An item the duplicate guard answers with an earlier generation is marked reused (nothing new charged); the
    other is not."""
    async with running_harness(tmp_path) as harness, harness.client() as client:
        earlier = await call_ok(client, "generate_video", prompt="a heron at dawn", seed=4)
        batch = await call_ok(
            client, "generate_batch", items=[{"prompt": "a heron at dawn", "seed": 4}, {"prompt": "a heron at dusk"}]
        )

        async def created() -> dict[str, Any] | None:
            state = await _resource(client, batch["uri"])
            return state if all(item["task_id"] for item in state["items"]) else None

        state = await _until(created)
    assert [item["reused"] for item in state["items"]] == [True, False]
    assert state["items"][0]["task_id"] == earlier["task_id"]


# --- refusals --------------------------------------------------------------------------------------------------


def test_a_batch_of_no_items_is_refused_in_these_words() -> None:
    """An empty list of items (the core API; the tool's schema already asks for at least one)."""
    with pytest.raises(BatchError) as raised:
        item_arguments(items=[], prompt=None, variants=None, defaults={})
    assert str(raised.value) == (
        "The batch has no items. Nothing was sent or charged: correct that and call generate_batch again."
    )


@BOTH_ERAS
async def test_refusals_name_the_variant_and_keep_the_items_advice(tmp_path: Path) -> None:
    """A misspelt variant is named as one; an item over a money limit is named, with that limit's own advice."""
    async with (
        running_harness(tmp_path, max_cost_per_request_usd=0.9) as harness,
        harness.client() as client,
    ):
        typo = await client.call_tool("generate_batch", {"prompt": "a kite", "variants": {"durration": [4, 8]}})
        over_item = await client.call_tool(
            "generate_batch", {"items": [{"prompt": "short"}, {"prompt": "long", "duration": 8}], "confirm_cost": True}
        )
    assert typo.is_error and text_of(typo) == (
        "variants: 'durration' is not a generate_video argument. Did you mean 'duration'? Nothing was sent or "
        "charged: correct that and call generate_batch again."
    )
    assert over_item.is_error and text_of(over_item) == (
        "items[1]: This request is estimated at $0.96, above the per-request limit of $0.90 "
        "(VEO_MCP_MAX_COST_PER_REQUEST). Nothing was sent. Ask for a cheaper video (shorter, lower quality, fewer "
        "videos, no audio) or raise the limit."
    )


# --- the same batch again --------------------------------------------------------------------------------------


@BOTH_ERAS
async def test_the_same_batch_again_within_the_window_is_the_earlier_one(tmp_path: Path) -> None:
    """Without a request_id, the same items again within VEO_MCP_DUPLICATE_WINDOW are the batch made just before."""
    request = {"items": [{"prompt": "once", "seed": 1}, {"prompt": "twice", "seed": 2}]}
    async with running_harness(tmp_path) as harness, harness.client() as client:
        first = await call_ok(client, "generate_batch", **request)
        again = await call_ok(client, "generate_batch", **request)
    assert again["reused"] is True and again["batch_id"] == first["batch_id"]
    assert first["reused"] is False


@BOTH_ERAS
async def test_an_expensive_batch_again_is_answered_without_a_second_confirmation(tmp_path: Path) -> None:
    """Above the threshold, confirmed once: the same call again within the duplicate window is the earlier batch,
    not a new cost question."""
    request = {"prompt": "a fox in fresh snow", "variants": {"aspect_ratio": ["16:9", "9:16"], "duration": [4, 6, 8]}}
    async with running_harness(tmp_path) as harness, harness.client() as client:
        first = await call_ok(client, "generate_batch", **request, confirm_cost=True)
        again = await client.call_tool("generate_batch", request)
    assert not again.is_error, text_of(again)
    answer = again.structured_content or {}
    assert answer["reused"] is True and answer["batch_id"] == first["batch_id"]


# --- waiting ---------------------------------------------------------------------------------------------------


async def test_a_wait_of_one_second_waits_for_the_batch_to_change(tmp_path: Path) -> None:
    """wait with 1 s is a wait, not a single look: the batch cancelled while it waits is what it answers."""
    simulator = Simulator(SimulatorConfig(speed=0.01))  # the first generation keeps the only slot for minutes
    app = App(
        service_settings(tmp_path, max_concurrent=1), client=make_client(simulator), simulated=True, resolver=no_dns
    )
    async with app.running():
        await app.parts.pipeline.generate(parse_video_request({"prompt": "the one that keeps the slot"}))
        batch = await _submit(app, LOCAL_PRINCIPAL, "waits", "waits too")
        reports: list[BatchState] = []

        async def report(state: BatchState) -> None:
            reports.append(state)
            if len(reports) == 1:
                with anyio.CancelScope(shield=True):  # not cut short by the wait's own second, on a slow disk
                    await app.parts.batches.cancel(batch.batch_id, "cancelled while waited on")

        state = await app.parts.batches.wait(batch.batch_id, 1, report)
    assert reports[0].counts == {"queued": 2} and not reports[0].finished
    assert state.finished and state.counts == {"cancelled": 2}
    assert [item.message for item in state.items] == ["cancelled while waited on"] * 2


# --- local images ----------------------------------------------------------------------------------------------


@BOTH_ERAS
async def test_an_items_placeholder_image_on_a_local_file_service_is_accepted(tmp_path: Path) -> None:
    """With a local simulator's file service (plain http on loopback), an item's local image stands as a placeholder
    on that address until it is uploaded: our own upload's address, not a user URL to refuse."""
    frame = make_image(tmp_path / "pictures" / "frame.png", (30, 160, 90))
    async with (
        running_harness(tmp_path, image_dirs=[tmp_path / "pictures"], files_base_url="http://127.0.0.1:1") as harness,
        harness.client() as client,
    ):
        queued = await client.call_tool(
            "generate_batch", {"items": [{"prompt": "from the frame", "image_files": [str(frame)]}]}
        )
    assert not queued.is_error, text_of(queued)
    assert (queued.structured_content or {})["total"] == 1


@BOTH_ERAS
async def test_an_items_uploaded_image_is_sent_as_our_own_upload(tmp_path: Path) -> None:
    """The file service answers an upload with an address a user could not give (it carries credentials): the queue
    sends it as the upload it is, for EvoLink to judge, instead of refusing it as a user's URL."""
    frame = make_image(tmp_path / "pictures" / "frame.png", (30, 160, 90))
    simulator = Simulator(SimulatorConfig(speed=100, files_public_url="https://cdn:key@files.test"))
    async with (
        running_harness(tmp_path, simulator=simulator, image_dirs=[tmp_path / "pictures"]) as harness,
        harness.client() as client,
    ):
        batch_id = (
            await call_ok(client, "generate_batch", items=[{"prompt": "from the frame", "image_files": [str(frame)]}])
        )["batch_id"]

        async def sent() -> dict[str, Any] | None:
            state = await call_ok(client, "get_batch", batch_id=batch_id)
            return state if state["items"][0]["status"] not in ("queued", "sending") else None

        state = await _until(sent)
    (upload,) = simulator.service.uploads.values()
    url = f"https://cdn:key@files.test/u/{upload.file_id}/{upload.file_name}"
    assert state["items"][0]["status"] == "refused" and state["items"][0]["message"] == (
        f"EvoLink refused the request: image_urls[0]: '{url}' cannot be used: URLs with credentials "
        "(user:password@) are not allowed. Fix the parameter named in the message; nothing was charged."
    )
    assert harness.ledger()["requests"]["create"] == 1


# --- why a queue waits -----------------------------------------------------------------------------------------


async def test_a_database_that_cannot_be_written_holds_everyones_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Alice's create cannot be recorded: the database is the account's, so Bob's queue waits too, told why."""
    caplog.set_level(logging.INFO, logger="veo_mcp.core.batches.holds")
    message = "veo-mcp could not write to its database: disk I/O error."
    simulator = Simulator(SimulatorConfig(speed=100))
    app = App(service_settings(tmp_path), client=make_client(simulator), simulated=True, resolver=no_dns)
    async with app.running():
        ledger = app.parts.ledger
        begin = ledger.begin
        tried: list[str] = []

        async def failing(**arguments: Any) -> Any:
            tried.append(arguments["prompt"])
            if arguments["prompt"].startswith("alice"):
                raise DatabaseWriteError(message)
            return await begin(**arguments)

        monkeypatch.setattr(ledger, "begin", failing)
        alice = await _submit(app, "alice", "alice's shot")

        async def held() -> str | None:
            return (await _state(app, "alice", alice)).queue

        assert await _until(held) == message
        bob = await _submit(app, "bob", "bob's shot")
        bobs = await _state(app, "bob", bob)
    assert bobs.queue == message and bobs.counts == {"queued": 1}
    assert tried == ["alice's shot"] and simulator.service.requests["create"] == 0
    assert f"batch queue held for everyone for 10 s: {message}" in caplog.messages


async def test_a_429_while_one_generation_runs_learns_a_limit_of_one(tmp_path: Path) -> None:
    """EvoLink answers 429 (Retry-After 0) while one generation runs: the account's limit is learned as one, so the
    queued item waits for a free slot, and says where that limit comes from."""
    simulator = Simulator(SimulatorConfig(speed=0.01))  # the running render lasts far longer than the test
    app = App(
        service_settings(tmp_path, max_concurrent=4), client=make_client(simulator), simulated=True, resolver=no_dns
    )
    async with app.running():
        await app.parts.pipeline.generate(parse_video_request({"prompt": "the one that keeps the account busy"}))
        simulator.faults.add(Fault(kind="status", endpoint="create", status=429, retry_after=0, count=100))
        batch = await _submit(app, LOCAL_PRINCIPAL, "waits for the slot")
        expected = (
            "waiting for a free slot: the EvoLink account is busy (at most 1 generations run at once: EvoLink's "
            "concurrency limit, learned from its last 429); you have 1 running"
        )

        async def learned() -> bool:
            return (await _state(app, LOCAL_PRINCIPAL, batch)).queue == expected

        await _until(learned)
        simulator.faults.clear()
        state = await _state(app, LOCAL_PRINCIPAL, batch)
    assert state.counts == {"queued": 1} and len(simulator.service.tasks) == 1


async def test_the_create_rate_brake_is_logged_with_whom_it_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A principal's own hold is logged with their name, how long and why (the operator reads whose queue waits)."""
    caplog.set_level(logging.INFO, logger="veo_mcp.core.batches.holds")
    simulator = Simulator(SimulatorConfig(speed=100))
    app = App(
        service_settings(tmp_path, max_creates_per_minute=1),
        client=make_client(simulator),
        simulated=True,
        resolver=no_dns,
    )
    async with app.running():
        batch = await _submit(app, "alice", "first", "second")

        async def held() -> str | None:
            return (await _state(app, "alice", batch)).queue

        reason = await _until(held)
    assert reason == (
        "1 generations were started in the last 60 seconds; the limit is 1 per minute "
        "(VEO_MCP_MAX_CREATES_PER_MINUTE), so none is left right now. Nothing was sent."
    )
    assert f"batch queue of alice held for 5 s: {reason}" in caplog.messages


async def test_a_batch_another_replica_runs_says_so(tmp_path: Path) -> None:
    """A batch whose queue a live replica on another machine runs (it never wrote a heartbeat: taken as alive): this
    process leaves its queued items to that one, and says so."""
    app = App(
        service_settings(tmp_path),
        client=make_client(Simulator(SimulatorConfig(speed=100))),
        simulated=True,
        resolver=no_dns,
    )
    async with app.running():
        store, now = app.parts.store, time.time()
        request = item_request({"prompt": "sent elsewhere"}, "items[0]")
        record = BatchRecord(
            batch_id="batch-0123456789abcdef0123",
            request_id=None,
            fingerprint="f" * 64,
            label="sent elsewhere",
            estimate_usd=0.48,
            created_at=now,
            updated_at=now,
        )
        item = BatchItemRecord(
            batch_id=record.batch_id,
            position=0,
            arguments={"prompt": "sent elsewhere"},
            payload=request.to_api_payload(),
            notes=[],
            request_id=f"{record.batch_id}:0",
            estimate_usd=0.48,
            duration=request.effective_duration,
        )
        await store.add_batch(record, [item], same_since=None)
        await store._write("UPDATE batches SET owner = ? WHERE batch_id = ?", (OTHER_REPLICA, record.batch_id))
        batch = await app.parts.batches.get(record.batch_id)
        state = await app.parts.batches.state(batch)
    assert state.counts == {"queued": 1}
    assert state.queue == (
        "another veo-mcp replica runs this batch's queue and sends its queued items as the account's capacity allows"
    )
