"""Edges a mutation sample found unguarded: exact words an assistant reads (a batch's progress lines, the create-rate
note, a cancelled task's message, an unknown argument's refusal), a failed or reused task's final result, and the HTTP
layer an operator relies on (a public URL's default port, a cut stream's clean end, which revisions know tasks/cancel,
a key set's Cache-Control)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Message, Receive, Scope, Send

from tests.helpers import running_harness, text_of
from tests.mcp.test_http_in_process import MCP_HEADERS, RawSession, serving_stack
from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.core.batches import BatchState
from veo_mcp.core.batches.model import BatchItemState
from veo_mcp.core.generation import Generation
from veo_mcp.mcp.auth import key_set_lifetime
from veo_mcp.mcp.http_security import HostCheck
from veo_mcp.mcp.http_sessions import PrincipalSessions, SessionGate
from veo_mcp.mcp.presenters import batch_text
from veo_mcp.mcp.principals import task_of
from veo_mcp.mcp.tasks.batch_outcome import BATCH_TOOL, batch_final_result, batch_view_of
from veo_mcp.mcp.tasks.book import _cancel_message
from veo_mcp.mcp.tasks.outcome import TaskView, final_result
from veo_mcp.mcp.tools.batches import _rate_note
from veo_mcp.storage import McpTaskRecord


def _item(index: int, status: str, *, progress: int = 0, task_id: str | None = None) -> BatchItemState:
    finished = status in ("completed", "failed")
    return BatchItemState(
        index=index,
        arguments={"prompt": f"shot {index}"},
        status=status,
        finished=finished,
        task_id=task_id,
        duration=8,
        estimated_cost_usd=0.96,
        progress=progress,
    )


def _batch(*items: BatchItemState) -> BatchState:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    done = sum(item.finished for item in items)
    return BatchState(
        batch_id="b-1",
        uri="veo://batches/b-1",
        label="shots",
        created_at="2026-01-01T00:00:00Z",
        estimated_cost_usd=None,
        total=len(items),
        done=done,
        saved=0,
        counts=counts,
        finished=done == len(items),
        cancelled=False,
        items=list(items),
    )


@pytest.mark.legacy_era
def test_a_batchs_pending_and_processing_items_show_their_progress_and_others_do_not() -> None:
    state = _batch(
        _item(0, "pending", progress=0, task_id="t-0"),
        _item(1, "processing", progress=40, task_id="t-1"),
        _item(2, "queued"),
    )
    assert batch_text(state).splitlines() == [
        "Batch b-1: 0 of 3 finished (1 pending, 1 processing, 1 queued).",
        "- [0] pending 0% t-0",
        "- [1] processing 40% t-1",
        "- [2] queued",
    ]


@pytest.mark.legacy_era
def test_the_generation_a_tool_call_names_is_read_from_tools_call_only() -> None:
    params = {"name": "get_generation", "arguments": {"task_id": "task-1"}}
    assert task_of(SimpleNamespace(method="tools/call", params=params)) == "task-1"  # type: ignore[arg-type]
    assert task_of(SimpleNamespace(method="prompts/get", params=params)) is None  # type: ignore[arg-type]


@pytest.mark.legacy_era
def test_the_create_rate_note_says_over_how_many_minutes_a_large_batch_is_sent() -> None:
    app: Any = SimpleNamespace(settings=SimpleNamespace(max_creates_per_minute=3))
    assert _rate_note(app, 7) == [
        "VEO_MCP_MAX_CREATES_PER_MINUTE allows 3 new generations per minute, so the 7 items are sent over about 3 "
        "minutes; queued items wait, none fails for it."
    ]
    assert _rate_note(app, 3) == []  # within one minute's allowance: nothing to say


@pytest.mark.legacy_era
def test_cancelling_a_real_render_says_it_goes_on_upstream_and_is_billed() -> None:
    generation = Generation(task_id="task-9", model="veo3.1-fast", prompt="a kite", request={}, simulated=False)
    generation.status = "processing"
    assert _cancel_message(generation, still_followed=False) == (
        "Cancelled. veo-mcp stopped following generation task-9 and will not save its video. EvoLink offers no way "
        "to cancel a render, so it goes on upstream and is billed as usual; its result links work for 24 h after it "
        "finishes. get_generation with task_id 'task-9' follows it again."
    )


def _record(tool: str, call_result: dict[str, Any]) -> McpTaskRecord:
    return McpTaskRecord(
        task_id="mcp-1", generation_task_id="b-1", tool=tool, call_result=call_result, created_at=1.0, ttl_ms=60_000
    )


@pytest.mark.legacy_era
async def test_a_batch_task_that_repeated_an_earlier_request_says_it_was_reused() -> None:
    state = _batch(_item(0, "failed", task_id="t-0"))
    app: Any = SimpleNamespace(links=None)
    results = {}
    for reused in (True, False):
        record = _record(BATCH_TOOL, {"reused": reused, "cost_summary": "$0.96", "simulated": True})
        result = await batch_final_result(app, record, batch_view_of(record, state, 2.0), state)
        results[reused] = (result.structured_content or {})["reused"]
    assert results == {True: True, False: False}


@pytest.mark.legacy_era
def test_a_task_whose_generation_is_gone_fails_with_its_message_as_text() -> None:
    view = TaskView("mcp-1", "t-1", "failed", "veo-mcp no longer knows generation t-1.", 1.0, 2.0, 60_000, None)
    result = final_result(_record("generate_video", {"task_id": "t-1"}), view, None, [], "/out")
    wire = result.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert wire["content"] == [{"type": "text", "text": "veo-mcp no longer knows generation t-1."}]
    assert wire["isError"] is True


async def test_a_tool_without_arguments_called_with_one_is_refused_listing_none(tmp_path: Any) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        refused = await client.call_tool("list_models", {"modell": "veo3.1-fast"})
    assert refused.is_error
    assert text_of(refused).startswith("list_models has no argument 'modell'. Its arguments are: none. ")


async def _hosts_answered(check: HostCheck, hosts: list[str]) -> list[int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=check), base_url="http://test") as http:
        return [(await http.get("/healthz", headers={"Host": host})).status_code for host in hosts]


@pytest.mark.legacy_era
async def test_a_public_url_without_a_port_is_accepted_with_and_without_its_default_port() -> None:
    async def healthy(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    security = TransportSecuritySettings(allowed_hosts=["127.0.0.1:*"], allowed_origins=["http://127.0.0.1:*"])
    check = HostCheck(healthy, security)
    check.allow("https://videos.example.org")
    check.allow("http://[2001:db8::1]/veo")
    hosts = ["videos.example.org", "videos.example.org:443", "videos.example.org:8443", "[2001:db8::1]:80"]
    assert await _hosts_answered(check, hosts) == [200, 200, 421, 200]


@pytest.mark.legacy_era
async def test_a_stream_cut_after_its_first_chunk_is_ended_with_an_empty_last_chunk() -> None:
    """A removed user's open stream (several body chunks, never finished by the server) ends cleanly at the cut."""
    sessions = PrincipalSessions(server=None, per_user=2)  # type: ignore[arg-type]
    first_chunk_sent = anyio.Event()

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"event: message\n\n", "more_body": True})
        first_chunk_sent.set()
        await anyio.sleep_forever()

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError

    scope = {"type": "http", "method": "GET", "path": "/mcp", "headers": [(b"mcp-session-id", b"s-1")]}
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(SessionGate(streaming, sessions), scope, receive, send)
            await first_chunk_sent.wait()
            sessions.cut({LOCAL_PRINCIPAL})
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"event: message\n\n", "more_body": True},
        {"type": "http.response.body", "body": b"", "more_body": False},
    ]


@pytest.mark.legacy_era
async def test_a_client_of_a_revision_without_tasks_is_told_tasks_cancel_does_not_exist(tmp_path: Any) -> None:
    async with serving_stack(tmp_path) as served, httpx.AsyncClient(timeout=10) as http:
        older = await RawSession(http, served.url, MCP_HEADERS, version="2025-06-18").open()
        answers = {method: await older.ask(method, {"taskId": "t-1"}) for method in ("tasks/get", "tasks/cancel")}
        tasks_era = await RawSession(http, served.url, MCP_HEADERS).open()
        cancel_of_unknown = await tasks_era.ask("tasks/cancel", {"taskId": "t-1"})
    assert {method: answer["error"]["code"] for method, answer in answers.items()} == {
        "tasks/get": types.METHOD_NOT_FOUND,
        "tasks/cancel": types.METHOD_NOT_FOUND,
    }
    assert cancel_of_unknown["error"]["code"] == types.INVALID_PARAMS  # known there: only the task is unknown


@pytest.mark.legacy_era
def test_a_key_sets_cache_control_directives_are_read_one_by_one() -> None:
    assert key_set_lifetime("public, max-age=300") == 300.0
    assert key_set_lifetime("max-age=300, no-store") == 0.0
