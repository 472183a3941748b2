"""`veo-mcp batch FILE`: every video of a JSONL or CSV file, confirmed once, through the MCP server in this process.

The file is checked line by line first (nothing is sent while any line is wrong); the total is shown and confirmed
once (`--yes` skips the question). Then `generate_batch` queues every item under the account's limit, a rich display
shows one bar per running item and one for the whole batch, and the videos are saved into the output folder
(`--output-dir`, by default a folder named after the file inside VEO_MCP_OUTPUT_DIR) with `manifest.json` (one entry
per item: arguments, task id, status, cost, files) and `contact-sheet.jpg` (a frame of every video in a grid).
Running the same command again resumes: the batch's request_id comes from the file's path, so finished items are not
created again and unsent ones are sent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veo_mcp.cli.output import FAILED, USAGE_ERROR, CommandFailed, console, emit_json, report_failure
from veo_mcp.cli.vocabulary import Voice

if TYPE_CHECKING:
    from rich.console import Console

    from veo_mcp.cli.batch_file import FileItem
    from veo_mcp.cli.run import Session
    from veo_mcp.settings import Settings

MANIFEST = "manifest.json"
CONTACT_SHEET = "contact-sheet.jpg"
WAIT_ROUND_S = 1.0
# An item in one of these statuses has finished, whatever the outcome.
FINISHED = frozenset({"completed", "failed", "cancelled", "refused", "outcome_unknown"})


def batch_command(args: argparse.Namespace, settings: Settings) -> int:
    """Check the file, confirm the total once, run the batch, write manifest and contact sheet; the exit code."""
    from veo_mcp.cli.batch_file import BatchFileError, read_batch_file
    from veo_mcp.cli.checks import require_upstream
    from veo_mcp.cli.run import run_session

    messages = console(stderr=True)
    path = Path(args.file).expanduser().resolve()
    try:
        items = read_batch_file(path)
    except BatchFileError as error:
        return report_failure(CommandFailed(str(error), exit_code=USAGE_ERROR), as_json=args.json)
    require_upstream(settings)
    folder = settings.output_dir if args.output_dir else settings.output_dir / path.stem
    settings = settings.model_copy(update={"output_dir": folder})
    if not _confirmed(messages, items, args.yes, settings):
        return report_failure(
            CommandFailed("not confirmed: nothing was sent (pass --yes from a script)."), as_json=args.json
        )

    async def body(session: Session) -> dict[str, Any]:
        return await _run(session, path, items)

    manifest = run_session(settings, body, as_json=args.json, assume_yes=True)  # the person confirmed the total
    if isinstance(manifest, int):
        return manifest
    if args.json:
        emit_json(manifest)
    else:
        _print_table(manifest, wide=args.wide)
    return 0 if all(entry["status"] == "completed" for entry in manifest["items"]) else FAILED


def _confirmed(messages: Console, items: list[FileItem], assume_yes: bool, settings: Settings) -> bool:
    from rich.prompt import Confirm

    from veo_mcp.evolink.costs import total_estimate

    total = total_estimate([item.estimate for item in items])
    simulated = " [simulated: nothing is billed]" if settings.simulate else ""
    messages.print(f"{len(items)} videos, estimated {total.summary}{simulated}", markup=False)
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        return False
    return bool(Confirm.ask(f"Generate {len(items)} videos?", console=messages, default=False))


def request_id_for(path: Path) -> str:
    """The batch's request_id: the same file (path) is the same batch, so a second run resumes instead of paying."""
    return "veo-mcp-batch-" + hashlib.sha256(str(path).encode()).hexdigest()[:32]


async def _run(session: Session, path: Path, items: list[FileItem]) -> dict[str, Any]:
    arguments = {"items": [item.arguments for item in items], "request_id": request_id_for(path)}
    queued = await session.call("generate_batch", arguments)
    if queued.get("reused"):
        session.messages.print("Resuming the batch this file started earlier; nothing is created twice.", markup=False)
    latest = [queued]
    session.on_interrupt = lambda: _interrupted(session, latest[-1], path)
    state = await _follow(session, queued, latest)
    saved: dict[int, list[dict[str, Any]]] = {}
    for entry in state["items"]:
        if entry["status"] == "completed" and entry["task_id"]:
            result = await session.call("download_video", {"task_id": entry["task_id"]})
            saved[entry["index"]] = result["files"]
    return await _finish(session.settings, path, items, state, saved, bool(queued["simulated"]))


def _interrupted(session: Session, state: dict[str, Any], path: Path) -> str:
    """What is true of the batch after Ctrl-C: what finished, what keeps rendering, what was not sent."""
    items = state["items"]
    finished = sum(1 for item in items if item["status"] in FINISHED)
    rendering = sum(1 for item in items if item["task_id"] and item["status"] not in FINISHED)
    unsent = len(items) - finished - rendering
    simulated = session.embedded or session.settings.simulate
    parts = [f"{finished} of {len(items)} items had finished"]
    if rendering:
        where = "in the simulator (nothing is billed)" if simulated else "at EvoLink (billed when they complete)"
        parts.append(f"{rendering} keep rendering {where}")
    if unsent:
        parts.append(f"{unsent} not sent yet stay queued")
    again = f"veo-mcp batch {path}" + (" --simulate" if session.embedded else "")
    return (
        f"stopped waiting for batch {state['batch_id']}: {', '.join(parts)}. Run `{again}` again to follow it, send "
        "what is left and save the videos; nothing is created twice."
    )


