"""Cost confirmation and shared folders through real client sessions, on both protocol eras.

On 2026-07-28 (the SDK client's default) a server cannot send a request mid-call; the questions travel as an
`InputRequiredResult` there and as standalone requests on 2025-era sessions. Each test counts the questions the
client was asked and reads the simulator's ledger for what was created.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.context import ClientRequestContext
from mcp.server.elicitation import AcceptedElicitation, CancelledElicitation, DeclinedElicitation

from tests.helpers import current_era, make_image, running_harness, text_of
from veo_mcp.mcp.questions import CostConfirmation, Unasked, _can_ask_user, consent_of

COSTLY = {"prompt": "a glacier calving", "quality": "4k", "duration": 8, "n": 2}  # $4.49, above the $2.00 threshold


def answering(action: str, confirm: bool, asked: list[str]) -> Any:
    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        content = {"confirm": confirm} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return answer


def sharing(folder: Path) -> Any:
    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=folder.as_uri())])  # type: ignore[arg-type]

    return roots


async def test_a_costly_generation_is_created_after_exactly_one_question(tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("accept", True, asked)) as client,
    ):
        result = await client.call_tool("generate_video", COSTLY)
    assert not result.is_error, text_of(result)
    assert len(asked) == 1 and "$4.49" in asked[0] and "$2.00" in asked[0]
    assert harness.ledger()["requests"]["create"] == 1


async def test_a_declined_cost_creates_nothing_even_with_confirm_cost(tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        running_harness(tmp_path, decline_window_s=0) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("decline", False, asked)) as client,
    ):
        declined = await client.call_tool("generate_video", COSTLY)
        overridden = await client.call_tool("generate_video", {**COSTLY, "confirm_cost": True})
    assert declined.is_error and "did not confirm" in text_of(declined)
    # Where the client can ask its user, only the user's answer counts: the model cannot say yes for them.
    assert overridden.is_error and "did not confirm" in text_of(overridden)
    assert len(asked) == 2
    assert harness.ledger()["requests"]["create"] == 0


async def test_a_declined_request_stays_declined_for_a_while_without_asking_again(tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("decline", False, asked)) as client,
    ):
        await client.call_tool("generate_video", COSTLY)
        again = await client.call_tool("generate_video", {**COSTLY, "confirm_cost": True})
        changed = await client.call_tool("generate_video", {**COSTLY, "duration": 6})
    assert (
        again.is_error
        and "declined this exact request" in text_of(again)
        and "VEO_MCP_DECLINE_WINDOW" in text_of(again)
    )
    assert len(asked) == 2  # the first call and the changed request; the repeat was not asked again
    assert changed.is_error and "did not confirm" in text_of(changed)
    assert harness.ledger()["requests"]["create"] == 0


async def test_a_question_closed_without_an_answer_sends_nothing_and_asks_again_next_time(tmp_path: Path) -> None:
    """Cancel (the user closed the dialog, or a script could not ask anyone) is no consent, even with confirm_cost,
    but not a "no" that stands: the next call asks again, and a yes then creates it."""
    answers = iter(["cancel", "accept"])
    asked: list[str] = []

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        action = next(answers)
        return types.ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)  # type: ignore[arg-type]

    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answer) as client,
    ):
        closed = await client.call_tool("generate_video", {**COSTLY, "confirm_cost": True})
        creates_after_closing = harness.ledger()["requests"]["create"]
        again = await client.call_tool("generate_video", COSTLY)
    assert closed.is_error and "was closed without an answer; nothing was sent." in text_of(closed)
    assert creates_after_closing == 0
    assert not again.is_error, text_of(again)
    assert len(asked) == 2 and harness.ledger()["requests"]["create"] == 1


async def test_a_no_in_the_form_counts_as_a_decline(tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("accept", False, asked)) as client,
    ):
        result = await client.call_tool("generate_video", COSTLY)
    assert result.is_error and "did not confirm" in text_of(result) and len(asked) == 1
    assert harness.ledger()["requests"]["create"] == 0


async def test_a_client_that_cannot_ask_needs_confirm_cost(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        refused = await client.call_tool("generate_video", COSTLY)
        assert harness.ledger()["requests"]["create"] == 0
        confirmed = await client.call_tool("generate_video", {**COSTLY, "confirm_cost": True})
    assert refused.is_error and "confirm_cost: true" in text_of(refused) and "$4.49" in text_of(refused)
    assert not confirmed.is_error, text_of(confirmed)
    assert harness.ledger()["requests"]["create"] == 1


async def test_nothing_is_asked_below_the_threshold_or_for_a_reused_request(tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("accept", True, asked)) as client,
    ):
        cheap = await client.call_tool("generate_video", {"prompt": "a leaf", "request_id": "leaf"})
        again = await client.call_tool("generate_video", {"prompt": "a leaf", "request_id": "leaf"})
        costly = await client.call_tool("generate_video", {**COSTLY, "request_id": "glacier"})
        costly_again = await client.call_tool("generate_video", {**COSTLY, "request_id": "glacier"})
    assert not cheap.is_error and not again.is_error and not costly.is_error and not costly_again.is_error
    assert (again.structured_content or {})["reused"] and (costly_again.structured_content or {})["reused"]
    assert len(asked) == 1  # only the first costly call
    assert harness.ledger()["requests"]["create"] == 2


async def test_a_request_id_used_before_is_never_asked_about_even_with_other_arguments(tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("accept", True, asked)) as client,
    ):
        first = await client.call_tool("generate_video", {**COSTLY, "request_id": "glacier"})
        changed = await client.call_tool("generate_video", {**COSTLY, "duration": 6, "request_id": "glacier"})
    assert not changed.is_error and (changed.structured_content or {})["reused"] is True
    assert (changed.structured_content or {})["task_id"] == (first.structured_content or {})["task_id"]
    assert len(asked) == 1 and harness.ledger()["requests"]["create"] == 1


async def test_a_new_take_of_a_costly_request_is_asked_about_again(tmp_path: Path) -> None:
    asked: list[str] = []
    async with (
        running_harness(tmp_path) as harness,
        Client(harness.server, mode=current_era(), elicitation_callback=answering("accept", True, asked)) as client,
    ):
        first = await client.call_tool("generate_video", COSTLY)
        again = await client.call_tool("generate_video", {**COSTLY, "allow_duplicate": True})
    assert not first.is_error and not again.is_error, text_of(again)
    assert (again.structured_content or {})["reused"] is False
    assert len(asked) == 2 and harness.ledger()["requests"]["create"] == 2


async def test_local_images_are_not_judged_as_addresses_before_they_are_uploaded(tmp_path: Path) -> None:
    """Their stand-in URLs point at EvoLink's file service; where that name resolves says nothing about the image."""

    async def resolver(host: str) -> list[str]:
        return ["10.0.0.5"] if host == "files-api.evolink.ai" else []

    image = make_image(tmp_path / "pictures" / "frame.png", (30, 90, 160))
    async with (
        running_harness(tmp_path, resolver=resolver, image_dirs=[tmp_path / "pictures"]) as harness,
        harness.client() as client,
    ):
        result = await client.call_tool("generate_video", {"prompt": "a blue frame", "image_files": [str(image)]})
    assert not result.is_error, text_of(result)
    assert harness.ledger()["requests"]["create"] == 1


