"""What `tools/list` shows: dedented descriptions and compact schemas, each description said once.

Why: the listing is read by the model on every turn (about 7k tokens before this module, mostly output schemas).
pydantic's schemas repeat a generated title for every property, spell every optional value as `anyOf [X, null]`
with `default: null`, and every tool repeats the descriptions of arguments and fields another tool already gave.
Here each schema keeps its meaning (types, choices, bounds, defaults, required fields, every `outputSchema`), loses
the noise, and a description already given earlier in the listing is not given again (an argument another tool shares
keeps its choices and default: a model reading one tool must not have to look them up in another). Python before 3.13 keeps a docstring's
indentation, which clients render as a code block: descriptions are dedented.

Only what is listed changes: arguments are checked against the tools' full argument models (`ToolArguments`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver.tools import Tool


def _inline_single_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Definitions used once are written where they are used (their name and the `$ref` are noise)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    if not defs:
        return schema
    text_uses = {name: _count_refs(schema, f"#/$defs/{name}") for name in defs}

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and text_uses.get(ref[8:]) == 1:
                return inline({**defs[ref[8:]], **{k: v for k, v in node.items() if k != "$ref"}})
            return {key: inline(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    result: dict[str, Any] = inline(schema)
    kept = {name: inline(definition) for name, definition in defs.items() if text_uses[name] != 1}
    if kept:
        result["$defs"] = kept
    return result


def _count_refs(node: Any, ref: str) -> int:
    if isinstance(node, dict):
        return (node.get("$ref") == ref) + sum(_count_refs(value, ref) for value in node.values())
    if isinstance(node, list):
        return sum(_count_refs(item, ref) for item in node)
    return 0


def _nullable(node: dict[str, Any], *, keep_null: bool) -> dict[str, Any]:
    """`anyOf [X, null]` as X with a type list (outputs) or as X alone (inputs: leaving an argument out is how a
    model says 'none', and the checks still accept an explicit null)."""
    options = node.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return node
    other = next(option for option in options if option != {"type": "null"})
    if not isinstance(other, dict) or "$ref" in other or "anyOf" in other:
        return node
    merged = {key: value for key, value in node.items() if key != "anyOf"}
    merged.update(other)
    if keep_null and isinstance(other.get("type"), str):
        merged["type"] = [other["type"], "null"]
        if "enum" in merged:
            merged["enum"] = [*merged["enum"], None]
    elif keep_null:
        return node
    return merged


def compact(schema: dict[str, Any], said: set[str], *, output: bool) -> dict[str, Any]:
    """`schema` without generated titles, null defaults and descriptions in `said` (the ones it keeps are added to
    `said`). An output schema also loses defaults and `required`: every field of a result is always present."""

    def walk(node: Any, *, is_schema: bool) -> Any:
        if isinstance(node, list):
            return [walk(item, is_schema=is_schema) for item in node]
        if not isinstance(node, dict) or not is_schema:
            return node
        node = _nullable(node, keep_null=output)
        result: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" or (key == "default" and (output or value is None)):
                continue
            if output and (key == "required" or (key == "additionalProperties" and value is True)):
                continue  # every field of a result is always present; an open object is the default
            if key == "description" and isinstance(value, str):
                if value in said or (output and "properties" in node):
                    continue  # said before, or a class docstring: the field that holds the object describes it
                said.add(value)
            if key in ("properties", "$defs"):
                result[key] = {name: walk(sub, is_schema=True) for name, sub in value.items()}
            elif key in ("items", "anyOf", "allOf", "oneOf", "additionalProperties", "not"):
                result[key] = walk(value, is_schema=True)
            else:
                result[key] = value
        return result

    compacted: dict[str, Any] = walk(_inline_single_refs(schema), is_schema=True)
    return compacted


def _annotations(tool: Tool) -> None:
    """A read-only tool's destructive and idempotent hints mean nothing (the spec reads them only for tools that
    write): they are left out."""
    hints = tool.annotations
    if hints is not None and hints.read_only_hint:
        tool.annotations = hints.model_copy(update={"destructive_hint": None, "idempotent_hint": None})


def describe(tools: Sequence[Tool]) -> None:
    """Prepare `tools` (in listing order) for `tools/list`, in place: see the module docstring."""
    said: set[str] = set()
    for tool in tools:
        tool.description = inspect.cleandoc(tool.description)
        tool.parameters = {**compact(tool.parameters, said, output=False), "additionalProperties": False}
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = compact(tool.fn_metadata.output_schema, said, output=True)
        _annotations(tool)
