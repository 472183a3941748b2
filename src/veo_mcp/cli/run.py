"""The command line as an MCP client: `veo-mcp generate`, `demo`, `estimate` (and the follow-up commands in
`follow.py`) call the real MCP server's tools on an in-memory session in this process, so a person gets exactly
what an assistant gets - in the terminal's words (`vocabulary.py`): commands and flags, not tools and arguments.

Every expected failure becomes a `CommandFailed` inside the session (it never escapes through the session's task
groups as an exception group); Ctrl-C ends with a sentence that is true for this setup.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client.context import ClientRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Confirm

from veo_mcp.app import App
from veo_mcp.cli.output import FAILED, INTERRUPTED, USAGE_ERROR, CommandFailed, console, emit_json, report_failure
from veo_mcp.cli.views import Fact, path_fact, print_sheet
from veo_mcp.cli.vocabulary import Voice
from veo_mcp.core.generation import spoken_duration
from veo_mcp.errors import NotConfiguredError
from veo_mcp.evolink import catalog
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import Settings

_T = TypeVar("_T")
WAIT_ROUND_S = 30.0


@dataclass
class Session:
    """One command's MCP session: tool calls that return structured content or raise `CommandFailed`."""

    app: App
    client: Client
    settings: Settings
    messages: Console
    flags: bool = False  # the command's arguments are flags (generate, estimate): name them so
    task_id: str | None = None  # the generation this command is about, once known (for TASK and Ctrl-C)
    on_interrupt: Callable[[], str] | None = None  # what is true after Ctrl-C, when the command knows better
    stall_noted: set[str] = field(default_factory=set)

    @property
    def embedded(self) -> bool:
        """The simulator runs inside this process (it and its generations end with the command)."""
        return self.settings.simulate and self.settings.base_url == catalog.DEFAULT_BASE_URL

    def speak(self, text: str) -> str:
        """`text` from the server, in this command's words."""
        return Voice(self.task_id, self.flags).speak(text)

    async def call(self, tool: str, arguments: dict[str, Any], **options: Any) -> dict[str, Any]:
        try:
            result = await self.client.call_tool(tool, arguments, **options)
        except MCPError as error:
            raise CommandFailed(self.speak(error.message)) from None
        if result.is_error or result.structured_content is None:
            text = " ".join(getattr(item, "text", "") for item in result.content) or f"{tool} returned no result"
            # Without a key only what is recorded can be read: that is a setting to give, not a failure.
            code = USAGE_ERROR if NotConfiguredError.default_advice in text else FAILED
            raise CommandFailed(self.speak(text), task_id=self.task_id, exit_code=code)
        return dict(result.structured_content)


def _confirmer(messages: Console, assume_yes: bool) -> Any:
    """Answers the server's cost question: --yes, or the person at the terminal. Without either, the session does
    not offer to ask at all (see `run_session`): nobody was asked, so no "no" is recorded in their name."""

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        if assume_yes:
            return types.ElicitResult(action="accept", content={"confirm": True})
        agreed = await anyio.to_thread.run_sync(lambda: Confirm.ask(params.message, console=messages, default=False))
        return types.ElicitResult(action="accept", content={"confirm": agreed})

    return answer


def interrupted(session: Session | None) -> str:
    """What is true after Ctrl-C, for this setup and how far the command got."""
    if session is not None and session.on_interrupt is not None:
        return session.on_interrupt()
    if session is None or session.task_id is None:
        return "stopped before a generation was known; if a request was being sent, `veo-mcp list` shows it."
    task_id = session.task_id
    if session.embedded:  # the simulated account lives in the data folder: the next command carries on
        return (
            f"stopped waiting. Simulated generation {task_id} goes on (nothing is billed); "
            f"`veo-mcp wait {task_id} --simulate` follows and saves it, `veo-mcp status {task_id} --simulate` shows it."
        )
    return (
        f"stopped waiting. Generation {task_id} keeps rendering at EvoLink (billed when it completes); "
        f"`veo-mcp wait {task_id}` follows and saves it, `veo-mcp status {task_id}` shows it."
    )


