"""The words of the terminal: what the MCP tools tell an assistant, said to the person at the command line.

The commands are MCP clients of the same server, so refusals and advice arrive in the assistant's terms: tool names
("call wait_for_generation again"), tool arguments ("image_files[0]", "confirm_cost: true") and sentences about
"the user". The server keeps those words (they are right for an assistant); this module is the one place they
become command lines and flags ("run `veo-mcp wait TASK` again", "--image-file #1", "--yes") for a person.

`speak(text, ...)` rewrites a message: sentences addressed to an assistant first (whole phrases, from the core's own
wording), then tool names, then argument names. Argument names become flags only for commands whose arguments are
flags (`generate`, `estimate`); in `batch` the file's own field names are the right words and stay.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from veo_mcp.errors import NotConfiguredError
from veo_mcp.evolink.errors import InvalidRequestError
from veo_mcp.settings import SettingsError, settings_files


def settings_file() -> str:
    """The settings file every veo-mcp command reads (this platform's config folder), with the home folder as ~."""
    path, home = str(settings_files()[0]), str(Path.home())
    return "~" + path.removeprefix(home) if path.startswith(home + os.sep) else path


def key_for_the_shell() -> str:
    """How to give the terminal's commands a key (where settings for the terminal live)."""
    return (
        "Give it to this shell: `export EVOLINK_API_KEY=your-key` (or a line EVOLINK_API_KEY=your-key in "
        f"{settings_file()}, which every veo-mcp command reads), or add --simulate to try it with the built-in "
        "simulator. A key in your MCP client's config reaches only the server that client starts."
    )


# tool → the command that does the same for a person ({task} is the generation the message is about)
COMMANDS: dict[str, str] = {
    "generate_video": "veo-mcp generate PROMPT",
    "estimate_cost": "veo-mcp estimate PROMPT",
    "list_models": "veo-mcp models",
    "get_generation": "veo-mcp status {task}",
    "wait_for_generation": "veo-mcp wait {task}",
    "download_video": "veo-mcp download {task}",
    "list_generations": "veo-mcp list",
    "generate_batch": "veo-mcp batch FILE",
    "get_batch": "veo-mcp batch FILE",
    "wait_for_batch": "veo-mcp batch FILE",
    "combine_videos": "veo-mcp combine TASK TASK…",
}

# generate_video's arguments → the flags of `veo-mcp generate` / `estimate` (None: the positional PROMPT)
FLAGS: dict[str, str] = {
    "prompt": "PROMPT",
    "model": "--model",
    "aspect_ratio": "--aspect-ratio",
    "duration": "--duration",
    "quality": "--quality",
    "n": "--count",
    "image_urls": "--image-url",
    "image_files": "--image-file",
    "generation_type": "--generation-type",
    "negative_prompt": "--negative-prompt",
    "seed": "--seed",
    "request_id": "--request-id",
    "allow_duplicate": "--allow-duplicate",
    "confirm_cost": "--yes",
    "timeout_seconds": "--timeout",
}
# Arguments a person cannot set from the command line: named as what they are, not as a flag that does not exist.
_NO_FLAG: dict[str, str] = {
    "enhance_prompt": "prompt enhancement",
    "person_generation": "person generation",
    "resize_mode": "resize mode",
    "callback_url": "the callback URL",
}

Rewrite = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _phrase(text: str) -> re.Pattern[str]:
    return re.compile(re.escape(text))


# Sentences written to an assistant about "the user", said to the person instead (the core's exact words).
_PHRASES: list[Rewrite] = [
    (_phrase(NotConfiguredError.default_advice), lambda m: key_for_the_shell()),
    (_phrase("The user did not confirm the cost"), "You did not confirm the cost"),
    (
        _phrase("Ask what they would like instead, e.g. a shorter or lower-quality video (estimate_cost)."),
        "Try a shorter or lower-quality video (`veo-mcp estimate` shows a cost before anything is sent), or pass "
        "--yes to confirm this one.",
    ),
    (_phrase("The user declined this exact request"), "You declined this exact request"),
    (
        _phrase(
            "Ask the user whether they want it at this cost; calling again with the same arguments asks them again."
        ),
        "Run the same command again to be asked again, or with --yes to confirm.",
    ),
    (
        _phrase("Ask the user what they want instead (a shorter, lower-quality or different video); a changed "),
        "Change the request (a shorter, lower-quality or different video): a changed ",
    ),
    (
        re.compile(r"Show the user this cost and ask; if they agree, call \w+ again with the same arguments and "),
        "If you want it, run the same command again with ",
    ),
    (re.compile(r" Generate it(?: anyway)?\? Nothing was sent\."), " Nothing was sent."),
    (
        re.compile(r"Tell the user it is taking unusually long; check later with get_generation \(task_id '([^']+)'\)"),
        r"Check again later with `veo-mcp status \1`",
    ),
    (_phrase("Done: the video is saved at the path in files."), "Done: the video is saved."),
    (_phrase("in the server's environment and restart it"), lambda m: f"in this shell (or in {settings_file()})"),
    (_phrase("in the MCP server's environment"), "in this shell"),
    (
        _phrase(SettingsError.default_advice),
        lambda m: f"Fix it in this shell, in {settings_file()} or on the command line, and run the command again.",
    ),
    (_phrase("in the server's environment."), lambda m: f"in this shell (or in {settings_file()})."),
    (
        re.compile(r"use one from generate_video or list_generations \(it lists the generations you created\)"),
        "use one `veo-mcp generate` printed or `veo-mcp list` shows",
    ),
    (re.compile(r"\((?:see )?list_models\)"), "(`veo-mcp models` lists them)"),
    (_phrase(InvalidRequestError.default_advice), "Fix it and run the command again; nothing was charged."),
    (
        re.compile(r"generate_audio: true is not available on (\S+); use false\."),
        r"sound is not available on \1; add --no-audio.",
    ),
]


# Argument names every command translates (no command has them as flags: they are its positional TASKs).
_ALWAYS: list[Rewrite] = [(re.compile(r"\btask_ids?\b"), lambda m: "task ids" if m[0].endswith("s") else "task id")]


def _ordinal(index: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(index, f"#{index}")


@dataclass(frozen=True, slots=True)
class Voice:
    """How one command speaks: the generation it is about (for TASK) and whether its arguments are flags."""

    task_id: str | None = None
    flags: bool = False

    def command(self, tool: str, task_id: str | None = None) -> str:
        return COMMANDS[tool].format(task=task_id or self.task_id or "TASK")

    def _tools(self) -> list[Rewrite]:
        names = "|".join(sorted(COMMANDS, key=len, reverse=True))
        # "again" before or after the task: kept either way, after the command.
        with_task = rf"({names})( again)? with task_id '([^']+)'( again)?"
        return [
            (
                re.compile(rf"\b([Cc])all {with_task}"),
                lambda m: (
                    f"{'R' if m[1] == 'C' else 'r'}un `{self.command(m[2], m[4])}`" + (" again" if m[3] or m[5] else "")
                ),
            ),
            (
                re.compile(rf"\b([Cc])all ({names})\b"),
                lambda m: f"{'R' if m[1] == 'C' else 'r'}un `{self.command(m[2])}`",
            ),
            (
                re.compile(rf"\b{with_task}"),
                lambda m: f"`{self.command(m[1], m[3])}`" + (" again" if m[2] or m[4] else ""),
            ),
            (re.compile(rf"\b({names})\b"), lambda m: f"`{self.command(m[1])}`"),
        ]

    def _arguments(self) -> list[Rewrite]:
        rewrites: list[Rewrite] = [
            (re.compile(r"\b(allow_duplicate|confirm_cost): true\b"), lambda m: FLAGS[m[1]]),
            (
                re.compile(r"\b(image_files|image_urls)\[(\d+)\]"),
                lambda m: f"{FLAGS[m[1]]} ({_ordinal(int(m[2]) + 1)})",
            ),
            (
                re.compile(r"\bGive either image_urls or image_files\b", re.IGNORECASE),
                lambda m: f"{m[0][0]}ive either --image-url or --image-file",
            ),
        ]
        snake = "|".join(name for name in (*FLAGS, *_NO_FLAG) if "_" in name)
        rewrites.append((re.compile(rf"\b({snake})\b"), lambda m: FLAGS.get(m[1]) or _NO_FLAG[m[1]]))
        words = "|".join(name for name in FLAGS if "_" not in name)
        # Plain words (duration, model, n) are flags only where they name an argument: "duration: 6 …", "leave
        # duration out".
        rewrites.append((re.compile(rf"(^|[.;:] |\()({words}):"), lambda m: f"{m[1]}{FLAGS[m[2]]}:"))
        rewrites.append((re.compile(rf"\bleave ({words}) out\b"), lambda m: f"leave {FLAGS[m[1]]} out"))
        return rewrites

    def speak(self, text: str) -> str:
        """`text` (a refusal, advice, a next step) in this command's terms."""
        rewrites = [*_PHRASES, *self._tools(), *(self._arguments() if self.flags else []), *_ALWAYS]
        for pattern, replacement in rewrites:
            text = pattern.sub(replacement, text)
        return text


def speak(text: str, *, task_id: str | None = None, flags: bool = False) -> str:
    return Voice(task_id, flags).speak(text)
