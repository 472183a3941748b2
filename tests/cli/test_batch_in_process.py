"""`veo-mcp batch FILE` through its real entry point (`veo_mcp.cli.main`) in this process, against the embedded
simulator (`--simulate`): the total shown before confirming, the refusal without a person to ask, the table, the
manifest and the saved files, a second run that resumes, a bad line named with nothing sent, a failed item, and what
Ctrl-C says. test_batch_command.py runs the same command as a subprocess against a simulator process."""

from __future__ import annotations

import importlib
import io
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from tests.cli.conftest import Ended, run_in_process, without_our_variables
from veo_mcp.cli import batch

cli = importlib.import_module("veo_mcp.cli.main")  # the module (the package exports its `main` function)
LINES = [
    {"prompt": "a lighthouse at dusk", "duration": 4},
    {"prompt": "a lighthouse at dawn", "duration": 6, "aspect_ratio": "9:16"},
]
TOTAL = "2 videos, estimated $1.20 (86 credits): 2 requests, 10 s of video"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    without_our_variables(monkeypatch)
    monkeypatch.setenv("VEO_MCP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VEO_MCP_OUTPUT_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("VEO_MCP_SIMULATOR_SPEED", "100000")
    monkeypatch.setenv("VEO_MCP_POLL_MIN", "0.05")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a script: nobody at a terminal to ask
    return tmp_path


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ended]:
    return lambda *argv: run_in_process(argv, capsys, monkeypatch)


@pytest.fixture
def shots(home: Path) -> Path:
    path = home / "lighthouse shots.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    return path


def _cells(out: str) -> list[list[str]]:
    """Each line of the output as its cells (columns are two or more spaces apart; alignment is rich's business)."""
    return [re.split(r" {2,}", line.strip()) for line in out.splitlines()]


def _table(manifest: dict[str, Any]) -> list[list[str]]:
    """The table the command prints, as cells, rebuilt from its manifest (task ids and paths differ per run)."""
    title = f"veo-mcp batch {Path(manifest['file']).name}" + (" (simulated)" if manifest["simulated"] else "")
    lines = [[title], ["LINE", "STATUS", "TASK ID", "COST", "SAVED"]]
    for entry in manifest["items"]:
        path = entry["files"][0]["path"] if entry["files"] else "-"
        cost = f"${entry['estimated_cost_usd']:.2f}"
        lines.append([str(entry["line"]), entry["status"], entry["task_id"] or "-", cost, path])
    for entry in manifest["items"]:
        if entry["message"] and not entry["files"]:
            lines.append([f"line {entry['line']}: {entry['message']}"])
    lines.append([f"manifest: {Path(manifest['output_dir']) / 'manifest.json'}"])
    lines.append([f"contact sheet: {manifest['contact_sheet'] or 'not made: ' + manifest['contact_sheet_error']}"])
    return lines