def run_session(
    settings: Settings,
    body: Callable[[Session], Awaitable[_T]],
    *,
    as_json: bool,
    assume_yes: bool = False,
    flags: bool = False,
    store_only: bool = False,
) -> _T | int:
    """Run `body` on a fresh app and MCP session; an expected failure or Ctrl-C becomes its exit code.

    `store_only`: without a key the app only reads what is recorded (see `App`), for the read-only commands.
    """
    # The in-memory session speaks 2025-era MCP (like most clients): its legacy notices are expected here.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    messages = console(stderr=True)
    holder: list[Session] = []

    async def main() -> _T | CommandFailed:
        app = App(settings, store_only=store_only)
        # A script (no terminal) without --yes cannot be asked: the server then refuses a costly request with how
        # to confirm it, and records no refusal in the person's name.
        confirm = _confirmer(messages, assume_yes) if assume_yes or sys.stdin.isatty() else None
        async with app.running(), Client(create_server(app), mode="legacy", elicitation_callback=confirm) as client:
            session = Session(app, client, settings, messages, flags=flags)
            holder.append(session)
            try:
                return await body(session)
            except CommandFailed as failure:
                return failure

    try:
        outcome = anyio.run(main)
    except KeyboardInterrupt:
        messages.print(f"veo-mcp: {interrupted(holder[0] if holder else None)}", markup=False)
        return INTERRUPTED
    if isinstance(outcome, CommandFailed):
        return report_failure(outcome, as_json=as_json)
    return outcome


async def follow(session: Session, task_id: str, *, timeout_s: float | None = None) -> dict[str, Any]:
    """Wait (rich progress bar on stderr) until the generation finishes; a stall is noted once, not fatal."""
    session.task_id = task_id
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=session.messages,
        transient=False,
    ) as bars:
        bar = bars.add_task(task_id, total=100)

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            bars.update(bar, completed=progress, description=f"{task_id}: {message or ''}")

        state: dict[str, Any] = {"finished": False}
        while not _settled(state):
            left = WAIT_ROUND_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise CommandFailed(
                    f"{task_id} is still {state.get('status', 'running')} ({state.get('progress', 0)}%) after "
                    f"{spoken_duration(timeout_s or 0)}; it keeps rendering upstream. Run `veo-mcp wait {task_id}` "
                    "again later.",
                    task_id=task_id,
                )
            arguments = {"task_id": task_id, "timeout_seconds": max(1.0, min(WAIT_ROUND_S, left))}
            state = await session.call("wait_for_generation", arguments, progress_callback=on_progress)
            if state.get("stalled") and task_id not in session.stall_noted:
                session.stall_noted.add(task_id)
                later = f"`veo-mcp wait {task_id}{' --simulate' if session.embedded else ''}` resumes later"
                bars.console.print(
                    f"! {task_id} has made no progress for unusually long (at {state['progress']}% after "
                    f"{spoken_duration(state['elapsed_seconds'])}); EvoLink may be stuck. It may still finish: still "
                    f"waiting (Ctrl-C stops waiting; {later}).",
                    markup=False,
                )
        bars.update(bar, completed=state["progress"], description=f"{task_id}: {state['status']}")
    return state


def _settled(state: dict[str, Any]) -> bool:
    """Nothing more to wait for: finished, and a completed one saved (or its save failed, or its links expired)."""
    if not state["finished"] or state["status"] != "completed":
        return bool(state["finished"])
    return bool(state["files"]) or state.get("download_status") in ("failed", "expired")


