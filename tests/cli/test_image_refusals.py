"""Images given to `veo-mcp generate` and `estimate` that cannot be used are refused in the flags a person typed,
before anything is sent: too many files, or files and URLs together (which the parser refuses)."""

from __future__ import annotations

import base64

import pytest

from tests.cli.conftest import Shell
from veo_mcp.cli import catalog

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _images(shell: Shell, count: int) -> list[str]:
    flags = []
    for index in range(count):
        path = shell.home / f"frame{index}.png"
        path.write_bytes(PNG)
        flags += ["--image-file", str(path)]
    return flags


def test_four_image_files_are_refused_as_image_files(shell: Shell) -> None:
    ended = shell.run("generate", "a kite", "--simulate", *_images(shell, 4))
    assert (ended.code, ended.out) == (2, "")
    assert ended.err == (
        "veo-mcp: --image-file: 4 images given; at most 3 are allowed (1 = first frame, 2 = first and last frame, up "
        "to 3 for REFERENCE). Fix it and run the command again; nothing was charged.\n"
    )


def test_files_and_urls_together_are_refused_by_the_parser(shell: Shell) -> None:
    for command in ("generate", "estimate"):
        ended = shell.run(command, "a kite", "--simulate", "--image-url", "https://e.com/a.png", *_images(shell, 1))
        assert (ended.code, ended.out) == (2, "")
        assert ended.err == (
            f"veo-mcp {command}: error: argument --image-file: not allowed with argument --image-url\n"
            f"Run 'veo-mcp {command} --help' for the flags and an example.\n"
        )


def test_a_refusal_only_the_estimate_tool_gives_still_names_the_flags(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`estimate` checks the request before its session; should that check let something through, the tool's own
    refusal is said in the flags typed too (`--image-url`), never in the tool's arguments (`image_urls`)."""

    async def lets_everything_through(settings: object, arguments: object) -> None:
        return None

    monkeypatch.setattr(catalog, "checked_request", lets_everything_through)
    urls = [flag for n in range(4) for flag in ("--image-url", f"https://e.com/{n}.png")]
    ended = shell.run("estimate", "a kite", *urls)
    assert ended.code != 0 and ended.out == ""
    shown = '"https://e.com/0.png", "https://e.com/1.png", "https://e.com/2.png", "htt…png"'
    assert ended.err == (
        f"veo-mcp: --image-url: 4 given ([{shown}]); use a list of at most 3 texts, or leave --image-url out. Nothing "
        "was sent.\n"
    )
