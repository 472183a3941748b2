"""The `veo-mcp` command: `serve`, `generate`, `doctor`, `demo`, `simulator`.

Heavy imports (the MCP SDK, PyAV, uvicorn) happen inside the subcommand that needs them, so `--help` is instant.
Only the protocol writes to stdout under `serve`; everything else a person reads goes to stderr there.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from veo_mcp import __version__
from veo_mcp.evolink import catalog


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="veo-mcp",
        description="MCP server for Google Veo 3.1 video generation through EvoLink. Without a command, and with "
        "stdin not a terminal (an MCP client starting it), it serves MCP over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"veo-mcp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="address for streamable HTTP (default: loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port for streamable HTTP")
    serve.add_argument(
        "--simulate", action="store_true", help="use the built-in simulator as upstream (no key, nothing billed)"
    )

    simulator = commands.add_parser("simulator", help="run the EvoLink simulator on a loopback port")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=0, help="0 picks a free port (the default)")
    simulator.add_argument("--speed", type=float, default=1.0, help="times faster than real time (default 1)")
    simulator.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    simulator.add_argument("--link-ttl", type=float, default=None, help="result link lifetime in simulated seconds")
    simulator.add_argument("--balance", type=float, default=None, help="credit in USD (default: unlimited)")
    simulator.add_argument(
        "--result-bytes", type=int, default=None, help="pad every result MP4 to this many bytes (benchmarks)"
    )

    generate = commands.add_parser(
        "generate", help="generate one video from the command line and save it (progress bar, summary table)"
    )
    generate.add_argument("prompt", help="what the video shows (quote it)")
    generate.add_argument("--model", default=None, help=f"model (default {catalog.DEFAULT_MODEL})")
    generate.add_argument("--duration", type=int, choices=catalog.DURATIONS, default=None, help="seconds")
    generate.add_argument("--quality", choices=catalog.QUALITIES, default=None)
    generate.add_argument("--aspect-ratio", choices=catalog.ASPECT_RATIOS, default=None)
    generate.add_argument("-n", "--count", type=int, default=None, help="how many videos (1-4)")
    generate.add_argument("--no-audio", action="store_true", help="silent video (cheaper)")
    generate.add_argument("--image-file", action="append", default=None, help="local first/last frame (repeatable)")
    generate.add_argument("--image-url", action="append", default=None, help="public image URL (repeatable)")
    generate.add_argument("--generation-type", choices=catalog.GENERATION_TYPES, default=None)
    generate.add_argument("--negative-prompt", default=None)
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument("--request-id", default=None, help="retry-safe id: the same id never pays twice")
    generate.add_argument("--output-dir", default=None, help="where to save (default: VEO_MCP_OUTPUT_DIR)")
    generate.add_argument("-y", "--yes", action="store_true", help="confirm the cost without asking")
    generate.add_argument("--simulate", action="store_true", help="use the built-in simulator (nothing billed)")
    generate.add_argument("--json", action="store_true", help="print one JSON summary instead of a table")

    doctor = commands.add_parser("doctor", help="check the key, EvoLink, folders and versions; one line each")
    doctor.add_argument("--simulate", action="store_true", help="check the simulated setup instead")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")

    demo = commands.add_parser("demo", help="generate one video end to end against the built-in simulator")
    demo.add_argument("--prompt", default=None, help="what to generate (a default scene otherwise)")
    demo.add_argument("--output-dir", default=None, help="where to save the video (default: VEO_MCP_OUTPUT_DIR)")
    demo.add_argument("--speed", type=float, default=None, help="simulator speed (default: VEO_MCP_SIMULATOR_SPEED)")
    demo.add_argument("--json", action="store_true", help="print one JSON summary instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from veo_mcp.settings import SettingsError

    try:
        _dispatch(args)
    except SettingsError as error:
        print(f"veo-mcp: {error}", file=sys.stderr, flush=True)
        sys.exit(2)


def _dispatch(args: argparse.Namespace) -> None:
    if args.command == "simulator":
        from veo_mcp.simulator.serve import run_simulator

        run_simulator(
            host=args.host,
            port=args.port,
            speed=args.speed,
            api_key=args.api_key,
            link_ttl_s=args.link_ttl,
            balance_usd=args.balance,
            result_bytes=args.result_bytes,
        )
    elif args.command == "demo":
        from veo_mcp.cli.demo import run_demo

        sys.exit(run_demo(prompt=args.prompt, output_dir=args.output_dir, speed=args.speed, as_json=args.json))
    elif args.command == "generate":
        sys.exit(_generate(args))
    elif args.command == "doctor":
        from veo_mcp.cli.doctor import run_doctor

        sys.exit(run_doctor(simulate=args.simulate, as_json=args.json))
    elif args.command == "serve":
        from veo_mcp.cli.serve import run_server

        run_server(transport=args.transport, host=args.host, port=args.port, simulate=args.simulate)
    elif sys.stdin.isatty():
        _parser().print_help(sys.stderr)
        sys.exit(2)
    else:
        # Started by an MCP client (`uvx veo-mcp`, `pipx run veo-mcp`): stdin is a pipe, so serve over stdio.
        from veo_mcp.cli.serve import run_server

        run_server(transport="stdio", host="127.0.0.1", port=8000, simulate=False)


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from veo_mcp.cli.run import run
    from veo_mcp.settings import load_settings

    settings = load_settings(
        {"simulate": "--simulate", "output_dir": "--output-dir"},
        simulate=True if args.simulate else None,
        output_dir=Path(args.output_dir).expanduser().resolve() if args.output_dir else None,
    )
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
        "request_id": args.request_id,
    }
    arguments: dict[str, object] = {"prompt": args.prompt, **{k: v for k, v in options.items() if v is not None}}
    if args.no_audio:
        arguments["generate_audio"] = False
    title = "veo-mcp generate" + (" (simulated: nothing was billed)" if settings.simulate else "")
    return run(settings, arguments, as_json=args.json, assume_yes=args.yes, title=title)
