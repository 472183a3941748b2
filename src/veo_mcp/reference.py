"""The reference tables of the documentation, generated from the code: tools (with their arguments), resources,
prompts, settings and the command line (every flag). `scripts/sync_readme.py` writes them between
`<!-- generated:NAME -->` markers of the pages in `DOCUMENTS`; a test fails when a page and the code disagree, so the
documentation cannot drift.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from veo_mcp.settings import Settings

# Which page holds which generated table (paths from the repository's root).
DOCUMENTS: dict[str, tuple[str, ...]] = {
    "docs/tools.md": ("tools", "resources"),
    "docs/settings.md": ("settings",),
    "docs/commands.md": ("commands",),
}

# Settings whose default depends on the machine: how to describe it instead of printing this machine's value.
_MACHINE_DEFAULTS = {
    "data_dir": "platform data folder (`~/.local/share/veo-mcp`, `~/Library/Application Support/veo-mcp`, …)",
    "output_dir": "platform videos folder + `/veo-mcp`",
    "image_dirs": "your home folder",
    "allowed_hosts": "—",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _summary(text: str) -> str:
    """A docstring's first paragraph, on one line."""
    return " ".join(text.strip().split("\n\n", 1)[0].split())


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def _argument(name: str, schema: dict[str, Any], required: bool) -> str:
    options = schema.get("anyOf", [schema])
    values = [v for option in options for v in option.get("enum", [])]
    kinds = sorted({option.get("type", "") for option in options if option.get("type") not in (None, "null")})
    shown = " \\| ".join(f"`{v}`" for v in values) if values else "/".join(kinds) or "any"
    bounds = [option for option in options if "minimum" in option or "maximum" in option]
    if bounds:
        shown += f" ({bounds[0].get('minimum', '…')}–{bounds[0].get('maximum', '…')})"
    if "default" in schema and schema["default"] is not None:
        shown += f", default `{json.dumps(schema['default'])}`"
    return f"`{name}`{' (required)' if required else ''}: {shown}"


@functools.cache
def _app() -> Any:
    from veo_mcp.app import App

    return App(Settings(_env_file=None, simulate=True, data_dir=Path(tempfile.gettempdir())))


@functools.cache
def _server() -> Any:
    """One server (never started) whose resources and prompts every table is read from."""
    from veo_mcp.mcp.server import create_server

    return create_server(_app())


def _tools() -> list[Any]:
    """The tools in listing order; their full argument schemas (the listing says each definition once)."""
    from veo_mcp.mcp.server import build_tools

    return build_tools(_app())


async def tools_table() -> str:
    lines = ["| tool | what it does | arguments |", "|---|---|---|"]
    for tool in _tools():
        schema = tool.fn_metadata.arg_model.model_json_schema()
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        arguments = "<br>".join(_argument(name, spec, name in required) for name, spec in properties.items())
        lines.append(f"| `{tool.name}` | {_cell(_summary(tool.description or ''))} | {arguments or '—'} |")
    return "\n".join(lines)


async def resources_table() -> str:
    server = _server()
    lines = ["| resource | what it is |", "|---|---|"]
    for template in await server.list_resource_templates():
        lines.append(f"| `{template.uri_template}` ({template.mime_type}) | {_cell(template.description or '')} |")
    for resource in await server.list_resources():
        lines.append(f"| `{resource.uri}` ({resource.mime_type}) | {_cell(resource.description or '')} |")
    for prompt in await server.list_prompts():
        arguments = ", ".join(f"`{a.name}`" for a in prompt.arguments or [])
        lines.append(f"| prompt `{prompt.name}` ({arguments}) | {_cell(_first_sentence(prompt.description or ''))} |")
    return "\n".join(lines)


def settings_table() -> str:
    from veo_mcp.settings import ENV_FILE_HELP, ENV_FILE_VARIABLE

    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines.append(f"| `{ENV_FILE_VARIABLE}` | — | {_cell(ENV_FILE_HELP)} |")
    for name, field in Settings.model_fields.items():
        variable = str(field.validation_alias)
        if name in _MACHINE_DEFAULTS:
            default = _MACHINE_DEFAULTS[name]
        elif field.default is None or field.default is PydanticUndefined:
            default = "—"
        else:
            default = f"`{field.default}`"
        lines.append(f"| `{variable}` | {default} | {_cell(field.description or '')} |")
    return "\n".join(lines)


def _flag(action: argparse.Action) -> str:
    """One flag as typed: `-n/--count N`, `--quality 720p|1080p|4k`, `--simulate`, `PROMPT`."""
    if action.choices is not None and not isinstance(action.choices, dict):
        value = "|".join(str(choice) for choice in action.choices)
    else:
        value = str(action.metavar or action.dest.upper())
    if not action.option_strings:
        return f"`{value}`"
    names = "/".join(action.option_strings)
    takes_value = action.nargs != 0
    return f"`{names} {value}`" if takes_value else f"`{names}`"


def commands_table() -> str:
    """Every subcommand with every flag it takes, from the parser itself."""
    from veo_mcp.cli.parser import build_parser

    parser = build_parser()
    lines = ["| command | what it does | flags |", "|---|---|---|"]
    globals_ = [_flag(a) for a in parser._actions if a.option_strings and a.dest not in ("help", "command")]
    lines.append(f"| `veo-mcp` | global flags (before or after the command) | {', '.join(globals_)} |")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {choice.dest: choice.help for choice in subparsers._choices_actions}
    for name, command in subparsers.choices.items():
        actions = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if actions:  # `users add|list|remove`: a row per action, with its own flags
            inner = {choice.dest: choice.help for choice in actions[0]._choices_actions}
            for action, parser in actions[0].choices.items():
                flags = [_flag(a) for a in parser._actions if a.dest not in _COMMON]
                row = f"veo-mcp {name} {action}"
                lines.append(f"| `{row}` | {_cell(inner.get(action) or '')} | {_cell(', '.join(flags)) or '—'} |")
            continue
        flags = [_flag(a) for a in command._actions if a.dest not in _COMMON]
        lines.append(f"| `veo-mcp {name}` | {_cell(summaries.get(name) or '')} | {_cell(', '.join(flags)) or '—'} |")
    return "\n".join(lines)


_COMMON = ("help", "verbose", "version")  # on every command, listed once in the first row


def page_blocks(blocks: dict[str, str]) -> dict[str, dict[str, str]]:
    """The generated tables of each page in `DOCUMENTS`."""
    return {page: {name: blocks[name] for name in names} for page, names in DOCUMENTS.items()}


async def generated_blocks() -> dict[str, str]:
    return {
        "tools": await tools_table(),
        "resources": await resources_table(),
        "settings": settings_table(),
        "commands": commands_table(),
    }


def _replacement(body: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + body + "\n" + match.group(2)

    return replace


def apply_blocks(readme: str, blocks: dict[str, str]) -> str:
    """`readme` with each `<!-- generated:NAME -->…<!-- /generated:NAME -->` block replaced."""
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL)
        if not pattern.search(readme):
            raise ValueError(f"README has no <!-- generated:{name} --> block")
        readme = pattern.sub(_replacement(body), readme)
    return readme


async def manifest_tools() -> list[dict[str, str]]:
    """The MCPB manifest's `tools` list: every tool with its one-sentence description."""
    return [{"name": tool.name, "description": _summary(tool.description or "")} for tool in _tools()]
