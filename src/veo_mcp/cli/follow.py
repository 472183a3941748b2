"""`veo-mcp list`, `status TASK`, `wait TASK`, `download TASK` and `combine TASK…`: following generations from the
terminal.

Each is a short MCP session on the same store as the server (the same tools an assistant calls, with their rules),
printing a sheet or a table or, with `--json`, the tool's structured result with a `next_step` in commands. `list`
and `status` only read: they never start saving videos in the background, and without an API key they show what is
recorded (as do `download` and `combine` for videos already saved); `wait` needs the key only while the generation
is unfinished.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from veo_mcp.cli.output import USAGE_ERROR, CommandFailed, console, emit_json, left_to_show
from veo_mcp.cli.run import Session, follow, next_step, run_session, save_finished, usd, video_facts
from veo_mcp.cli.views import Column, Fact, age, path_fact, print_sheet, print_table
from veo_mcp.cli.vocabulary import Voice, key_for_the_shell
from veo_mcp.core.generation import spoken_duration
from veo_mcp.settings import Settings


def has_upstream(settings: Settings) -> bool:
    """Whether EvoLink (or a simulator) can be asked: a key, or simulation."""
    return settings.simulate or settings.api_key is not None


def _note_offline(session: Session, what: str) -> None:
    if not has_upstream(session.settings):
        session.messages.print(
            f"note: no API key in this shell, so this is {what} as last recorded here (EvoLink was not asked).",
            markup=False,
        )


def _run(settings: Settings, body: Any, as_json: bool) -> Any:
    return run_session(settings, body, as_json=as_json, store_only=not has_upstream(settings))


def list_command(settings: Settings, *, status: str | None, limit: int, wide: bool, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        _note_offline(session, "the list")
        arguments: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
        return await session.call("list_generations", arguments)

    result = left_to_show(_run(settings, body, as_json), as_json=as_json)
    if isinstance(result, int):
        return result
    out = console(stderr=False)
    if not result["generations"] and not result["unconfirmed"]:
        out.print("No generations yet: `veo-mcp generate PROMPT` makes one.", markup=False, soft_wrap=True)
        return 0
    shown = len(result["generations"])
    title = f"{result['total']} generation(s), newest first" + (
        f" (the first {shown})" if shown < result["total"] else ""
    )
    columns = [
        Column("TASK ID"),
        Column("STATUS"),
        Column("DONE", justify="right"),
        Column("AGE"),
        Column("PROMPT", wraps=True),
    ]
    rows = [
        [
            item["task_id"],
            item["status"] + (" (stalled)" if item["stalled"] else ""),
            f"{item['progress']}%",
            age(item["created_at"]),
            item["prompt"],
        ]
        for item in result["generations"]
    ]
    print_table(out, title, columns, rows, [item["files"] for item in result["generations"]], wide=wide)
    for unknown in result["unconfirmed"]:
        out.print(
            f"! a create sent {unknown['sent_at']} ({unknown['prompt'][:60]!r}) has an unknown outcome: "
            f"{Voice().speak(unknown['advice'])}",
            markup=False,
            soft_wrap=True,
        )
    return 0


def state_facts(state: dict[str, Any], videos: list[dict[str, Any]] | None = None) -> list[Fact]:
    """A generation's state, one fact a line; `videos` (from a save) describe the files better than the state."""
    progress = f"{state['progress']}%"
    if state.get("stalled"):
        progress += " - stalled (no progress for unusually long)"
    elif state.get("eta_seconds"):
        progress += f", about {state['eta_seconds']} s left"
    facts = [
        Fact("status", state["status"]),
        Fact("progress", progress),
        Fact("elapsed", spoken_duration(state.get("elapsed_seconds", 0))),
        Fact("prompt", state["prompt"]),
        Fact("model", state["model"]),
    ]
    if state.get("estimated_cost_usd") is not None:
        facts.append(Fact("estimated cost", usd(state["estimated_cost_usd"])))
    if videos:
        facts.extend(video_facts(videos))
    else:
        for saved in state.get("files", []):
            facts.extend(path_fact(f"video {saved['index'] + 1}", saved["path"], f"{saved['bytes']:,} bytes"))
    if state.get("results_expire_at") and not state.get("files"):
        facts.append(Fact("links expire", state["results_expire_at"]))
    if state.get("error_code"):
        facts.append(Fact("error", f"{state['error_code']}: {state.get('error_message') or ''}".strip()))
    if state.get("simulated"):
        facts.append(Fact("simulated", "yes (a test pattern; nothing billed)"))
    facts.append(Fact("next", next_step(state)))
    return facts


