"""Fault injection through the MCP surface: whatever upstream does, nothing is paid twice and nothing is lost.

Each case injects faults into the simulator, then drives a generation the way an assistant would (generate, retry
the call with the same request_id, wait, download). The ledger then proves: no request was charged twice, and every
task upstream accepted is either tracked in the store or shown to the user as "outcome unknown".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.helpers import FIGURES, finish, running_harness, text_of
from veo_mcp.simulator import Fault, Simulator, SimulatorConfig


@dataclass(frozen=True)
class Case:
    name: str
    faults: list[Fault]
    outcome: str  # saved | unknown | failed | refused (a young link that answers 403: retried, never "expired")
    extra: dict[str, Any] = field(default_factory=dict)
    # The client's timeouts. A case about a timeout sets a short one against a fault that holds its answer back for
    # an hour, so the timeout always fires first however busy the machine is; every other case keeps a generous
    # one, so a slow machine never turns a good answer into a timeout.
    timeouts: dict[str, float] = field(default_factory=lambda: {"request_timeout_s": 30.0})
    service: dict[str, Any] = field(default_factory=dict)  # the server's settings for this case


HOUR = 3600.0
SHORT = {"request_timeout_s": 1.0}


CASES = [
    Case("429 burst on create", [Fault(kind="status", endpoint="create", status=429, count=2, retry_after=0)], "saved"),
    Case("429 burst on polls", [Fault(kind="status", endpoint="get", status=429, count=6, retry_after=0)], "saved"),
    Case("503s on polls", [Fault(kind="status", endpoint="get", status=503, count=4)], "saved"),
    Case("502 on create", [Fault(kind="status", endpoint="create", status=502)], "unknown"),
    Case("500 on create", [Fault(kind="status", endpoint="create", status=500)], "unknown"),
    Case("timeout before accept", [Fault(kind="delay", endpoint="create", seconds=HOUR)], "unknown", timeouts=SHORT),
    Case(
        "timeout after accept",
        [Fault(kind="delay", endpoint="create", seconds=HOUR, after_accept=True)],
        "unknown",
        timeouts=SHORT,
    ),
    Case("accept then drop", [Fault(kind="drop_after_accept", endpoint="create")], "unknown"),
    Case("malformed create answer", [Fault(kind="malformed_json", endpoint="create")], "unknown"),
    Case("malformed poll answers", [Fault(kind="malformed_json", endpoint="get", count=3)], "saved"),
    Case("slow polls time out", [Fault(kind="delay", endpoint="get", seconds=HOUR, count=2)], "saved", timeouts=SHORT),
    Case("truncated download", [Fault(kind="truncate", endpoint="download", fraction=0.4)], "saved"),
    Case(
        "slow download times out",
        [Fault(kind="delay", endpoint="download", seconds=HOUR)],
        "saved",
        timeouts={"request_timeout_s": 30.0, "download_timeout_s": 1.0},
        service={"auto_download": False},  # the one download_video call meets the fault and must retry
    ),
    Case("503s on download", [Fault(kind="status", endpoint="download", status=503, count=2)], "saved"),
    Case("task fails upstream", [Fault(kind="fail_task", error_code="service_error", fraction=0.5)], "failed"),
    Case("young links refused (403)", [], "refused", {"link_ttl_s": 0.01}),
    Case(
        "everything at once",
        [
            Fault(kind="status", endpoint="create", status=429, retry_after=0),
            Fault(kind="status", endpoint="get", status=503, count=2),
            Fault(kind="malformed_json", endpoint="get"),
            Fault(kind="truncate", endpoint="download", fraction=0.9),
        ],
        "saved",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_fault_case(tmp_path: Path, case: Case) -> None:
    simulator = Simulator(SimulatorConfig(speed=100, **case.extra))
    for fault in case.faults:
        simulator.faults.add(fault)
    arguments = {"prompt": f"fault case: {case.name}", "request_id": f"case-{case.name}"}
    async with (
        running_harness(tmp_path, simulator=simulator, client_options=case.timeouts, **case.service) as harness,
        harness.client() as client,
    ):
        with anyio.fail_after(60):  # bounded: a timeout that never fires fails the case instead of hanging
            first = await client.call_tool("generate_video", arguments)
            retried = await client.call_tool("generate_video", arguments)  # an assistant retrying the same call
            if case.outcome == "unknown":
                assert first.is_error and "outcome unknown" in text_of(first), text_of(first)
                assert retried.is_error and "not sent again" in text_of(retried)
            else:
                assert not first.is_error, text_of(first)
                task_id = (first.structured_content or {})["task_id"]
                assert (retried.structured_content or {})["task_id"] == task_id
                state = await finish(client, task_id)
                if case.outcome == "failed":
                    assert state["status"] == "failed" and state["advice"]
                else:
                    assert state["status"] == "completed"
                    saved = await client.call_tool("download_video", {"task_id": task_id})
                    if case.outcome == "saved":
                        assert not saved.is_error, text_of(saved)
                        path = Path((saved.structured_content or {})["files"][0]["path"])
                        assert path.read_bytes()[4:8] == b"ftyp"
                        assert not list(path.parent.glob(".*.part"))
                    else:
                        # Links live 24 h: a refusal this young is taken as temporary and retried, never final.
                        assert saved.is_error and "tried again" in text_of(saved), text_of(saved)
                        state = (await client.call_tool("get_generation", {"task_id": task_id})).structured_content
                        assert state is not None and state["download_status"] in ("failed", "saving")
                        assert "403" in (state["download_error"] or "") and "expired" not in state["download_status"]
                        assert state["download_status"] == "saving" or state["download_next_attempt_at"] is not None
        store = harness.app.parts.store
        assert store is not None
        tracked = {g.task_id for g in await store.generations()}
        unknown = [c.prompt for c in await store.unconfirmed_creates() if c.state == "outcome_unknown"]
    ledger = simulator.service.ledger()
    billable = Counter(t["prompt"] for t in ledger["tasks"] if t["status"] != "failed")
    duplicates = sum(count - 1 for count in billable.values() if count > 1)
    lost = [t["id"] for t in ledger["tasks"] if t["id"] not in tracked and t["prompt"] not in unknown]
    FIGURES.update(fault_cases=1, duplicate_charges=duplicates, tasks_lost=len(lost))
    assert duplicates == 0, ledger
    assert lost == [], ledger
    assert simulator.faults.describe() == []  # every injected fault was met: the case tested what it names
    if case.outcome == "unknown":
        assert unknown == [arguments["prompt"]]
    assert len(ledger["tasks"]) <= 1
