"""The facts `veo-mcp status` and `wait` print for a generation, one state at a time: under way (with its ETA or
stalled), finished and saved, finished with only its links (and when they expire), failed with its code; and what
a wait says on its way (a stall) and where it stops (time up, a generation that did not complete). Every line a
person reads is pinned, and the next step is said in commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from rich.console import Console

from veo_mcp.cli.follow import _with_next_step, state_facts
from veo_mcp.cli.output import CommandFailed, console
from veo_mcp.cli.run import follow, save_finished
from veo_mcp.cli.views import Fact
from veo_mcp.evolink import catalog

TASK = "task-unified-1-abc"
BASE: dict[str, Any] = {
    "task_id": TASK,
    "status": "processing",
    "progress": 40,
    "elapsed_seconds": 75,
    "prompt": "a kite over the sea",
    "model": "veo-3.1-fast-generate-preview",
    "estimated_cost_usd": 0.48,
}


def _lines(facts: list[Fact]) -> list[tuple[str, str, str]]:
    return [(fact.key, fact.value, fact.kind) for fact in facts]


def test_a_generation_under_way_says_how_far_and_how_long_is_left() -> None:
    state = {**BASE, "eta_seconds": 50, "next_step": f"Call wait_for_generation with task_id '{TASK}'."}
    assert _lines(state_facts(state)) == [
        ("status", "processing", "text"),
        ("progress", "40%, about 50 s left", "text"),
        ("elapsed", "75 s", "text"),
        ("prompt", "a kite over the sea", "text"),
        ("model", "veo-3.1-fast-generate-preview", "text"),
        ("estimated cost", "$0.48", "text"),
        ("next", f"Run `veo-mcp wait {TASK}`.", "text"),
    ]


def test_a_stalled_generation_says_so_instead_of_an_eta_and_an_unpriced_one_has_no_cost() -> None:
    state = {**BASE, "stalled": True, "eta_seconds": 50, "estimated_cost_usd": None, "elapsed_seconds": 7300}
    state["advice"] = f"Tell the user it is taking unusually long; check later with get_generation (task_id '{TASK}')."
    lines = _lines(state_facts(state))
    assert lines[1] == ("progress", "40% - stalled (no progress for unusually long)", "text")
    assert lines[2] == ("elapsed", "2 h 1 min", "text")
    assert "estimated cost" not in [key for key, _, _ in lines]
    assert lines[-1] == ("next", f"Check again later with `veo-mcp status {TASK}`.", "text")


def test_a_saved_generation_lists_its_files_and_no_expiry() -> None:
    state = {
        **BASE,
        "status": "completed",
        "progress": 100,
        "simulated": True,
        "results_expire_at": "2026-12-07T12:00:00Z",
        "files": [{"index": 0, "path": "/videos/kite.mp4", "bytes": 47915}],
        "next_step": "Done: the video is saved at the path in files.",
    }
    assert _lines(state_facts(state))[5:] == [
        ("estimated cost", "$0.48", "text"),
        ("video 1", "/videos/kite.mp4", "path"),
        ("", "47,915 bytes", "text"),
        ("simulated", "yes (a test pattern; nothing billed)", "text"),
        ("next", "Done: the video is saved.", "text"),
    ]
    saved = [{"index": 0, "path": "/videos/kite.mp4", "bytes": 47915, "duration_s": 4.0, "width": 256, "height": 144}]
    assert _lines(state_facts(state, saved))[6:8] == [
        ("video 1", "/videos/kite.mp4", "path"),
        ("", "47,915 bytes · 4.0 s · 256x144 · silent", "text"),
    ]


def test_a_finished_generation_not_yet_saved_says_when_its_links_expire() -> None:
    state = {**BASE, "status": "completed", "progress": 100, "results_expire_at": "2026-12-07T12:00:00Z", "files": []}
    assert ("links expire", "2026-12-07T12:00:00Z", "text") in _lines(state_facts(state))


def test_a_failed_generation_names_its_error() -> None:
    state = {**BASE, "status": "failed", "error_code": "content_policy_violation", "error_message": "refused"}
    assert ("error", "content_policy_violation: refused", "text") in _lines(state_facts(state))
    without = {**BASE, "status": "failed", "error_code": "service_error", "error_message": None}
    assert ("error", "service_error:", "text") in _lines(state_facts(without))


def test_status_json_says_the_advice_in_commands_for_this_generation() -> None:
    """A failed save's advice, as a server process records it ("Call download_video again in a minute." from the
    download error): `status --json` names this generation in the command, never a TASK placeholder."""
    said = "Saving the video failed: The result link answered HTTP 503. Call download_video again in a minute."
    state = {**BASE, "status": "completed", "progress": 100, "advice": f"{said} veo-mcp tries again by itself."}
    spoken = _with_next_step(state)
    assert spoken["advice"] == (
        f"Saving the video failed: The result link answered HTTP 503. Run `veo-mcp download {TASK}` again in a "
        "minute. veo-mcp tries again by itself."
    )
    assert spoken["next_step"] == spoken["advice"] and spoken["task_id"] == TASK


@dataclass
class _Waiting:
    """A command's session as `follow` uses it: wait_for_generation answers in turn, messages on stderr."""

    answers: list[dict[str, Any]]
    embedded: bool = False
    messages: Console = field(default_factory=lambda: console(stderr=True))
    task_id: str | None = None
    stall_noted: set[str] = field(default_factory=set)

    async def call(self, tool: str, arguments: dict[str, Any], **options: Any) -> dict[str, Any]:
        assert (tool, arguments["task_id"]) == ("wait_for_generation", TASK)
        return self.answers.pop(0)