def test_the_total_is_shown_the_videos_saved_and_a_second_run_resumes_creating_nothing(
    run: Callable[..., Ended], home: Path, shots: Path
) -> None:
    first = run("batch", str(shots), "--simulate", "--yes")
    folder = home / "videos" / "lighthouse shots"  # named after the file, inside the output folder
    text = (folder / "manifest.json").read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, indent=2)
    assert first.code == 0, first.err
    assert first.err.splitlines()[0] == f"{TOTAL} [simulated: nothing is billed]"
    assert "batch: 2/2 done" in first.err and "Resuming" not in first.err
    assert _cells(first.out) == _table(manifest)
    assert manifest["file"] == str(shots) and manifest["output_dir"] == str(folder)
    assert manifest["batch_id"].startswith("batch-") and manifest["estimated_cost_usd"] == 1.2
    assert manifest["simulated"] is True and manifest["contact_sheet"] == str(folder / "contact-sheet.jpg")
    assert (folder / "contact-sheet.jpg").read_bytes()[:2] == b"\xff\xd8"
    entries = manifest["items"]
    assert [sorted(entry) for entry in entries] == [
        ["arguments", "duration", "estimated_cost_usd", "files", "index", "line", "message", "status", "task_id"]
    ] * 2
    assert [(e["index"], e["line"], e["arguments"]) for e in entries] == [(0, 1, LINES[0]), (1, 2, LINES[1])]
    assert [(e["status"], e["estimated_cost_usd"], e["duration"], e["message"]) for e in entries] == [
        ("completed", 0.48, 4, None),
        ("completed", 0.72, 6, None),
    ]
    for entry in entries:
        assert entry["task_id"].startswith("task-")
        (saved,) = entry["files"]
        video = Path(saved["path"])
        assert video.parent == folder / "simulated" and video.read_bytes()[4:8] == b"ftyp"
    assert [e["files"][0]["duration_s"] for e in entries] == [4.0, 6.0]

    second = run("batch", str(shots), "--simulate", "--yes", "--json")
    assert second.code == 0, second.err
    assert second.err.splitlines()[:2] == [
        f"{TOTAL} [simulated: nothing is billed]",
        "Resuming the batch this file started earlier; nothing is created twice.",
    ]
    again = json.loads(second.out)
    assert second.out == json.dumps(again) + "\n"
    assert again == json.loads((folder / "manifest.json").read_text())
    assert again["batch_id"] == manifest["batch_id"]  # the same batch: nothing was created again
    assert [e["task_id"] for e in again["items"]] == [e["task_id"] for e in entries]
    assert again["items"] == entries


def test_output_dir_is_used_as_it_is_and_wide_prints_the_same_table(
    run: Callable[..., Ended], home: Path, shots: Path
) -> None:
    folder = home / "chosen"
    ended = run("batch", str(shots), "--simulate", "--yes", "--output-dir", str(folder), "--wide")
    assert ended.code == 0, ended.err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["output_dir"] == str(folder) and _cells(ended.out) == _table(manifest)


