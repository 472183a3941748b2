"""The sentences a refused request gets before anything is sent: one per field, naming the field, the value (cut
when long) and what is allowed; a misspelt or synonymous parameter is pointed to the real one. Also the words of a
callback URL EvoLink would refuse, of a failed generation and of a total estimate."""

from __future__ import annotations

from typing import Any

import pytest

from veo_mcp.evolink import catalog
from veo_mcp.evolink.addresses import callback_url_problem
from veo_mcp.evolink.costs import estimate_cost, total_estimate
from veo_mcp.evolink.errors import InvalidRequestError
from veo_mcp.evolink.schemas import VideoRequest, parse_video_request

PARAMETERS = (
    "model, prompt, aspect_ratio, image_urls, generation_type, enhance_prompt, callback_url, quality, duration, "
    "generate_audio, n, negative_prompt, seed, person_generation, resize_mode"
)


@pytest.mark.parametrize(
    ("given", "field", "sentence"),
    [
        (
            {"prompt": "x", "quality": "8k"},
            "quality",
            "quality: '8k' is not allowed; use one of '720p', '1080p', '4k'.",
        ),
        (
            {"prompt": "x", "quality": "q" * 200},
            "quality",
            f"quality: '{'q' * 74}…qqq' is not allowed; use one of '720p', '1080p', '4k'.",  # cut to 80 characters
        ),
        (
            {"prompt": "x", "quality": "q" * 78},
            "quality",
            f"quality: '{'q' * 78}' is not allowed; use one of '720p', '1080p', '4k'.",  # 80 characters: whole
        ),
        (
            {"prompt": "x", "quality": "q" * 79},
            "quality",
            f"quality: '{'q' * 74}…qqq' is not allowed; use one of '720p', '1080p', '4k'.",
        ),
        (
            {"prompt": "x", "image_urls": ["https://a.example/x.png", 5]},
            "image_urls[1]",
            "image_urls[1]: 5 is not allowed; use a list of 1 to 3 public http(s) image URLs ending in .jpg, .jpeg, "
            ".png, .webp.",
        ),
        ({"quality": "720p"}, "prompt", "prompt is required; use a non-empty text of at most 2000 tokens."),
        (
            {"prompt": "x", "duration": 5},
            "duration",
            "duration: 5 is not allowed; use one of 4, 6, 8 (seconds, a whole number).",
        ),
        (
            {"prompt": "x", "aspect_ratio": "wide"},
            "aspect_ratio",
            "aspect_ratio: 'wide' is not allowed; use one of 'auto', '16:9', '9:16'.",
        ),
        (
            {"prompt": "x", "resolution": "4k"},
            "resolution",
            f"resolution is not a parameter of this API (value '4k'); the parameters are {PARAMETERS}. Did you mean "
            "'quality'?",
        ),
        (
            {"prompt": "x", "Aspect Ratio": "16:9"},
            "Aspect Ratio",
            f"Aspect Ratio is not a parameter of this API (value '16:9'); the parameters are {PARAMETERS}. Did you "
            "mean 'aspect_ratio'?",
        ),
        (
            {"prompt": "x", "negative-prompt": "fog"},
            "negative-prompt",
            f"negative-prompt is not a parameter of this API (value 'fog'); the parameters are {PARAMETERS}. Did you "
            "mean 'negative_prompt'?",
        ),
        (
            {"prompt": "x", "zzzz": 1},
            "zzzz",
            f"zzzz is not a parameter of this API (value 1); the parameters are {PARAMETERS}.",
        ),
        (["x"], "request", "the request must be a JSON object of parameters, not ['x']."),
    ],
)
def test_a_refused_request_gets_one_sentence_naming_the_field_the_value_and_what_is_allowed(
    given: Any, field: str, sentence: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        parse_video_request(given)
    assert (refused.value.field, refused.value.message) == (field, sentence)


def test_a_misspelt_field_is_matched_by_spelling_and_a_synonym_only_to_a_declared_field() -> None:
    assert catalog.closest_field("promt", ["prompt", "model"]) == "prompt"
    assert catalog.closest_field(" Seed ", ["seed", "speed"]) == "seed"
    assert catalog.closest_field("resolution", ["prompt", "model"]) is None  # its synonym is not declared here
    assert catalog.closest_field("xyzzy", ["prompt", "model"]) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/veo?x=1", None),
        ("https://hooks.example.com/" + "a" * (2048 - 26), None),  # exactly the longest allowed
        ("https://hooks.example.com/" + "a" * (2049 - 26), "it is 2049 characters long; at most 2048 are allowed"),
        ("https://[::1", "it is not a valid URL"),
        ("http://hooks.example.com/veo", "only https:// callback URLs are accepted"),
        ("https://me@hooks.example.com/veo", "URLs with credentials (user:password@) are not allowed"),
        ("https://:secret@hooks.example.com/veo", "URLs with credentials (user:password@) are not allowed"),
        ("https://10.0.0.7/veo", "callbacks to internal addresses are refused (10.0.0.7 is a private address)"),
        ("https:///veo", "callbacks to internal addresses are refused (it has no host)"),
    ],
)
def test_a_callback_url_evolink_would_refuse_is_named_with_the_reason(url: str, problem: str | None) -> None:
    assert callback_url_problem(url) == problem


def test_a_failed_generation_gets_the_advice_for_its_code_or_a_general_one() -> None:
    general = "The generation failed; it was not billed. Check the error message and try again."
    assert (
        catalog.advice_for_task_error("content_policy_violation")
        == catalog.TASK_ERROR_ADVICE["content_policy_violation"]
    )
    assert catalog.advice_for_task_error("never_seen_before") == general
    assert catalog.advice_for_task_error(None) == general and catalog.advice_for_task_error("") == general


