"""`veo-mcp demo`: one generation end to end through the real MCP server, against the built-in simulator."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client
from mcp_types import CallToolResult
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from veo_mcp.evolink import catalog
from veo_mcp.server import create_server
from veo_mcp.service import VeoService
from veo_mcp.settings import Settings

DEFAULT_PROMPT = (
    "A red fox trots through fresh snow at dawn, low tracking shot, soft golden light, "
    "the crunch of snow and distant birdsong"
)


def run_demo(*, prompt: str | None, output_dir: str | None, speed: float | None, as_json: bool) -> int:
    base = Settings()
    settings = base.model_copy(
        update={
            "simulate": True,
            "base_url": catalog.DEFAULT_BASE_URL,
            "simulator_speed": speed or base.simulator_speed,
            "output_dir": Path(output_dir) if output_dir else base.output_dir,
            "poll_interval_min_s": 0.1,
            "poll_interval_max_s": 2.0,
        }
    )
    console = Console(stderr=True)
    try:
        summary = anyio.run(_demo, prompt or DEFAULT_PROMPT, settings, console)
    except DemoFailed as failure:
        console.print(f"[red]demo failed:[/red] {failure}")
        return 1
    if as_json:
        print(json.dumps(summary))
    else:
        table = Table(title="veo-mcp demo (simulated: nothing was billed)", show_header=False)
        table.add_column(overflow="fold")
        table.add_column(overflow="fold")
        for key, value in summary.items():
            table.add_row(key, str(value))
        Console().print(table)
    return 0


class DemoFailed(Exception):
    """A tool call of the demo came back as an error."""


def _structured(result: CallToolResult) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(item, "text", "") for item in result.content)
        raise DemoFailed(text or "the tool returned no result")
    return dict(result.structured_content)


async def _demo(prompt: str, settings: Settings, console: Console) -> dict[str, object]:
    """Drive the real MCP server through an MCP client session, as an assistant would."""
    service = VeoService(settings)
    server = create_server(service)
    started = time.monotonic()
    async with service.running(), Client(server, mode="legacy") as session:
        created = _structured(
            await session.call_tool("generate_video", {"prompt": prompt, "aspect_ratio": "16:9", "duration": 4})
        )
        task_id = created["task_id"]
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
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
            raise DemoFailed(f"generation {state['status']}: {state.get('error_code')} - {state.get('advice')}")
        saved = _structured(await session.call_tool("download_video", {"task_id": task_id}))
    video = saved["files"][0]
    return {
        "task_id": task_id,
        "status": state["status"],
        "path": video["path"],
        "bytes": video["bytes"],
        "duration_s": video["duration_s"],
        "resolution": f"{video['width']}x{video['height']}",
        "estimated_cost_usd": created["estimated_cost_usd"],
        "charged_usd": 0.0,
        "simulated": created["simulated"],
        "wall_time_s": round(time.monotonic() - started, 2),
    }
