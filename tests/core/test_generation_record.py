"""A generation's record on its own: how durations are spoken, what a failed save's advice says, what a newer record
written by another process brings in, and the one answer for an id the caller may not see."""

from __future__ import annotations

import time

import pytest

from veo_mcp.core.generation import Generation, spoken_duration
from veo_mcp.core.registry import unknown_generation


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [
        (-3, "0 s"),
        (44.6, "45 s"),
        (119.4, "119 s"),
        (120, "2 min"),
        (7199, "119 min"),
        (7200, "2 h 0 min"),
        (7500, "2 h 5 min"),
    ],
)
def test_durations_are_spoken_in_seconds_then_minutes_then_hours(seconds: float, spoken: str) -> None:
    assert spoken_duration(seconds) == spoken


def generation(task_id: str = "task-unified-1700000000-record01") -> Generation:
    return Generation(task_id=task_id, model="veo3.1-fast", prompt="a harbour", request={}, simulated=True)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ("The video host answered HTTP 503.", "Saving the video failed: The video host answered HTTP 503."),
        ("the folder is not writable", "Saving the video failed: the folder is not writable."),
        ("is the disk full?", "Saving the video failed: is the disk full?"),
        (None, "Saving the video failed: no reason was recorded."),
    ],
)
def test_a_failed_saves_advice_ends_its_reason_with_one_full_stop(error: str | None, said: str) -> None:
    failed = generation()
    failed.status, failed.progress, failed.completed_at = "completed", 100, time.time()
    failed.result_urls, failed.download_state, failed.download_error = (
        ["https://cdn.example.com/v.mp4"],
        "failed",
        error,
    )
    ref = f"task_id '{failed.task_id}'"
    assert failed.next_step() == f"{said} Call download_video with {ref} to try again."


def test_a_newer_record_from_another_process_brings_its_outcome_in() -> None:
    mine = generation()
    theirs = generation()
    theirs.status, theirs.progress, theirs.completed_at = "failed", 30, time.time()
    theirs.error_code, theirs.error_message = "content_policy_violation", "The prompt was refused."
    theirs.updated_at = mine.updated_at + 5
    assert mine.adopt(theirs)
    assert (mine.status, mine.progress, mine.error_code, mine.error_message) == (
        "failed",
        30,
        "content_policy_violation",
        "The prompt was refused.",
    )


def test_an_id_the_caller_may_not_see_is_answered_in_words_that_tell_nothing_of_whose_it_is() -> None:
    error = unknown_generation("task-unified-1700000000-secret01" + "x" * 100)
    assert error.message == (
        "task_id 'task-unified-1700000000-secret01" + "x" * 48 + "' names no generation this server knows for you."
    )
    assert error.advice == (
        "Check the task id: use one from generate_video or list_generations (it lists the generations you created); "
        "a task of another EvoLink account cannot be read."
    )


def test_times_are_given_in_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        made = generation()
        made.created_at = 0.0
        assert made.state().created_at == "1970-01-01T00:00:00+00:00" and made.state().results_expire_at is None
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_render_past_its_estimate_is_said_to_need_a_quarter_of_what_it_would_at_its_pace() -> None:
    late = generation()
    late.status, late.progress, late.estimated_time_s = "processing", 20, 100.0
    late.created_at = time.time() - 300  # three times its estimate ago
    late.progress_at = time.time()  # but still moving: not stalled
    assert late.eta_seconds() == 20  # 80 s at its estimated pace, a quarter of it


@pytest.mark.parametrize(("state", "settled"), [("expired", True), ("saved", True), ("none", False)])
def test_a_wait_ends_once_the_video_is_saved_or_its_links_expired(state: str, settled: bool) -> None:
    rendered = generation()
    rendered.status, rendered.progress, rendered.completed_at = "completed", 100, time.time()
    rendered.result_urls = ["https://cdn.example.com/v.mp4"]
    rendered.download_state = state  # type: ignore[assignment]
    assert rendered.save_settled() is settled


def test_what_the_store_kept_that_is_newer_is_absorbed_and_nothing_is_taken_back() -> None:
    mine = generation()
    finished = generation()
    finished.status, finished.progress, finished.completed_at = "completed", 100, 1_700_000_000.0
    finished.result_urls, finished.download_state = ["https://cdn.example.com/v.mp4"], "saved"
    mine.absorb(finished)
    assert (mine.status, mine.completed_at, mine.download_state) == ("completed", 1_700_000_000.0, "saved")
    older = generation()  # a record from before the save: it takes nothing back
    older.status, older.progress, older.completed_at = "completed", 100, 1_700_000_000.0
    mine.absorb(older)
    assert mine.download_state == "saved"


def test_a_state_says_when_the_record_last_changed() -> None:
    changed = generation()
    changed.updated_at = 1_700_000_000.0
    assert changed.state().updated_at == "2023-11-14T22:13:20+00:00"


def test_a_write_never_takes_back_an_outcome_another_process_stored() -> None:
    from veo_mcp.core.generation import merged

    stored = generation()
    stored.status, stored.progress, stored.completed_at = "failed", 40, 1_700_000_000.0
    stored.error_code, stored.error_message = "content_policy_violation", "The prompt was refused."
    incoming = generation()  # this process still thinks it renders
    incoming.status, incoming.progress = "processing", 60
    result = merged(stored, incoming)
    assert (result.status, result.progress, result.completed_at) == ("failed", 40, 1_700_000_000.0)
    assert (result.error_code, result.error_message) == ("content_policy_violation", "The prompt was refused.")


def test_the_moment_a_generation_finishes_stops_its_clock_and_starts_its_links_24_hours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from veo_mcp.core import generation as record_module
    from veo_mcp.evolink import catalog
    from veo_mcp.evolink.schemas import Task

    now = [1_800_000_000.0]
    monkeypatch.setattr(record_module, "time", SimpleNamespace(time=lambda: now[0]))  # the record's clock only
    record = generation()
    record.created_at = now[0] - 90
    record.apply(Task(id=record.task_id, status="processing", progress=50))
    assert record.completed_at is None and record.links_expire_at is None
    now[0] += 5
    record.apply(Task(id=record.task_id, status="completed", progress=100, results=["https://cdn.example.com/v.mp4"]))
    assert record.completed_at == now[0]
    assert record.links_expire_at == now[0] + catalog.RESULT_LINK_TTL_S
    assert record.elapsed_seconds(now=now[0] + 3600) == 95  # stopped at the end
    finished = now[0]
    now[0] += 60
    record.apply(Task(id=record.task_id, status="completed", progress=100, results=["https://cdn.example.com/v.mp4"]))
    assert record.completed_at == finished  # seen again a minute later: still the first moment
