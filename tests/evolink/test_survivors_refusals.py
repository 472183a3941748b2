"""The words of refusals at their edges: several refused fields in one message, a parameter written with hyphens or
spaces pointed to the real one, the choices of a mode-dependent refusal, the values each issue carries, and a create
whose outcome is unknown keeping its status and advice."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from veo_mcp.evolink.client import EvoLinkClient
from veo_mcp.evolink.errors import InvalidRequestError, OutcomeUnknownError
from veo_mcp.evolink.schemas import VideoRequest, _quoted, parse_video_request

PARAMETERS = (
    "model, prompt, aspect_ratio, image_urls, generation_type, enhance_prompt, callback_url, quality, duration, "
    "generate_audio, n, negative_prompt, seed, person_generation, resize_mode"
)


def _refusal(given: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as refused:
        parse_video_request(given)
    return refused.value


def test_several_refused_fields_make_one_message_of_their_sentences_and_keep_each_value() -> None:
    error = _refusal({"prompt": "x", "quality": "8k", "duration": 5, "seed": 0})
    assert error.message == (
        "quality: '8k' is not allowed; use one of '720p', '1080p', '4k'. "
        "duration: 5 is not allowed; use one of 4, 6, 8 (seconds, a whole number). "
        "seed: 0 is not allowed; use a whole number from 1 to 4294967295."
    )
    assert [(issue.field, issue.value) for issue in error.issues] == [("quality", "8k"), ("duration", 5), ("seed", 0)]
    assert error.field == "quality"


@pytest.mark.parametrize("spelling", ["num-videos", "number of videos", " Num Videos "])
def test_a_parameter_written_with_hyphens_or_spaces_is_pointed_to_the_field_it_means(spelling: str) -> None:
    error = _refusal({"prompt": "x", spelling: 2})
    assert error.message == (
        f"{spelling} is not a parameter of this API (value 2); the parameters are {PARAMETERS}. Did you mean 'n'?"
    )


@pytest.mark.parametrize(
    ("given", "field", "sentence"),
    [
        (
            {
                "prompt": "x",
                "generation_type": "REFERENCE",
                "image_urls": ["https://e.com/a.png"],
                "aspect_ratio": "9:16",
            },
            "aspect_ratio",
            "aspect_ratio: '9:16' is not allowed in REFERENCE mode on veo-3.1-fast-generate-preview; use 'auto', '16:9'.",
        ),
        (
            {
                "prompt": "x",
                "model": "veo3.1-pro",
                "generation_type": "REFERENCE",
                "image_urls": ["https://e.com/a.png"],
            },
            "generation_type",
            "generation_type: 'REFERENCE' is not available on veo3.1-pro; use one of 'TEXT', 'FIRST&LAST', or a model "
            "that offers it (see list_models).",
        ),
        # Keys that are not text (a Python caller's mapping) are named by pydantic's own words.
        ({1: "x", "prompt": "x"}, "[1]", "[1]: 1 is not allowed; Keys should be strings."),
    ],
)
def test_a_refusal_that_depends_on_the_mode_lists_the_choices_that_remain(
    given: dict[Any, Any], field: str, sentence: str
) -> None:
    error = _refusal(given)
    assert (error.field, error.message) == (field, sentence)


def test_choices_are_quoted_when_they_are_words_and_bare_when_they_are_numbers() -> None:
    # The table of allowed values is built from this at import; checked directly, as a module import is done once.
    assert _quoted(("auto", 4, "16:9", 8)) == "'auto', 4, '16:9', 8"
    assert _quoted(()) == ""


def test_an_outcome_unknown_keeps_the_advice_and_status_it_is_given() -> None:
    error = OutcomeUnknownError("m", sent={"prompt": "x"}, advice="Look at the dashboard.", status_code=502)
    assert (error.message, error.advice, error.status_code, error.sent) == (
        "m",
        "Look at the dashboard.",
        502,
        {"prompt": "x"},
    )
    assert str(error) == "m Look at the dashboard."


async def test_a_create_answered_with_a_server_error_is_an_outcome_unknown_with_that_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=json.dumps({"error": {"message": "busy"}}).encode())

    client = EvoLinkClient(api_key="sk-unknown-0123456789", transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(OutcomeUnknownError) as unknown:
            await client.create_generation(VideoRequest(prompt="x"))
    finally:
        await client.aclose()
    error = unknown.value
    assert error.message == "EvoLink answered the create with HTTP 503; it may still have accepted it."
    assert (error.status_code, error.advice) == (503, OutcomeUnknownError.default_advice)
    assert error.sent == VideoRequest(prompt="x").to_api_payload()
