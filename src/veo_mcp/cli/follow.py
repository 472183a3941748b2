"""`veo-mcp list`, `status TASK_ID`, `wait TASK_ID` and `download TASK_ID`: following generations from the terminal.

Each is a short MCP session on the same store as the server (the tools list_generations, get_generation,
wait_for_generation and download_video, with their rules), printing a table or, with `--json`, the tool's own
structured result. `list` and `status` only read: they never start saving videos in the background.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from veo_mcp.cli.output import console, emit_json, table
from veo_mcp.cli.run import Session, follow, run_session, save_finished, video_rows
from veo_mcp.core.generation import spoken_duration
from veo_mcp.settings import Settings


def _finish(result: Any, as_json: bool, render: Any) -> int:
    if isinstance(result, int):
        return result
    if as_json:
        emit_json(result)
    else:
        console(stderr=False).print(render(result))
    return 0


def _listing(result: dict[str, Any]) -> Any:
    if not result["generations"] and not result["unconfirmed"]:
        return "No generations yet."
    grid = Table(title=f"{result['total']} generation(s)", title_justify="left")
    for column in ("task id", "status", "progress", "created", "prompt", "saved"):
        grid.add_column(column, no_wrap=column in ("task id", "status", "created"), overflow="fold")
    for item in result["generations"]:
        status = item["status"] + (" (stalled)" if item["stalled"] else "")
        saved = "\n".join(item["files"]) or "-"
        grid.add_row(item["task_id"], status, f"{item['progress']}%", item["created_at"] or "", item["prompt"], saved)
    for unknown in result["unconfirmed"]:
        grid.add_row("(unknown)", unknown["state"], "-", unknown["sent_at"], unknown["prompt"], unknown["advice"])
    return grid


def list_command(settings: Settings, *, status: str | None, limit: int, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        arguments: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
        return await session.call("list_generations", arguments)

    return _finish(run_session(settings, body, as_json=as_json), as_json, _listing)


def _state_rows(state: dict[str, Any]) -> list[tuple[str, str]]:
    progress = f"{state['progress']}%"
    if state.get("stalled"):
        progress += " - stalled (no progress for unusually long)"
    elif state.get("eta_seconds"):
        progress += f", about {state['eta_seconds']} s left"
    rows = [
        ("status", state["status"]),
        ("progress", progress),
        ("elapsed", spoken_duration(state.get("elapsed_seconds", 0))),
        ("prompt", state["prompt"]),
        ("model", state["model"]),
    ]
    if state.get("estimated_cost_usd") is not None:
        rows.append(("estimated cost", f"${state['estimated_cost_usd']:.4f}"))
    rows.extend((f"video {f['index'] + 1}", f"{f['path']} ({f['bytes']:,} bytes)") for f in state.get("files", []))
    if state.get("results_expire_at") and not state.get("files"):
        rows.append(("links expire", state["results_expire_at"]))
    if state.get("error_code"):
        rows.append(("error", f"{state['error_code']}: {state.get('error_message') or ''}".strip()))
    if state.get("simulated"):
        rows.append(("simulated", "yes (a test pattern; nothing billed)"))
    rows.append(("next", state.get("advice") or ""))
    return rows


def status_command(settings: Settings, *, task_id: str, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        session.task_id = task_id
        return await session.call("get_generation", {"task_id": task_id})

    return _finish(run_session(settings, body, as_json=as_json), as_json, lambda s: table(_state_rows(s), s["task_id"]))


def wait_command(settings: Settings, *, task_id: str, timeout_s: float | None, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        state = await follow(session, task_id, timeout_s=timeout_s)
        saved = await save_finished(session, state)
        return {**state, "videos": saved["files"]}

    def render(result: dict[str, Any]) -> Any:
        rows = [row for row in _state_rows(result) if not row[0].startswith("video ")]
        return table([*rows, *video_rows(result["videos"])], result["task_id"])

    return _finish(run_session(settings, body, as_json=as_json), as_json, render)


def download_command(settings: Settings, *, task_id: str, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        session.task_id = task_id
        return await session.call("download_video", {"task_id": task_id})

    return _finish(
        run_session(settings, body, as_json=as_json),
        as_json,
        lambda saved: table(video_rows(saved["files"]), f"{task_id}: saved"),
    )
