"""Middleware around every MCP request (the SDK's public `middleware=` seam).

- `SessionTracking` remembers every client connection it sees, so 2025-era clients hear list changes and logs.
- `ToolArguments` checks a `tools/call`'s arguments before the tool runs (see `veo_mcp.mcp.checking` for the rule):
  arguments the tool does not declare are refused (the SDK's argument models ignore extra keys, so a misspelt
  `durration: 8` would silently become the default 4 s video - and be paid for), values are normalised by the one
  coercion rule or refused in our own words, and the normalisations are added to the result's `notes`. It also
  drops the SDK's "Error executing tool NAME: " prefix from the tools' own refusals, which are complete sentences.
- `PromptArguments` does the same for `prompts/get`, answering a protocol error that names the missing or wrong
  argument instead of an internal error.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from veo_mcp.mcp.checking import NOTHING_SENT, Checked, FieldRule, check, refused, rules_of, unknown_arguments
from veo_mcp.mcp.notifications import Watchers
from veo_mcp.mcp.sdk_seams import connection_of


class SessionTracking:
    def __init__(self, watchers: Watchers) -> None:
        self._watchers = watchers

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.request_id is not None:
            self._watchers.seen(connection_of(ctx.session))
        return await call_next(ctx)


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def checked_arguments(
    owner: str, rules: Mapping[str, FieldRule], given: Mapping[str, Any], model: type[BaseModel] | None = None
) -> Checked:
    """`given` under the rule; unknown arguments and refusals are collected as problems (one sentence each).

    `model` (the SDK's argument model of a tool) validates what passed, so a refusal the schema cannot express still
    comes back in our words.
    """
    checked = check(rules, given)
    checked.problems.extend(unknown_arguments(owner, given, list(rules)))
    if not checked.problems and model is not None:
        try:
            model.model_validate(checked.arguments)
        except ValidationError as error:
            for item in error.errors(include_url=False):
                name = str(item["loc"][0]) if item["loc"] else ""
                rule = rules.get(name, FieldRule(name=name or "arguments"))
                checked.problems.append(refused(rule, item.get("input")))
    return checked


class ToolArguments:
    def __init__(self, tools: Sequence[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._rules = {tool.name: rules_of(tool.fn_metadata.arg_model.model_json_schema()) for tool in tools}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call" or not isinstance(ctx.params, Mapping):
            return await call_next(ctx)
        name, arguments = ctx.params.get("name"), ctx.params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, Mapping):
            return await call_next(ctx)
        tool = self._tools.get(name)
        if tool is None:
            close = difflib.get_close_matches(name, list(self._tools), n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            return _error(f"There is no tool '{name}'.{hint} The tools are: {', '.join(self._tools)}. {NOTHING_SENT}")
        checked = checked_arguments(name, self._rules[name], arguments, tool.fn_metadata.arg_model)
        if checked.problems:
            return _error(" ".join([*checked.problems, NOTHING_SENT]))
        result = await call_next(replace(ctx, params={**ctx.params, "arguments": checked.arguments}))
        return _reported(result, name, checked.notes)


def _reported(result: HandlerResult, tool: str, notes: list[str]) -> HandlerResult:
    """The tool's result (its wire form) with the argument notes added, and its own refusal without the SDK's
    "Error executing tool" prefix. An interim result (a question to the client) passes unchanged."""
    if not isinstance(result, Mapping) or not isinstance(result.get("content"), list):
        return result
    content = list(result["content"])
    first = content[0] if content and isinstance(content[0], Mapping) and content[0].get("type") == "text" else None
    updated = dict(result)
    if result.get("isError"):
        prefix = f"Error executing tool {tool}: "
        if first is not None and str(first.get("text", "")).startswith(prefix):
            content[0] = {**first, "text": str(first["text"]).removeprefix(prefix)}
            updated["content"] = content
        return updated
    if not notes:
        return result
    if first is not None:
        content[0] = {**first, "text": f"{first.get('text', '')}\nArguments read: {' '.join(notes)}"}
        updated["content"] = content
    structured = result.get("structuredContent")
    if isinstance(structured, Mapping) and isinstance(structured.get("notes"), list):
        updated["structuredContent"] = {**structured, "notes": [*notes, *structured["notes"]]}
    return updated


class PromptArguments:
    """Checks `prompts/get` arguments against each prompt's declared arguments and allowed values."""

    def __init__(self, prompts: Mapping[str, Mapping[str, FieldRule]]) -> None:
        self._prompts = prompts

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "prompts/get" or not isinstance(ctx.params, Mapping):
            return await call_next(ctx)
        name, arguments = ctx.params.get("name"), ctx.params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, Mapping):
            return await call_next(ctx)
        rules = self._prompts.get(name)
        if rules is None:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"There is no prompt '{name}'; the prompts are: {', '.join(self._prompts)}.",
            )
        checked = checked_arguments(f"The prompt {name}", rules, arguments)
        if checked.problems:
            raise MCPError(code=INVALID_PARAMS, message=f"Prompt {name} was not rendered: {' '.join(checked.problems)}")
        as_text = {key: value if isinstance(value, str) else str(value) for key, value in checked.arguments.items()}
        return await call_next(replace(ctx, params={**ctx.params, "arguments": as_text}))
