"""Random tool calls through the MCP surface: never a crash, never an upstream create for a bad input, always a
clear error.

One server and one in-memory client session live in a background event loop (an anyio blocking portal) for the
whole module, so hypothesis can drive hundreds of calls quickly. The validity oracle is the one in
test_request_property.py, written from the API doc independently of our schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp.client import Client

from tests.evolink.test_request_property import _field_values, expected_payload
from tests.helpers import FIGURES, Harness, running_harness, text_of
from veo_mcp.evolink.schemas import VideoRequest

# How a model gets a right value wrong in form: a number or true/false written as text, a choice in another case, a
# single text where a list of one is meant. The tools read all of these by one rule (veo_mcp.mcp.checking).
NUMBERS = {"duration", "n", "seed"}
BOOLEANS = {"enhance_prompt", "generate_audio"}
CHOICES = {
    "model": ["veo-3.1-fast-generate-preview", "veo3.1-fast", "veo3.1-pro"],
    "aspect_ratio": ["auto", "16:9", "9:16"],
    "quality": ["720p", "1080p", "4k"],
    "generation_type": ["TEXT", "FIRST&LAST", "REFERENCE"],
    "person_generation": ["allow_adult", "dont_allow"],
    "resize_mode": ["pad", "crop"],
}


def misspelt_in_form(draw: st.DrawFn, name: str, value: Any) -> Any:
    """`value`, sometimes written as a model might write it."""
    if not draw(st.booleans()):
        return value
    if isinstance(value, bool) or (name in NUMBERS and isinstance(value, int)):
        return json.dumps(value) if isinstance(value, bool) else str(value)
    if name in CHOICES and isinstance(value, str):
        return draw(st.sampled_from([value.upper(), value.lower(), f" {value} "]))
    if name == "image_urls" and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def as_the_rule_reads(arguments: dict[str, Any]) -> dict[str, Any]:
    """The coercion rule restated from the issue, independently of the code: numeric text for numbers, true/false
    text for yes/no, choices in any case, a single text for a list of one."""
    read = {}
    for name, value in arguments.items():
        if name in NUMBERS and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        elif name in BOOLEANS and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        elif name in CHOICES and isinstance(value, str):
            value = next((c for c in CHOICES[name] if c.lower() == value.strip().lower()), value)
        elif name == "image_urls" and isinstance(value, str):
            value = [value]
        read[name] = value
    return read


@st.composite
def tool_arguments(draw: st.DrawFn) -> dict[str, Any]:
    values = _field_values()
    chosen = draw(st.sets(st.sampled_from(sorted(values)), max_size=len(values)))
    body = {name: misspelt_in_form(draw, name, draw(values[name])) for name in chosen}
    if draw(st.integers(0, 3)) > 0:
        body["prompt"] = draw(st.text(min_size=1, max_size=30).filter(str.strip))
    return body


def arguments_named(text: str, names: set[str]) -> list[str]:
    """The arguments `text` names as the subject of a refusal: `name:` or `name[0]:` (the value follows), `name is
    ...` (required, empty), `name 'value' ...`, or `'name'` in quotes. A name merely occurring inside another word (the `n` in
    "not") does not count."""
    return [
        name
        for name in names
        if re.search(rf"(?:^|[\s(]){re.escape(name)}(?:\[\d+\])?(?::| is | ')|'{re.escape(name)}'", text)
    ]


class Session:
    def __init__(self, portal: BlockingPortal, harness: Harness, client: Client) -> None:
        self.portal, self.harness, self.client = portal, harness, client

    def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        return self.portal.call(self.client.call_tool, tool, arguments)

    def creates(self) -> int:
        return self.harness.simulator.service.requests["create"]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp_path: Path = tmp_path_factory.mktemp("mcp-property")
    with start_blocking_portal() as portal:
        harness_scope = portal.wrap_async_context_manager(
            # No polling during the run: the background loop must not touch `random` while hypothesis draws.
            running_harness(
                tmp_path, auto_download=False, duplicate_window_s=0, poll_interval_min_s=900, poll_interval_max_s=900
            )
        )
        with harness_scope as harness, portal.wrap_async_context_manager(harness.client()) as client:
            yield Session(portal, harness, client)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arguments=tool_arguments(), tool=st.sampled_from(["generate_video", "estimate_cost"]))
def test_random_arguments_through_mcp(session: Session, arguments: dict[str, Any], tool: str) -> None:
    before = session.creates()
    result = session.call(tool, arguments)
    text = text_of(result)
    sent = session.creates() - before
    FIGURES.update(mcp_inputs_tried=1)
    if expected_payload(as_the_rule_reads(arguments)) is None:
        FIGURES.update(bad_inputs_tried=1)
        assert result.is_error, (arguments, text)
        assert sent == 0, arguments
        assert arguments_named(text, {*arguments, *VideoRequest.model_fields}), f"the error names no argument: {text}"
        assert "Traceback" not in text and "pydantic" not in text and "validation error" not in text, text
        assert "othing was sent" in text or "othing was charged" in text, text
    elif result.is_error:
        # Valid for the API, refused by a money guard (confirmation above $2.00 or an unknown price): never sent.
        assert "confirm_cost" in text and sent == 0, (arguments, text)
    else:
        assert sent == (1 if tool == "generate_video" else 0)
        normalised = [name for name, value in arguments.items() if as_the_rule_reads(arguments)[name] != value]
        notes = (result.structured_content or {}).get("notes", [])
        assert all(any(note.startswith(f"{name}:") for note in notes) for name in normalised), (arguments, notes)


LOOKUP_ARGUMENTS = {
    "get_generation": {"task_id"},
    "wait_for_generation": {"task_id", "timeout_seconds"},
    "download_video": {"task_id", "subfolder"},
    "list_generations": {"status", "limit", "cursor"},
}


@settings(max_examples=100, deadline=None)
@given(
    tool=st.sampled_from(["get_generation", "wait_for_generation", "download_video", "list_generations"]),
    arguments=st.dictionaries(
        st.sampled_from(["task_id", "timeout_seconds", "subfolder", "status", "limit", "cursor", "bogus"]),
        st.one_of(st.none(), st.text(max_size=12), st.integers(-3, 1000), st.floats(-1, 2), st.booleans()),
        max_size=4,
    ),
)
@example(tool="get_generation", arguments={"task_id": "0"})  # a well-formed id nobody knows: found once, kept
def test_random_lookups_never_crash_or_create(session: Session, tool: str, arguments: dict[str, Any]) -> None:
    if tool == "wait_for_generation" and isinstance(arguments.get("timeout_seconds"), (int, float)):
        arguments["timeout_seconds"] = min(arguments["timeout_seconds"], 1)
    before = session.creates()
    result = session.call(tool, arguments)
    text = text_of(result)
    FIGURES.update(mcp_inputs_tried=1)
    assert session.creates() == before
    unknown = [name for name in arguments if name not in LOOKUP_ARGUMENTS[tool]]
    if tool != "list_generations":
        # No drawn task id can be a real one (they are longer than 12 characters): a lookup is always refused.
        assert result.is_error, (tool, arguments, result.structured_content)
    if unknown:
        assert result.is_error and all(f"has no argument '{name}'" in text for name in unknown), (arguments, text)
    if result.is_error:
        assert "Traceback" not in text and "pydantic" not in text and "validation error" not in text, text
        task_id = arguments.get("task_id")
        named = arguments_named(text, {*arguments, *LOOKUP_ARGUMENTS[tool]})
        quoted = isinstance(task_id, str) and (f"'{task_id}' is not a task id" in text or f"found: {task_id} " in text)
        assert named or quoted, f"the refusal names neither an argument nor the task id: {arguments} {text}"