def _with_next_step(state: dict[str, Any]) -> dict[str, Any]:
    """The tool's state for `--json`, its advice in commands and with the command line's next step."""
    advice = state.get("advice")
    spoken = Voice(state["task_id"]).speak(advice) if advice else advice
    return {**state, "advice": spoken, "next_step": next_step(state)}


def status_command(settings: Settings, *, task_id: str, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        _note_offline(session, "its state")
        session.task_id = task_id
        return await session.call("get_generation", {"task_id": task_id})

    state = _run(settings, body, as_json)
    if isinstance(state, int):
        return state
    if as_json:
        emit_json(_with_next_step(state))
    else:
        print_sheet(console(stderr=False), state["task_id"], state_facts(state))
    return 0


def wait_command(settings: Settings, *, task_id: str, timeout_s: float | None, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        session.task_id = task_id
        if not has_upstream(session.settings):
            recorded = await session.call("get_generation", {"task_id": task_id})
            if not recorded["finished"]:
                raise CommandFailed(
                    f"{task_id} is {recorded['status']} ({recorded['progress']}%) as last recorded; waiting for it "
                    f"means asking EvoLink, and no API key is set in this shell. {key_for_the_shell()}",
                    task_id=task_id,
                    exit_code=USAGE_ERROR,
                )
        state = await follow(session, task_id, timeout_s=timeout_s)
        videos = await save_finished(session, state)
        final = await session.call("get_generation", {"task_id": task_id})  # the state with its saved files
        return {**_with_next_step(final), "videos": videos}

    result = left_to_show(_run(settings, body, as_json), as_json=as_json)
    if isinstance(result, int):
        return result
    print_sheet(console(stderr=False), result["task_id"], state_facts(result, result["videos"]))
    return 0


def download_command(settings: Settings, *, task_id: str, as_json: bool) -> int:
    async def body(session: Session) -> dict[str, Any]:
        session.task_id = task_id
        return await session.call("download_video", {"task_id": task_id})

    saved = left_to_show(_run(settings, body, as_json), as_json=as_json)
    if isinstance(saved, int):
        return saved
    print_sheet(console(stderr=False), f"{task_id}: saved", video_facts(saved["files"]))
    return 0


def combine_command(settings: Settings, *, task_ids: list[str], output: Path | None, as_json: bool) -> int:
    """Join the generations' first videos, in order, into one MP4 (`combine_videos`), then move it to `output`."""

    async def body(session: Session) -> dict[str, Any]:
        arguments: dict[str, Any] = {"task_ids": task_ids}
        if output is not None:
            arguments["file_name"] = output.name
        joined = await session.call("combine_videos", arguments)
        if output is not None and Path(joined["path"]) != output:
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                moved = shutil.move(joined["path"], output)
            except OSError as error:
                raise CommandFailed(
                    f"the clips were joined into {joined['path']}, but it could not be moved to {output}: "
                    f"{error.strerror or error}. Move it yourself, or give another --output."
                ) from None
            joined = {**joined, "path": str(moved)}
        return joined

    joined = left_to_show(_run(settings, body, as_json), as_json=as_json)
    if isinstance(joined, int):
        return joined
    facts = [
        *path_fact("video", joined["path"], f"{joined['bytes']:,} bytes · {joined['duration']:.1f} s"),
        Fact("joined", ", ".join(task_ids)),
        Fact("how", "streams copied as they are" if joined["method"] == "remux" else "re-encoded (the clips differed)"),
    ]
    print_sheet(console(stderr=False), f"{len(task_ids)} clips joined", facts)
    return 0