def test_only_an_accepted_yes_from_the_user_is_consent() -> None:
    assert consent_of(AcceptedElicitation(data=CostConfirmation(confirm=True))) == "given"
    assert consent_of(AcceptedElicitation(data=CostConfirmation(confirm=False))) == "declined"
    assert consent_of(AcceptedElicitation(data=Unasked(confirm=False))) == "unasked"
    assert consent_of(DeclinedElicitation()) == "declined"
    assert consent_of(CancelledElicitation()) == "dismissed"


@pytest.mark.parametrize(
    ("elicitation", "can_ask"),
    [
        (None, False),
        (types.ElicitationCapability(), True),  # a bare `elicitation: {}` means form, as the SDK reads it
        (types.ElicitationCapability(form=types.FormElicitationCapability()), True),
        (types.ElicitationCapability(url=types.UrlElicitationCapability()), False),  # links only: no form to fill
        (
            types.ElicitationCapability(form=types.FormElicitationCapability(), url=types.UrlElicitationCapability()),
            True,
        ),
    ],
)
def test_the_user_is_asked_only_where_the_client_can_show_a_form(
    elicitation: types.ElicitationCapability | None, can_ask: bool
) -> None:
    context = SimpleNamespace(client_capabilities=types.ClientCapabilities(elicitation=elicitation))
    assert _can_ask_user(context) is can_ask  # type: ignore[arg-type]
    assert _can_ask_user(SimpleNamespace(client_capabilities=None)) is False  # type: ignore[arg-type]


async def test_a_file_in_a_shared_folder_is_accepted(tmp_path: Path) -> None:
    shared = tmp_path / "pictures" / "shared"
    image = make_image(shared / "first.png", (200, 40, 40))
    elsewhere = make_image(tmp_path / "pictures" / "private" / "other.png", (40, 40, 200))
    async with (
        running_harness(tmp_path, image_dirs=[tmp_path / "pictures"]) as harness,
        Client(harness.server, mode=current_era(), list_roots_callback=sharing(shared)) as client,
    ):
        accepted = await client.call_tool("generate_video", {"prompt": "a red frame", "image_files": [str(image)]})
        refused = await client.call_tool("estimate_cost", {"prompt": "a blue frame", "image_files": [str(elsewhere)]})
    assert not accepted.is_error, text_of(accepted)
    assert refused.is_error and "folders your MCP client shares" in text_of(refused)
    assert harness.ledger()["requests"]["upload"] == 1 and harness.ledger()["requests"]["create"] == 1
