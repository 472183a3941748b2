"""`veo-mcp demo`: one generation end to end against the built-in simulator, nothing billed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import anyio
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from veo_mcp.evolink import EvoLinkClient, EvoLinkError, estimate_cost, parse_video_request
from veo_mcp.evolink.polling import poll_interval_for
from veo_mcp.files import video_file_name
from veo_mcp.settings import Settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

DEFAULT_PROMPT = (
    "A red fox trots through fresh snow at dawn, low tracking shot, soft golden light, "
    "the crunch of snow and distant birdsong"
)


def run_demo(*, prompt: str | None, output_dir: str | None, speed: float | None, as_json: bool) -> int:
    settings = Settings()
    console = Console(stderr=True)
    try:
        summary = anyio.run(
            _demo,
            prompt or DEFAULT_PROMPT,
            Path(output_dir) if output_dir else settings.output_dir,
            speed or settings.simulator_speed,
            console,
        )
    except EvoLinkError as error:
        console.print(f"[red]demo failed:[/red] {error}")
        return 1
    if as_json:
        print(json.dumps(summary))
    else:
        table = Table(title="veo-mcp demo (simulated: nothing was billed)", show_header=False)
        for key, value in summary.items():
            table.add_row(key, str(value))
        Console().print(table)
    return 0


async def _demo(prompt: str, output_dir: Path, speed: float, console: Console) -> dict[str, object]:
    simulator = Simulator(SimulatorConfig(speed=speed))
    request = parse_video_request({"prompt": prompt, "aspect_ratio": "16:9", "duration": 4})
    estimate = estimate_cost(request)
    started = time.monotonic()
    async with EvoLinkClient(
        api_key="simulator", base_url=IN_PROCESS_BASE_URL, transport=SimulatorTransport(simulator)
    ) as client:
        task = await client.create_generation(request)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task(f"{task.id}: {task.status}", total=100)
            while not task.finished:
                await anyio.sleep(poll_interval_for(task, min_s=0.1, max_s=2.0))
                task = await client.get_task(task.id)
                progress.update(bar, completed=task.progress, description=f"{task.id}: {task.status}")
        if task.status != "completed":
            code = task.error.code if task.error else "unknown"
            console.print(f"[red]generation {task.status}:[/red] {code}")
            raise SystemExit(1)
        destination = output_dir / video_file_name(task.id, prompt, 0)
        saved = await client.download(task.results[0], destination)
    return {
        "task_id": task.id,
        "status": task.status,
        "path": str(saved.path),
        "bytes": saved.bytes,
        "duration_s": request.effective_duration,
        "quality": request.quality,
        "estimated_cost_usd": estimate.usd,
        "charged_usd": 0.0,
        "simulated": True,
        "wall_time_s": round(time.monotonic() - started, 2),
    }


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(prompt=None, output_dir=None, speed=None, as_json=False))
