"""The flags that describe a video, shared by `veo-mcp generate` and `veo-mcp estimate` (so either line becomes the
other by changing one word), and the number types the parser checks them with."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from veo_mcp.evolink import catalog


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({low}-{high})") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not allowed; use a whole number from {low} to {high}")
        return value

    parse.__name__ = "whole number"
    return parse


def request_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that describe a video: the same on `generate` and `estimate`, so either line becomes the other."""
    parser.add_argument("prompt", help="what the video shows (quote it)")
    parser.add_argument("--model", choices=catalog.MODEL_IDS, default=None, help=f"default {catalog.DEFAULT_MODEL}")
    parser.add_argument(
        "--duration",
        type=int,
        choices=catalog.DURATIONS,
        default=None,
        help=f"seconds (default {catalog.DEFAULT_DURATION}; REFERENCE mode is fixed at "
        f"{catalog.MODELS[catalog.DEFAULT_MODEL].reference_fixed_duration} s on {catalog.DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--quality", choices=catalog.QUALITIES, default=None, help=f"resolution (default {catalog.DEFAULT_QUALITY})"
    )
    parser.add_argument("--aspect-ratio", choices=catalog.ASPECT_RATIOS, default=None, help="default auto")
    parser.add_argument(
        "-n",
        "--count",
        metavar="N",
        type=bounded_int(catalog.MIN_N, catalog.MAX_N),
        default=None,
        help="how many videos (1-4)",
    )
    parser.add_argument("--no-audio", action="store_true", help="silent video (cheaper)")
    images = parser.add_mutually_exclusive_group()
    images.add_argument(
        "--image-file",
        metavar="FILE",
        action="append",
        default=None,
        help="a local image: 1 = first frame, 2 = first and last, 3 = references (repeatable)",
    )
    images.add_argument(
        "--image-url", metavar="URL", action="append", default=None, help="a public image URL, as --image-file"
    )
    parser.add_argument(
        "--generation-type", choices=catalog.GENERATION_TYPES, default=None, help="default: by the number of images"
    )
    parser.add_argument("--negative-prompt", metavar="TEXT", default=None, help="what must not appear")
    parser.add_argument(
        "--seed",
        metavar="N",
        type=bounded_int(catalog.MIN_SEED, catalog.MAX_SEED),
        default=None,
        help="for reproducible output",
    )
    parser.add_argument("--request-id", metavar="ID", default=None, help="retry-safe id: the same id never pays twice")
    parser.add_argument(
        "--allow-duplicate", action="store_true", help="pay for a new take of a request made in the last minutes"
    )
    parser.add_argument("--output-dir", metavar="DIR", default=None, help="where to save (default: VEO_MCP_OUTPUT_DIR)")
    parser.add_argument("-y", "--yes", action="store_true", help="confirm the cost without asking")
    parser.add_argument(
        "--simulate", action="store_true", help="use the built-in simulator (no key needed, nothing billed)"
    )