STALLED = {**BASE, "finished": False, "stalled": True}
SAVED = {**BASE, "status": "completed", "progress": 100, "finished": True, "files": [{"path": "/v/kite.mp4"}]}


@pytest.mark.parametrize(
    ("embedded", "resumes"), [(False, f"veo-mcp wait {TASK}"), (True, f"veo-mcp wait {TASK} --simulate")]
)
async def test_a_stall_is_noted_once_with_the_command_that_resumes_the_wait(
    embedded: bool, resumes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--simulate` is part of the command only where the simulator lives in this process (its generations are
    found again by the next `--simulate` command); against EvoLink or a simulator process it is the plain wait."""
    session = _Waiting([STALLED, STALLED, SAVED], embedded=embedded)
    assert await follow(session, TASK) == SAVED  # type: ignore[arg-type]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("!")]
    assert notes == [
        f"! {TASK} has made no progress for unusually long (at 40% after 75 s); EvoLink may be stuck. It may still "
        f"finish: still waiting (Ctrl-C stops waiting; `{resumes}` resumes later)."
    ]


async def test_a_wait_whose_time_is_up_before_any_answer_says_it_is_still_running() -> None:
    session = _Waiting([])  # nothing is asked: the time is up at once
    with pytest.raises(CommandFailed) as stopped:
        await follow(session, TASK, timeout_s=0)  # type: ignore[arg-type]
    assert stopped.value.message == (
        f"{TASK} is still running (0%) after 0 s; it keeps rendering upstream. Run `veo-mcp wait {TASK}` again later."
    )


async def test_a_generation_that_did_not_complete_ends_the_wait_with_its_status_and_what_to_do() -> None:
    refused = catalog.advice_for_task_error("content_policy_violation")
    failed = {**BASE, "status": "failed", "error_code": "content_policy_violation", "advice": refused}
    with pytest.raises(CommandFailed) as stopped:
        await save_finished(_Waiting([]), failed)  # type: ignore[arg-type]
    assert (stopped.value.message, stopped.value.details) == (
        f"generation {TASK} failed (content_policy_violation): {refused}",
        {"task_id": TASK},
    )
    cancelled = {**BASE, "status": "cancelled", "advice": "The generation was cancelled."}
    with pytest.raises(CommandFailed) as stopped:
        await save_finished(_Waiting([]), cancelled)  # type: ignore[arg-type]
    assert stopped.value.message == f"generation {TASK} cancelled: The generation was cancelled."