async def _follow(session: Session, queued: dict[str, Any], latest: list[dict[str, Any]]) -> dict[str, Any]:
    """wait_for_batch until every item has finished; one bar per running item and one for the whole batch, and a
    line whenever the queue starts waiting (and why)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    state = queued
    said: str | None = None
    with Progress(*columns, TimeElapsedColumn(), console=session.messages, transient=False) as bars:
        overall = bars.add_task(f"batch {state['batch_id']}", total=state["total"])
        running: dict[int, Any] = {}
        while True:
            for item in state["items"]:
                _show_item(bars, running, item)
            queue = state.get("queue")
            if queue and queue != said:
                bars.console.print(f"i {_queue_note(queue)}", markup=False)
            said = queue
            waiting = " (queue waiting, see above)" if queue else ""
            bars.update(
                overall, completed=state["done"], description=f"batch: {state['done']}/{state['total']} done{waiting}"
            )
            if state["finished"]:
                return state
            state = await session.call(
                "wait_for_batch", {"batch_id": state["batch_id"], "timeout_seconds": WAIT_ROUND_S}
            )
            latest.append(state)
            del latest[:-1]


def _queue_note(queue: str) -> str:
    """Why the queue waits, for a person: the per-minute brake says it is one, and that nothing fails."""
    reason = queue.removesuffix(" Nothing was sent.").rstrip(".")
    if "VEO_MCP_MAX_CREATES_PER_MINUTE" in reason:
        return (
            f"waiting: the per-minute brake on runaway loops holds the rest ({reason}). They go out as the minute "
            "passes, by themselves; nothing fails. Raise VEO_MCP_MAX_CREATES_PER_MINUTE (0 turns it off) to go faster."
        )
    return f"waiting: {reason}."


def _show_item(bars: Any, running: dict[int, Any], item: dict[str, Any]) -> None:
    index, status = item["index"], item["status"]
    if status in FINISHED:
        if index in running:
            bars.remove_task(running.pop(index))
        return
    if status == "queued":
        return
    if index not in running:
        running[index] = bars.add_task(f"[{index}]", total=100)
    bars.update(running[index], completed=item["progress"], description=f"[{index}] {status}")


async def _finish(
    settings: Settings,
    path: Path,
    items: list[FileItem],
    state: dict[str, Any],
    saved: dict[int, list[dict[str, Any]]],
    simulated: bool,
) -> dict[str, Any]:
    """Write the contact sheet and manifest.json into the output folder; the manifest."""
    import anyio

    from veo_mcp.local.contact_sheet import make_contact_sheet
    from veo_mcp.local.files import private_folder, replaced_atomically

    folder = private_folder(settings.output_dir)
    videos = [Path(saved[i][0]["path"]) if saved.get(i) else None for i in range(len(items))]
    sheet: Path | None = None
    sheet_error: str | None = None
    try:
        sheet = await anyio.to_thread.run_sync(make_contact_sheet, videos, folder / CONTACT_SHEET)
    except (ValueError, OSError) as error:  # a picture of the run: the manifest of what was paid for matters more
        sheet_error = str(error)
    entries = [
        _entry(item, entry, saved.get(entry["index"], [])) for item, entry in zip(items, state["items"], strict=True)
    ]
    manifest = {
        "file": str(path),
        "batch_id": state["batch_id"],
        "output_dir": str(folder),
        "estimated_cost_usd": state["estimated_cost_usd"],
        "simulated": simulated,
        "contact_sheet": None if sheet is None else str(sheet),
        "items": entries,
    }
    if sheet_error is not None:
        manifest["contact_sheet_error"] = sheet_error
    with replaced_atomically(folder / MANIFEST) as sink:
        sink.write(json.dumps(manifest, indent=2).encode())
    return manifest


def _entry(item: FileItem, entry: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "index": entry["index"],
        "line": item.line,
        "arguments": item.arguments,
        "task_id": entry["task_id"],
        "status": entry["status"],
        "estimated_cost_usd": item.estimate.usd,
        "duration": entry["duration"],
        "files": files,
        "message": entry["message"],
    }


def _print_table(manifest: dict[str, Any], *, wide: bool) -> None:
    from veo_mcp.cli.views import Column, print_table

    out = console(stderr=False)
    title = f"veo-mcp batch {Path(manifest['file']).name}" + (" (simulated)" if manifest["simulated"] else "")
    columns = [Column("LINE", justify="right"), Column("STATUS"), Column("TASK ID"), Column("COST", justify="right")]
    rows, saved = [], []
    for entry in manifest["items"]:
        cost = entry["estimated_cost_usd"]
        rows.append(
            [
                str(entry["line"]),
                entry["status"],
                entry["task_id"] or "-",
                "unknown" if cost is None else f"${cost:.2f}",
            ]
        )
        saved.append([f["path"] for f in entry["files"]])
    print_table(out, title, columns, rows, saved, wide=wide)
    for entry in manifest["items"]:
        if entry["message"] and not entry["files"]:
            out.print(f"line {entry['line']}: {Voice().speak(entry['message'])}", markup=False, soft_wrap=True)
    out.print(f"manifest: {Path(manifest['output_dir']) / MANIFEST}", markup=False, soft_wrap=True)
    sheet = manifest["contact_sheet"] or f"not made: {manifest['contact_sheet_error']}"
    out.print(f"contact sheet: {sheet}", markup=False, soft_wrap=True)