def test_a_total_estimate_adds_up_and_names_the_models_without_a_published_price() -> None:
    known = estimate_cost(VideoRequest(prompt="x", model="veo-3.1-fast-generate-preview"))
    fast, pro = (estimate_cost(VideoRequest(prompt="x", model=m)) for m in ("veo3.1-fast", "veo3.1-pro"))
    published = total_estimate([known, known, known])
    assert (published.usd, published.billed_seconds, published.known, published.usd_per_second) == (
        1.44,
        12,
        True,
        None,
    )
    assert published.model == "veo-3.1-fast-generate-preview"
    assert published.summary == "$1.44 (104 credits): 3 requests, 12 s of video"
    mixed = total_estimate([pro, known, fast, pro])
    assert not mixed.known and mixed.usd == pytest.approx(7.68)
    assert mixed.model == "veo-3.1-fast-generate-preview, veo3.1-fast, veo3.1-pro"
    assert mixed.summary == (
        "at most $7.68 (553 credits): 4 requests, 16 s of video; EvoLink publishes no price for veo3.1-fast, veo3.1-pro, "
        "estimated "
        f"with {catalog.UNPUBLISHED_PRICE_SOURCE}"
    )
    tiny = total_estimate([known.model_copy(update={"usd": 0.00004}), known.model_copy(update={"usd": 0.00004})])
    assert tiny.usd == 0.0001  # rounded to a hundredth of a cent


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("10.0.0.1", "10.0.0.1 is a private address"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("fec0::1", "fec0::1 is a site-local address"),
        ("[fec0::1]", "fec0::1 is a site-local address"),
        ("100.64.0.1", "100.64.0.1 is not a public address"),
        ("[::ffff:10.0.0.1]", "10.0.0.1 is a private address"),  # IPv4 written as IPv6
        ("LOCALHOST.", "'localhost' is a local hostname"),
        ("metadata.google.internal", "'metadata.google.internal' is a local hostname"),
        ("printer.local", "'printer.local' is a local hostname"),
        ("0x7f.1", "'0x7f.1' is a numeric address in a non-standard form"),
        ("2130706433", "'2130706433' is a numeric address in a non-standard form"),
        ("017700000001", "'017700000001' is a numeric address in a non-standard form"),
        ("1.2.3", "'1.2.3' is a numeric address in a non-standard form"),
        ("", "it has no host"),
        ("example.com", None),
        ("8.8.8.8", None),
    ],
)
def test_an_address_evolink_must_not_be_sent_to_is_named_with_why(host: str, reason: str | None) -> None:
    from veo_mcp.evolink.addresses import internal_address_reason

    assert internal_address_reason(host) == reason


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://a.example/x.png", None),
        ("http://a.example/x.JPG", None),
        ("notaurl", "only public http:// or https:// URLs can be fetched by EvoLink"),
        ("ftp://a.example/x.png", "only public http:// or https:// URLs can be fetched by EvoLink"),
        ("https://[::1/x.png", "it is not a valid URL"),
        ("https://u@a.example/x.png", "URLs with credentials (user:password@) are not allowed"),
        ("https://:p@a.example/x.png", "URLs with credentials (user:password@) are not allowed"),
        ("https://a.example/x.gif", "the path must end in one of .jpg, .jpeg, .png, .webp"),
        (
            "https://10.0.0.1/x.png",
            "EvoLink's servers cannot reach it (10.0.0.1 is a private address); upload the image somewhere public",
        ),
        (
            "https:///x.png",
            "EvoLink's servers cannot reach it (it has no host); upload the image somewhere public",
        ),
    ],
)
def test_an_image_url_evolink_could_not_fetch_is_named_with_why(url: str, problem: str | None) -> None:
    from veo_mcp.evolink.addresses import image_url_problem

    assert image_url_problem(url) == problem


def test_a_link_our_own_upload_returned_is_taken_as_given_where_a_user_link_there_is_refused() -> None:
    """A local simulator's file service returns loopback links: ours are trusted, a user's link to the same place is
    not."""
    ours = "http://127.0.0.1:8080/files/cat.png"
    body = {"prompt": "x", "generation_type": "FIRST&LAST", "image_urls": [ours]}
    assert parse_video_request(body, uploaded_image_urls=[ours]).image_urls == [ours]
    with pytest.raises(InvalidRequestError, match=r"127\.0\.0\.1 is a loopback address"):
        parse_video_request(body, uploaded_image_urls=["http://127.0.0.1:8080/files/other.png"])


def test_a_prompt_counts_a_token_per_three_ascii_characters_and_one_per_any_other() -> None:
    from veo_mcp.evolink.schemas import estimate_prompt_tokens

    assert catalog.PROMPT_ASCII_CHARS_PER_TOKEN == 3
    assert estimate_prompt_tokens("\x7f" * 6) == 2  # the last ASCII character
    assert estimate_prompt_tokens("\x80" * 6) == 6  # the first that is not
    assert estimate_prompt_tokens("abcd" + "é") == 3
    limit = catalog.MAX_PROMPT_TOKENS
    assert parse_video_request({"prompt": "\x80" * limit}).prompt == "\x80" * limit
    with pytest.raises(InvalidRequestError, match=f"about {limit + 1} tokens"):
        parse_video_request({"prompt": "\x80" * (limit + 1)})
