"""The `veo-mcp` command line: every subcommand, its flags, a description and an example.

Conventions: global flags (`-v`) work before or after the subcommand; a usage error prints one line and the hint
to `--help` and exits 2 (as a JSON object on stdout with `--json`); help is never wrapped narrower than the terminal.
`veo-mcp completion bash|zsh|fish` prints a completion script made by argcomplete from this parser.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from veo_mcp import __version__
from veo_mcp.cli.flags import bounded_int, request_flags
from veo_mcp.cli.output import USAGE_ERROR
from veo_mcp.evolink import catalog

SHELLS = ("bash", "zsh", "fish")


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; examples (text with line breaks) kept line for line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """argparse with a short usage error: one line, the hint to --help, exit 2 (JSON on stdout with --json)."""

    def error(self, message: str) -> NoReturn:
        if "--json" in sys.argv[1:]:
            print(json.dumps({"error": f"{self.prog}: {message}", "exit_code": USAGE_ERROR, "usage": True}))
        else:
            print(
                f"{self.prog}: error: {message}\nRun '{self.prog} --help' for the flags and an example.",
                file=sys.stderr,
            )
        sys.exit(USAGE_ERROR)


def port(text: str) -> int:
    """A TCP port: 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port; use 0 (any free port) to 65535")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not allowed; use a number of seconds above 0")
    return value


def _command(
    commands: Any, name: str, summary: str, description: str, example: str, common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    epilog = "example:\n  " + "\n  ".join(example.splitlines())
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        parents=[common],
        formatter_class=_Formatter,
    )
    return parser


def _simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulate", action="store_true", help="use the built-in simulator (no key needed, nothing billed)"
    )


def _wide(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wide",
        action="store_true",
        help="saved paths in the table, however wide it gets (by default the table fits the terminal and the "
        "paths follow it)",
    )


def _json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON object on stdout")


