"""The facts `veo-mcp status` and `wait` print for a generation, one state at a time: under way (with its ETA or
stalled), finished and saved, finished with only its links (and when they expire), failed with its code. Every
line a person reads is pinned, and the next step is said in commands."""

from __future__ import annotations

from typing import Any

from veo_mcp.cli.follow import state_facts
from veo_mcp.cli.views import Fact

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
