"""The `veo-mcp` command: `serve`, `simulator`, `demo`.

Heavy imports (the MCP SDK, PyAV, uvicorn) happen inside the subcommand that needs them, so `--help` is instant.
Only the protocol writes to stdout under `serve`; everything else a person reads goes to stderr there.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from veo_mcp import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="veo-mcp",
        description="MCP server for Google Veo 3.1 video generation through EvoLink.",
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
        from veo_mcp.demo import run_demo

        sys.exit(run_demo(prompt=args.prompt, output_dir=args.output_dir, speed=args.speed, as_json=args.json))
    elif args.command == "serve":
        from veo_mcp.server_main import run_server

        run_server(transport=args.transport, host=args.host, port=args.port, simulate=args.simulate)
    else:
        _parser().print_help(sys.stderr)
        sys.exit(2)