def _serve(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = _command(
        commands,
        "serve",
        "run the MCP server (stdio by default)",
        "Run the MCP server for an MCP client. Over stdio (what desktop clients start), stdout carries the "
        "protocol and logs go to stderr. Over streamable HTTP it prints its endpoint URL on stderr.",
        "veo-mcp serve\nveo-mcp serve --transport streamable-http --port 8000",
        common,
    )
    serve.add_argument(
        "--transport",
        choices=["stdio", "streamable-http"],
        default="stdio",
        help="stdio (default: for clients that start the server) or streamable-http (an HTTP endpoint at /mcp)",
    )
    serve.add_argument(
        "--host", metavar="HOST", default="127.0.0.1", help="address for streamable HTTP (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", metavar="PORT", type=port, default=8000, help="port for streamable HTTP (default: 8000; 0: any free)"
    )
    _simulate(serve)


def _simulator(commands: Any, common: argparse.ArgumentParser) -> None:
    simulator = _command(
        commands,
        "simulator",
        "run the EvoLink simulator on a loopback port",
        "Run the EvoLink simulator (the API, the file service and /_sim controls) on a loopback port; its base URL "
        "is the first line on stdout. Point EVOLINK_BASE_URL and EVOLINK_FILES_BASE_URL at it and use --simulate.",
        "veo-mcp simulator --port 8765 --speed 30",
        common,
    )
    simulator.add_argument(
        "--host", metavar="HOST", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    simulator.add_argument("--port", metavar="PORT", type=port, default=0, help="0 picks a free port (the default)")
    simulator.add_argument(
        "--speed", metavar="X", type=float, default=1.0, help="times faster than real time (default 1)"
    )
    simulator.add_argument(
        "--api-key", metavar="KEY", default=None, help="accept only this key (default: any non-empty key)"
    )
    simulator.add_argument(
        "--link-ttl", metavar="SECONDS", type=float, default=None, help="result link lifetime in simulated seconds"
    )
    simulator.add_argument(
        "--balance", metavar="USD", type=float, default=None, help="credit in USD (default: unlimited)"
    )
    simulator.add_argument(
        "--result-bytes",
        metavar="BYTES",
        type=int,
        default=None,
        help="pad every result MP4 to this many bytes (benchmarks)",
    )
    simulator.add_argument(
        "--max-active-tasks",
        metavar="N",
        type=bounded_int(1, 10_000),
        default=None,
        help="the account's concurrency limit: creates beyond N running tasks answer 429 (default: none)",
    )
    simulator.add_argument(
        "--allow-private-callbacks",
        action="store_true",
        help="accept callback_url on this machine (loopback), which EvoLink refuses; for trying callbacks locally",
    )


def _generate(commands: Any, common: argparse.ArgumentParser) -> None:
    generate = _command(
        commands,
        "generate",
        "generate one video and save it (progress bar, summary)",
        "Generate one video from the terminal through the same MCP tools an assistant uses: the request and the "
        "output folder are checked before anything is sent, costly ones are confirmed, progress is shown, and the "
        "MP4 is saved to the output folder.",
        'veo-mcp generate "a red kite over dunes at dusk" --duration 8 --quality 1080p\n'
        'veo-mcp generate "the same kite, closer" --image-file ./kite.png --json',
        common,
    )
    request_flags(generate)
    _json(generate, "the summary (or the error)")

    estimate = _command(
        commands,
        "estimate",
        "say what a generate line would cost; sends nothing",
        "Check a request and say what it would cost, without sending anything: the same flags as generate (a "
        "generate line with 'generate' replaced by 'estimate' works as it is), so a cost can be looked at before it "
        "is paid. Needs no API key.",
        'veo-mcp estimate "a red kite over dunes at dusk" --duration 8 --quality 4k\n'
        'veo-mcp estimate "a kite" -n 4 --json',
        common,
    )
    request_flags(estimate)
    _json(estimate, "the estimate (or the error)")

    models = _command(
        commands,
        "models",
        "list the Veo 3.1 models: modes, durations, qualities, prices",
        "List the Veo 3.1 models EvoLink offers with what each can do (modes, durations, qualities, aspect ratios, "
        "images) and costs per second of video. Needs no API key.",
        "veo-mcp models\nveo-mcp models --json",
        common,
    )
    _json(models, "the models")


def _batch(commands: Any, common: argparse.ArgumentParser) -> None:
    batch = _command(
        commands,
        "batch",
        "generate every video of a JSONL or CSV file: one confirmation, a queue, a manifest",
        "Generate every video of a file - JSONL (one generate_video argument object per line) or CSV (a header row "
        "of argument names) - through the same generate_batch tool an assistant uses: every line is checked first, "
        "the total is confirmed once, items are queued under the account's limit, and the videos are saved with "
        "manifest.json and contact-sheet.jpg. Running the same command again resumes without paying twice.",
        "veo-mcp batch ads.jsonl --yes\nveo-mcp batch shots.csv --output-dir ~/Movies/shots --json",
        common,
    )
    batch.add_argument("file", help="the JSONL or CSV file (relative image_files are read from its folder)")
    batch.add_argument(
        "--output-dir", metavar="DIR", default=None, help="where to save (default: a folder named after the file)"
    )
    batch.add_argument("-y", "--yes", action="store_true", help="confirm the total cost without asking")
    _wide(batch)
    _simulate(batch)
    _json(batch, "the manifest (or the error)")


def _follow_ups(commands: Any, common: argparse.ArgumentParser) -> None:
    listing = _command(
        commands,
        "list",
        "list the generations veo-mcp knows, newest first",
        "List the generations in veo-mcp's store (the same list_generations an assistant sees), and creates whose "
        "outcome is unknown.",
        "veo-mcp list\nveo-mcp list --status processing --json",
        common,
    )
    listing.add_argument("--status", choices=catalog.TASK_STATUSES, default=None, help="only this status")
    listing.add_argument(
        "--limit", metavar="N", type=bounded_int(1, 100), default=20, help="how many (1-100, default 20)"
    )
    _wide(listing)
    _simulate(listing)
    _json(listing, "the list")

    status = _command(
        commands,
        "status",
        "show one generation's state",
        "Show one generation: status, progress, whether it stalled, saved files, or why it failed and what to do.",
        "veo-mcp status task-unified-1757000000-abcd1234",
        common,
    )
    status.add_argument("task_id", help="the task id (from generate or list)")
    _simulate(status)
    _json(status, "the state")

    wait = _command(
        commands,
        "wait",
        "wait for a generation to finish, then save it",
        "Follow a generation until it finishes (a progress bar; a note if it stalls), then save its videos as "
        "veo-mcp does automatically. Exits 0 when saved, 1 when it failed or the timeout passed.",
        "veo-mcp wait task-unified-1757000000-abcd1234 --timeout 600",
        common,
    )
    wait.add_argument("task_id", help="the task id (from generate or list)")
    wait.add_argument(
        "--timeout", metavar="SECONDS", type=positive_seconds, default=None, help="give up after this many seconds"
    )
    _simulate(wait)
    _json(wait, "the final state and saved files")

    download = _command(
        commands,
        "download",
        "save a generation's videos (again) into a folder",
        "Save a completed generation's videos into the output folder, or into --output-dir (a copy when they are "
        "already saved elsewhere: nothing is fetched twice).",
        "veo-mcp download task-unified-1757000000-abcd1234 --output-dir ~/Movies/kites",
        common,
    )
    download.add_argument("task_id", help="the task id (from generate or list)")
    download.add_argument(
        "--output-dir", metavar="DIR", default=None, help="folder to save into (default: VEO_MCP_OUTPUT_DIR)"
    )
    _simulate(download)
    _json(download, "the saved files")

    combine = _command(
        commands,
        "combine",
        "join finished generations into one MP4, in order",
        "Join completed generations (each one's first video), in the order given, into one MP4 with their sound: "
        "streams are copied when the clips match, re-encoded otherwise. Without --output the film is saved in the "
        "output folder.",
        "veo-mcp combine task-unified-1757000000-abcd1234 task-unified-1757000060-efgh5678 --output film.mp4",
        common,
    )
    combine.add_argument("task_ids", metavar="TASK", nargs="+", help="two or more task ids, in playing order")
    combine.add_argument("--output", metavar="FILE", default=None, help="where to write the film (an .mp4 path)")
    _simulate(combine)
    _json(combine, "the film's path, size and length")


def _others(commands: Any, common: argparse.ArgumentParser) -> None:
    doctor = _command(
        commands,
        "doctor",
        "check the key, EvoLink, folders and versions; one line each",
        "Check that this machine is ready: the key (never shown, nothing spent), EvoLink and the file service, the "
        "data and output folders, the database and the versions. Exits 1 when something must be fixed.",
        "veo-mcp doctor\nveo-mcp doctor --simulate --json",
        common,
    )
    doctor.add_argument("--simulate", action="store_true", help="check the simulated setup instead")
    _json(doctor, "the checks")

    demo = _command(
        commands,
        "demo",
        "generate one video end to end against the built-in simulator",
        "Generate one video end to end through the MCP server against the built-in simulator: no key, nothing "
        "billed. The test-pattern video is saved in the 'simulated' subfolder of the output folder.",
        'veo-mcp demo\nveo-mcp demo --prompt "a paper boat on a river" --json',
        common,
    )
    demo.add_argument("--prompt", metavar="TEXT", default=None, help="what to generate (a default scene otherwise)")
    demo.add_argument(
        "--output-dir", metavar="DIR", default=None, help="where to save the video (default: VEO_MCP_OUTPUT_DIR)"
    )
    demo.add_argument(
        "--speed", metavar="X", type=float, default=None, help="simulator speed (default: VEO_MCP_SIMULATOR_SPEED)"
    )
    _json(demo, "the summary")

    completion = _command(
        commands,
        "completion",
        "print a shell completion script (bash, zsh or fish)",
        "Print the tab-completion script for your shell (made by argcomplete). Load it from your shell's start-up "
        "file, as in the example.",
        'eval "$(veo-mcp completion bash)"      # in ~/.bashrc\n'
        'eval "$(veo-mcp completion zsh)"       # in ~/.zshrc\n'
        "veo-mcp completion fish | source       # in ~/.config/fish/config.fish",
        common,
    )
    completion.add_argument("shell", choices=SHELLS, help="your shell")


def _users(commands: Any, common: argparse.ArgumentParser) -> None:
    users = _command(
        commands,
        "users",
        "manage the HTTP server's users file (tokens, limits)",
        "Manage the users file of the HTTP server (VEO_MCP_USERS_FILE): each user has a token of their own (only its "
        "SHA-256 is stored), optional limits, and sees only their own generations. The server picks up changes "
        "while it runs.",
        "veo-mcp users add alice --file team.toml --daily-budget 5\nveo-mcp users list --file team.toml",
        common,
    )
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True, help="what to do")
    file_help = "the users file (default: VEO_MCP_USERS_FILE)"
    add = _command(
        actions,
        "add",
        "add a user and print their new token once",
        "Add a user with a new random token. The token is printed once, alone on the last line of stdout; the file "
        "keeps only its hash, so keep the token now (run add again after remove to replace a lost one).",
        "veo-mcp users add alice --file team.toml --daily-budget 5",
        common,
    )
    add.add_argument("name", help="the user's name: letters, digits, '.', '_' or '-' (also their output folder)")
    add.add_argument("--file", metavar="FILE", default=None, help=file_help)
    add.add_argument("--daily-budget", metavar="USD", type=float, default=None, help="this user's daily budget")
    add.add_argument(
        "--confirm-above", metavar="USD", type=float, default=None, help="ask this user to confirm above this cost"
    )
    listing = _command(
        actions,
        "list",
        "list the users and their limits",
        "List the users of the file with their limits (never their tokens or hashes).",
        "veo-mcp users list --file team.toml",
        common,
    )
    listing.add_argument("--file", metavar="FILE", default=None, help=file_help)
    _json(listing, "the users")
    remove = _command(
        actions,
        "remove",
        "remove a user (their token stops working)",
        "Remove a user: their token stops working at their next request. Their generations and videos stay.",
        "veo-mcp users remove alice --file team.toml",
        common,
    )
    remove.add_argument("name", help="the user to remove")
    remove.add_argument("--file", metavar="FILE", default=None, help=file_help)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details to stderr"
    )
    common.add_argument("--version", action="version", version=f"veo-mcp {__version__}", help="print the version")
    parser = Parser(
        prog="veo-mcp",
        description="MCP server for Google Veo 3.1 video generation through EvoLink. Without a command, and with "
        "stdin not a terminal (an MCP client starting it), it serves MCP over stdio.",
        epilog='example:\n  veo-mcp demo\n  veo-mcp generate "a red kite over dunes at dusk"\n  veo-mcp serve',
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"veo-mcp {__version__}", help="print the version")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_generate, _batch, _follow_ups, _others, _serve, _simulator, _users):
        add(commands, common)
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line; answers shell completion requests (argcomplete) before anything else."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (argcomplete answers and exits)
        import argcomplete

        argcomplete.autocomplete(parser)
    return parser.parse_args(argv)


def completion_script(shell: str) -> str:
    from argcomplete.shell_integration import shellcode

    return shellcode(["veo-mcp"], shell=shell)
