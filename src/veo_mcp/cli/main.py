"""The `veo-mcp` command: `serve`, `generate`, `batch`, `list`, `status`, `wait`, `download`, `doctor`, `demo`,
`simulator`, `completion` (the flags are in `parser.py`).

Heavy imports (the MCP SDK, PyAV, uvicorn) happen inside the subcommand that needs them, so `--help` is instant.
Only the protocol writes to stdout under `serve`; everything else a person reads goes to stderr there. No expected
failure ends in a traceback: a settings error exits 2 with one line, a failed command 1, Ctrl-C 130; anything
unexpected is one line too (the traceback follows with `-v`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from veo_mcp.cli.output import FAILED, INTERRUPTED, USAGE_ERROR, CommandFailed, quiet_broken_pipe, report_failure
from veo_mcp.cli.parser import completion_script, parse

if TYPE_CHECKING:
    from veo_mcp.cli.run import Session
    from veo_mcp.settings import Settings


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    verbose = bool(getattr(args, "verbose", False))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        (logging.Formatter if verbose else _OneLine)("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])
    as_json = bool(getattr(args, "json", False))
    with quiet_broken_pipe():
        code = _guarded(args, as_json=as_json, verbose=verbose)
    sys.exit(code)


class _OneLine(logging.Formatter):
    """Log lines without tracebacks: a person running a command reads one line per problem (-v adds them)."""

    def formatException(self, ei: object) -> str:
        return ""

    def formatStack(self, stack_info: str) -> str:
        return ""


def _guarded(args: argparse.Namespace, *, as_json: bool, verbose: bool) -> int:
    from veo_mcp.cli.vocabulary import speak
    from veo_mcp.errors import VeoError
    from veo_mcp.settings import SettingsError

    try:
        return _dispatch(args)
    except SettingsError as error:
        # A server started by an MCP client reads its client's config; every other command, this shell's settings.
        text = str(error) if args.command == "serve" else speak(str(error))
        return report_failure(CommandFailed(text, exit_code=USAGE_ERROR), as_json=as_json)
    except KeyboardInterrupt:
        print("veo-mcp: stopped.", file=sys.stderr)
        return INTERRUPTED
    except (BrokenPipeError, SystemExit):
        raise
    except Exception as error:  # the last line of defence: one line, never a traceback unless asked
        cause = _innermost(error)
        if isinstance(cause, CommandFailed):
            return report_failure(cause, as_json=as_json)
        if isinstance(cause, VeoError):
            return report_failure(CommandFailed(speak(str(cause))), as_json=as_json)
        from veo_mcp.storage.database import StoreError

        if isinstance(cause, StoreError):  # the database cannot be used: its own words say which and what to do
            return report_failure(CommandFailed(str(cause)), as_json=as_json)
        if verbose:
            traceback.print_exception(error)
        hint = "" if verbose else " (run again with -v for the details)"
        message = f"unexpected error: {type(cause).__name__}: {cause}{hint}"
        return report_failure(CommandFailed(message), as_json=as_json)


def _innermost(error: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    from veo_mcp.settings import load_settings

    flags = {"simulate": "--simulate", "output_dir": "--output-dir"}
    output_dir = getattr(args, "output_dir", None)
    return load_settings(
        flags,
        simulate=True if getattr(args, "simulate", False) else None,
        output_dir=Path(output_dir).expanduser().resolve() if output_dir else None,
        **overrides,
    )


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "simulator":
        from veo_mcp.simulator.serve import run_simulator

        run_simulator(
            host=args.host,
            port=args.port,
            speed=args.speed,
            api_key=args.api_key,
            link_ttl_s=args.link_ttl,
            balance_usd=args.balance,
            result_bytes=args.result_bytes,
            max_active_tasks=args.max_active_tasks,
            allow_private_callbacks=args.allow_private_callbacks,
        )
        return 0
    if command == "completion":
        print(completion_script(args.shell))
        return 0
    if command == "demo":
        from veo_mcp.cli.demo import run_demo

        return run_demo(prompt=args.prompt, output_dir=args.output_dir, speed=args.speed, as_json=args.json)
    if command == "doctor":
        from veo_mcp.cli.doctor import run_doctor

        return run_doctor(simulate=args.simulate, as_json=args.json)
    if command in ("generate", "estimate"):
        return _generate(args)
    if command == "models":
        from veo_mcp.cli.catalog import models_command

        return models_command(as_json=args.json)
    if command in ("list", "status", "wait", "download", "combine"):
        return _follow(args)
    if command == "batch":
        from veo_mcp.cli.batch import batch_command

        return batch_command(args, _settings(args))
    if command == "users":
        from veo_mcp.cli.users import users_command

        return users_command(args)
    if command == "serve":
        from veo_mcp.cli.serve import run_server

        run_server(transport=args.transport, host=args.host, port=args.port, simulate=args.simulate)
        return 0
    if sys.stdin.isatty():
        from veo_mcp.cli.parser import build_parser

        build_parser().print_help(sys.stderr)
        return USAGE_ERROR
    # Started by an MCP client (`uvx veo-mcp`, `pipx run veo-mcp`): stdin is a pipe, so serve over stdio.
    from veo_mcp.cli.serve import run_server

    run_server(transport="stdio", host="127.0.0.1", port=8000, simulate=False)
    return 0


def _follow(args: argparse.Namespace) -> int:
    from veo_mcp.cli import follow

    read_only = {"auto_download": False} if args.command in ("list", "status") else {}
    settings = _settings(args, **read_only)
    if args.command == "list":
        return follow.list_command(settings, status=args.status, limit=args.limit, wide=args.wide, as_json=args.json)
    if args.command == "status":
        return follow.status_command(settings, task_id=args.task_id, as_json=args.json)
    if args.command == "wait":
        return follow.wait_command(settings, task_id=args.task_id, timeout_s=args.timeout, as_json=args.json)
    if args.command == "combine":
        if len(args.task_ids) < 2:
            raise CommandFailed(
                "combine joins two or more generations: give at least two TASK ids, in playing order.",
                exit_code=USAGE_ERROR,
            )
        output = Path(args.output).expanduser().resolve() if args.output else None
        if output is not None and output.suffix.lower() != ".mp4":
            raise CommandFailed(
                f"--output {args.output}: the film is an MP4; end the name in .mp4.", exit_code=USAGE_ERROR
            )
        return follow.combine_command(settings, task_ids=args.task_ids, output=output, as_json=args.json)
    return follow.download_command(settings, task_id=args.task_id, as_json=args.json)


def _request_arguments(args: argparse.Namespace) -> dict[str, object]:
    """generate_video's arguments from the flags: only those given, so the tool's defaults and mode rules apply."""
    options = {
        "model": args.model,
        "duration": args.duration,
        "quality": args.quality,
        "aspect_ratio": args.aspect_ratio,
        "n": args.count,
        "image_files": [str(Path(p).expanduser().resolve()) for p in args.image_file] if args.image_file else None,
        "image_urls": args.image_url,
        "generation_type": args.generation_type,
        "negative_prompt": args.negative_prompt,
        "seed": args.seed,
    }
    arguments: dict[str, object] = {"prompt": args.prompt, **{k: v for k, v in options.items() if v is not None}}
    if args.no_audio:
        arguments["generate_audio"] = False
    return arguments


def _generate(args: argparse.Namespace) -> int:
    from veo_mcp.cli import checks

    settings = _settings(args)
    arguments = _request_arguments(args)
    if args.command == "estimate":
        from veo_mcp.cli.catalog import estimate_command

        return estimate_command(settings, arguments, as_json=args.json)
    checks.require_upstream(settings)
    request_id = args.request_id
    if request_id is not None:
        arguments["request_id"] = request_id
    if args.allow_duplicate:
        arguments["allow_duplicate"] = True

    async def before(session: Session) -> None:
        request = await checks.checked_request(settings, arguments)
        await checks.check_request_id(session.app, request, request_id)
        checks.check_output_folder(settings, simulated=session.app.simulated)

    from veo_mcp.cli.run import generate_command

    title = "veo-mcp generate" + (" (simulated: nothing was billed)" if settings.simulate else "")
    return generate_command(settings, arguments, as_json=args.json, assume_yes=args.yes, title=title, before=before)


__all__ = ["FAILED", "main"]