def test_a_contact_sheet_that_cannot_be_made_leaves_the_manifest_and_says_why(
    run: Callable[..., Ended], home: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saved video that is no longer a video (replaced by a sound file after it was saved) stops the picture of
    the run, never the manifest of what was made and paid for."""
    from tests.local.media import audio_only
    from veo_mcp.local import contact_sheet

    made = contact_sheet.make_contact_sheet

    def after_the_file_is_replaced(videos: list[Path | None], target: Path) -> Path:
        assert videos[1] is not None
        audio_only(videos[1])
        return made(videos, target)

    monkeypatch.setattr(contact_sheet, "make_contact_sheet", after_the_file_is_replaced)
    ended = run("batch", str(shots), "--simulate", "--yes")
    folder = home / "videos" / "lighthouse shots"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert ended.code == 0, ended.err
    replaced = manifest["items"][1]["files"][0]["path"]
    assert manifest["contact_sheet"] is None and manifest["contact_sheet_error"] == f"{replaced} has no video stream"
    assert [e["status"] for e in manifest["items"]] == ["completed", "completed"]
    assert _cells(ended.out) == _table(manifest) and not (folder / "contact-sheet.jpg").exists()
    assert _cells(ended.out)[-1] == [f"contact sheet: not made: {replaced} has no video stream"]


def test_without_yes_a_script_is_refused_after_the_total_and_nothing_is_sent(
    run: Callable[..., Ended], home: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "sk-in-process-0123456789")
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9")  # the discard port: anything sent would fail
    ended = run("batch", str(shots))
    assert ended.code == 1 and ended.out == ""
    assert ended.err == f"{TOTAL}\nveo-mcp: not confirmed: nothing was sent (pass --yes from a script).\n"
    ended = run("batch", str(shots), "--json")
    assert ended.code == 1 and ended.err == f"{TOTAL}\n"
    assert json.loads(ended.out) == {
        "error": "not confirmed: nothing was sent (pass --yes from a script).",
        "exit_code": 1,
    }
    assert not (home / "videos").exists()


def test_at_a_terminal_the_person_is_asked_once_and_no_sends_nothing(
    run: Callable[..., Ended], home: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.prompt import Confirm

    asked: list[tuple[str, bool]] = []

    def answer(question: str, *, console: object, default: bool) -> bool:
        asked.append((question, default))
        return False

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr(Confirm, "ask", answer)
    ended = run("batch", str(shots), "--simulate")
    assert asked == [("Generate 2 videos?", False)]
    assert ended.code == 1 and ended.out == ""
    assert ended.err == (
        f"{TOTAL} [simulated: nothing is billed]\n"
        "veo-mcp: not confirmed: nothing was sent (pass --yes from a script).\n"
    )
    assert not (home / "videos").exists()


def test_a_bad_line_is_named_and_nothing_is_sent(run: Callable[..., Ended], home: Path) -> None:
    path = home / "shots.jsonl"
    path.write_text('{"prompt": "fine"}\n{"prompt": "eight k", "quality": "8k"}\nnot json\n')
    ended = run("batch", str(path), "--yes")  # no key either: the file is refused before anything else
    assert ended.code == 2 and ended.out == ""
    assert ended.err == (
        "veo-mcp: 2 line(s) of shots.jsonl must change; nothing was sent:\n"
        'line 2: quality: "8k" is not allowed; use one of "720p", "1080p" or "4k".\n'
        "line 3: not valid JSON (Expecting value at column 1)\n"
    )
    assert not (home / "videos").exists() and not (home / "data").exists()
    ended = run("batch", str(path), "--yes", "--json")
    assert ended.code == 2 and ended.err == "" and json.loads(ended.out)["exit_code"] == 2


def test_a_refused_item_is_named_under_the_table_and_the_batch_exits_1(
    run: Callable[..., Ended], home: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veo_mcp import simulator
    from veo_mcp.simulator.faults import Fault

    real = simulator.SimulatorConfig

    def failing(**fields: Any) -> Any:
        return real(**fields, faults=[Fault(kind="status", endpoint="create", status=400)])

    monkeypatch.setattr(simulator, "SimulatorConfig", failing)
    ended = run("batch", str(shots), "--simulate", "--yes")
    manifest = json.loads((home / "videos" / "lighthouse shots" / "manifest.json").read_text())
    assert ended.code == 1, ended.err
    assert [entry["status"] for entry in manifest["items"]] == ["refused", "completed"]
    failed = manifest["items"][0]
    assert failed["files"] == [] and failed["task_id"] is None and failed["message"]
    assert (
        "\nline 1: EvoLink refused the request: Injected error 400 Fix the parameter named in the message; nothing was "
        "charged.\n" in ended.out
    )
    assert _cells(ended.out) == _table(manifest)


def _session(*, embedded: bool, simulate: bool) -> Any:
    return SimpleNamespace(embedded=embedded, settings=SimpleNamespace(simulate=simulate))


def _state(*statuses: tuple[str, str | None]) -> dict[str, Any]:
    return {"batch_id": "batch-7", "items": [{"status": status, "task_id": task} for status, task in statuses]}


def test_ctrl_c_says_what_finished_what_renders_and_what_was_not_sent() -> None:
    path = Path("/shots/a.jsonl")
    state = _state(
        ("completed", "t1"),
        ("failed", "t2"),
        ("processing", "t3"),
        ("queued", None),
        ("queued", None),
        ("refused", None),
    )
    assert batch._interrupted(_session(embedded=False, simulate=False), state, path) == (
        "stopped waiting for batch batch-7: 3 of 6 items had finished, 1 keep rendering at EvoLink (billed when they "
        "complete), 2 not sent yet stay queued. Run `veo-mcp batch /shots/a.jsonl` again to follow it, send what is "
        "left and save the videos; nothing is created twice."
    )
    assert batch._interrupted(_session(embedded=True, simulate=True), state, path) == (
        "stopped waiting for batch batch-7: 3 of 6 items had finished, 1 keep rendering in the simulator (nothing is "
        "billed), 2 not sent yet stay queued. Run `veo-mcp batch /shots/a.jsonl --simulate` again to follow it, send "
        "what is left and save the videos; nothing is created twice."
    )
    rendering = _state(("cancelled", "t1"), ("outcome_unknown", "t2"), ("pending", "t3"), ("processing", "t4"))
    assert batch._interrupted(_session(embedded=False, simulate=True), rendering, path) == (
        "stopped waiting for batch batch-7: 2 of 4 items had finished, 2 keep rendering in the simulator (nothing is "
        "billed). Run `veo-mcp batch /shots/a.jsonl` again to follow it, send what is left and save the videos; "
        "nothing is created twice."
    )
    done = _state(("completed", "t1"))
    assert batch._interrupted(_session(embedded=False, simulate=False), done, path) == (
        "stopped waiting for batch batch-7: 1 of 1 items had finished. Run `veo-mcp batch /shots/a.jsonl` again to "
        "follow it, send what is left and save the videos; nothing is created twice."
    )


def test_ctrl_c_during_the_batch_says_so_and_exits_130(
    run: Callable[..., Ended], home: Path, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    async def interrupted(session: Any, queued: dict[str, Any], latest: list[dict[str, Any]]) -> dict[str, Any]:
        seen.append(queued)
        first, second = queued["items"]
        finished = {**first, "status": "completed", "task_id": "task-one"}
        latest.append({**queued, "items": [finished, {**second, "status": "processing", "task_id": "task-two"}]})
        signal.raise_signal(signal.SIGINT)  # as Ctrl-C does: the event loop cancels the command, then stops
        await anyio.sleep_forever()
        raise AssertionError("not cancelled")

    monkeypatch.setattr(batch, "_follow", interrupted)
    ended = run("batch", str(shots), "--simulate", "--yes")
    assert ended.code == 130 and ended.out == ""
    (queued,) = seen
    assert ended.err == (
        f"{TOTAL} [simulated: nothing is billed]\n"
        f"veo-mcp: stopped waiting for batch {queued['batch_id']}: 1 of 2 items had finished, 1 keep rendering in the "
        f"simulator (nothing is billed). Run `veo-mcp batch {shots} --simulate` again to follow it, send what is left "
        "and save the videos; nothing is created twice.\n"
    )
    assert not (home / "videos" / "lighthouse shots" / "manifest.json").exists()


def _refusal(check: Callable[[], None]) -> str:
    from veo_mcp.errors import VeoError

    with pytest.raises(VeoError) as refused:
        check()
    return refused.value.message


def test_a_waiting_queue_is_said_without_the_nothing_was_sent_of_a_single_request() -> None:
    """The queue's reason is a single request's refusal; in a batch the rest go out later, so the line names the
    brake and says nothing fails, and "Nothing was sent." is not repeated for items that are merely waiting."""
    from veo_mcp.evolink.costs import CostEstimate
    from veo_mcp.money import guards

    brake = _refusal(lambda: guards.check_create_rate(SimpleNamespace(max_creates_per_minute=2), 2))  # type: ignore[arg-type]
    assert batch._queue_note(brake) == (
        "waiting: the per-minute brake on runaway loops holds the rest (2 generations were started in the last 60 "
        "seconds; the limit is 2 per minute (VEO_MCP_MAX_CREATES_PER_MINUTE), so none is left right now). They go "
        "out as the minute passes, by themselves; nothing fails. Raise VEO_MCP_MAX_CREATES_PER_MINUTE (0 turns it "
        "off) to go faster."
    )
    estimate = CostEstimate(model="m", usd=0.48, credits=35, billed_seconds=4, known=True, summary="$0.48")
    hourly = _refusal(
        lambda: guards.check_hourly_budget(SimpleNamespace(hourly_budget_usd=1.0), estimate, 0.72)  # type: ignore[arg-type]
    )
    assert batch._queue_note(hourly) == (
        "waiting: This request is estimated at $0.48, but only $0.28 of the hourly budget of $1.00 is left "
        "(VEO_MCP_HOURLY_BUDGET; $0.72 committed in the last 60 minutes)."
    )