async def save_finished(session: Session, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The saved videos of a finished generation, or the failure that says why there are none."""
    task_id = state["task_id"]
    if state["status"] != "completed":
        reason = f" ({state['error_code']})" if state.get("error_code") else ""
        raise CommandFailed(f"generation {task_id} {state['status']}{reason}: {next_step(state)}", task_id=task_id)
    try:
        saved = await session.call("download_video", {"task_id": task_id})
    except CommandFailed as failure:
        if failure.exit_code != FAILED:
            raise
        raise CommandFailed(
            f"generation {task_id} is rendered, but saving it failed: {failure.message} `veo-mcp download {task_id}` "
            "tries again (while its links live, 24 h after it completed).",
            task_id=task_id,
        ) from None
    files: list[dict[str, Any]] = saved["files"]
    return files


def next_step(state: dict[str, Any]) -> str:
    """What a person can do about a generation in this state: the server's one next step for it, in commands."""
    step = state.get("next_step") or state.get("advice") or ""
    return Voice(state["task_id"]).speak(step)


def video_facts(videos: list[dict[str, Any]]) -> list[Fact]:
    facts: list[Fact] = []
    for video in videos:
        detail = (
            f"{video['bytes']:,} bytes · {video.get('duration_s') or 0:.1f} s · {video.get('width')}x"
            f"{video.get('height')} · {'sound' if video.get('has_audio') else 'silent'}"
            if "duration_s" in video
            else f"{video['bytes']:,} bytes"
        )
        facts.extend(path_fact(f"video {video['index'] + 1}", video["path"], detail))
    return facts


def usd(value: float | None) -> str:
    """Money for a person: cents ("$0.48"), or "unknown" when EvoLink publishes no price."""
    return "unknown" if value is None else f"${value:,.2f}"


def generate_command(
    settings: Settings,
    arguments: dict[str, Any],
    *,
    as_json: bool,
    assume_yes: bool,
    title: str,
    before: Callable[[Session], Awaitable[None]] | None = None,
) -> int:
    """Generate, wait, save and summarize; the process exit code (0 when a video was saved).

    `before` runs in the session before anything is sent (checks that may refuse the request).
    """

    async def body(session: Session) -> dict[str, Any]:
        if before is not None:
            await before(session)
        started = time.monotonic()
        created = await session.call("generate_video", arguments)
        task_id = session.task_id = created["task_id"]
        if created.get("reused"):
            if arguments.get("request_id") and created.get("request_id") == arguments["request_id"]:
                reason = f"request id {arguments['request_id']!r} was used before"
            else:
                reason = "an identical request was made recently; run again with --allow-duplicate for a new take"
            session.messages.print(
                f"i {task_id}: {reason} - this is that generation; nothing new was charged.", markup=False
            )
        else:
            session.messages.print(f"Started generation {task_id} ({created['cost_summary']}).", markup=False)
        state = await follow(session, task_id)
        videos = await save_finished(session, state)
        return {
            "task_id": task_id,
            "status": state["status"],
            "prompt": state["prompt"],
            "estimated_cost_usd": created["estimated_cost_usd"],
            "simulated": created["simulated"],
            "reused": created["reused"],
            "videos": videos,
            "wall_time_s": round(time.monotonic() - started, 2),
        }

    summary = run_session(settings, body, as_json=as_json, assume_yes=assume_yes, flags=True)
    if isinstance(summary, int):
        return summary
    if as_json:
        emit_json(summary)
        return 0
    facts = [
        Fact("task id", summary["task_id"]),
        Fact("status", summary["status"]),
        Fact("prompt", summary["prompt"]),
        Fact("estimated cost", usd(summary["estimated_cost_usd"])),
        Fact("simulated", "yes (a test pattern; nothing billed)" if summary["simulated"] else "no"),
        Fact("reused", "yes (an earlier generation; nothing new charged)" if summary["reused"] else "no"),
        Fact("took", spoken_duration(summary["wall_time_s"])),
        *video_facts(summary["videos"]),
    ]
    print_sheet(console(stderr=False), title, facts)
    return 0
