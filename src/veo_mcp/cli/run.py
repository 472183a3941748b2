"""`veo-mcp generate` and `veo-mcp demo`: one generation end to end through the real MCP server, in this process.

The command line is just another MCP client: it calls generate_video, wait_for_generation and download_video on an
in-memory session, so what a person sees here is exactly what an assistant gets. Progress is a rich bar on stderr;
the summary is a table (or one JSON object with `--json`) on stdout.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client.context import ClientRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Confirm
from rich.table import Table

from veo_mcp.app import App
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings


class RunFailed(Exception):
    """A tool call came back as an error; its text says what to do."""


def run(settings: Settings, arguments: dict[str, Any], *, as_json: bool, assume_yes: bool, title: str) -> int:
    """Generate, wait, save and summarize; the process exit code (0 when a video was saved)."""
    # The in-memory session speaks 2025-era MCP (like most clients): its legacy notices are expected here.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    console = Console(stderr=True)
    try:
        summary = anyio.run(_run, settings, arguments, console, assume_yes)
    except RunFailed as failure:
        console.print(f"[red]✗[/red] {failure}")
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]stopped[/yellow]: the generation keeps running upstream; `veo-mcp serve` tracks it.")
        return 130
    if as_json:
        print(json.dumps(summary))
    else:
        Console().print(_table(summary, title))
    return 0


def _table(summary: dict[str, Any], title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in summary.items():
        if key == "videos":
            for video in value:
                table.add_row(
                    f"video {video['index'] + 1}",
                    f"{video['path']}\n{video['bytes']:,} bytes · {video['duration_s']:.1f} s · "
                    f"{video['width']}x{video['height']} · {'sound' if video['has_audio'] else 'silent'}",
                )
        else:
            table.add_row(key.replace("_", " "), str(value))
    return table


def _structured(result: types.CallToolResult) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(item, "text", "") for item in result.content)
        raise RunFailed(text or "the tool returned no result")
    return dict(result.structured_content)


def _confirmer(console: Console, assume_yes: bool) -> Any:
    """Answers the server's cost question: --yes, or the person at the terminal; never guesses without a TTY."""

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        if assume_yes:
            return types.ElicitResult(action="accept", content={"confirm": True})
        if not sys.stdin.isatty():
            console.print(f"[yellow]{params.message}[/yellow] Pass --yes to confirm from a script.")
            return types.ElicitResult(action="decline")
        agreed = await anyio.to_thread.run_sync(lambda: Confirm.ask(params.message, console=console, default=False))
        return types.ElicitResult(action="accept", content={"confirm": agreed})

    return answer


async def _run(settings: Settings, arguments: dict[str, Any], console: Console, assume_yes: bool) -> dict[str, Any]:
    app = App(settings)
    started = time.monotonic()
    async with (
        app.running(),
        Client(create_server(app), mode="legacy", elicitation_callback=_confirmer(console, assume_yes)) as session,
    ):
        created = _structured(await session.call_tool("generate_video", arguments))
        task_id = created["task_id"]
        if created.get("reused"):
            console.print(f"[cyan]ℹ[/cyan] {created['reused_reason']}")
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bars:
            bar = bars.add_task(f"{task_id}: {created['status']}", total=100)

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                bars.update(bar, completed=progress, description=f"{task_id}: {message or ''}")

            state: dict[str, Any] = {"finished": False}
            while not state["finished"]:
                state = _structured(
                    await session.call_tool(
                        "wait_for_generation",
                        {"task_id": task_id, "timeout_seconds": 30},
                        progress_callback=on_progress,
                    )
                )
            bars.update(bar, completed=state["progress"], description=f"{task_id}: {state['status']}")
        if state["status"] != "completed":
            raise RunFailed(f"generation {state['status']}: {state.get('error_code')} - {state.get('advice')}")
        saved = _structured(await session.call_tool("download_video", {"task_id": task_id}))
    return {
        "task_id": task_id,
        "status": state["status"],
        "prompt": state["prompt"],
        "estimated_cost_usd": created["estimated_cost_usd"],
        "simulated": created["simulated"],
        "videos": saved["files"],
        "wall_time_s": round(time.monotonic() - started, 2),
    }
