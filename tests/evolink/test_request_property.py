"""Random requests: valid ones serialize exactly as the API expects, invalid ones raise our error - nothing else.

The oracle below restates the API doc's rules independently of `schemas.py`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veo_mcp.evolink import InvalidRequestError, parse_video_request

MODELS = ["veo-3.1-fast-generate-preview", "veo3.1-fast", "veo3.1-pro"]
GOOD_URLS = ["https://img.example.com/a.png", "http://cdn.example.org/b.JPEG", "https://x.example.net/c.webp?v=2"]
BAD_URLS = ["http://127.0.0.1/a.png", "https://example.com/a.gif", "file:///etc/a.png", "http://10.0.0.8/b.jpg"]

ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-5, 10), st.text(max_size=5), st.floats(0, 10))


def _field_values() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "model": st.one_of(st.sampled_from(MODELS), st.just("veo-4")),
        "prompt": st.one_of(st.text(min_size=1, max_size=40), st.just(""), st.just("a" * 6001), st.integers()),
        "aspect_ratio": st.sampled_from(["auto", "16:9", "9:16", "4:3"]),
        "image_urls": st.one_of(
            st.lists(st.sampled_from(GOOD_URLS), min_size=0, max_size=4),
            st.lists(st.sampled_from(GOOD_URLS + BAD_URLS), min_size=1, max_size=3),
        ),
        "generation_type": st.sampled_from(["TEXT", "FIRST&LAST", "REFERENCE", "VIDEO"]),
        "enhance_prompt": st.one_of(st.booleans(), st.just("true")),
        "callback_url": st.sampled_from(
            ["https://hooks.example.com/x", "http://hooks.example.com/x", "https://[::1]/x"]
        ),
        "quality": st.sampled_from(["720p", "1080p", "4k", "2k"]),
        "duration": st.one_of(st.sampled_from([4, 6, 8]), st.integers(0, 12), st.just("8")),
        "generate_audio": st.one_of(st.booleans(), st.just(1)),
        "n": st.one_of(st.integers(0, 6), st.just("2")),
        "negative_prompt": st.one_of(st.text(max_size=10), st.integers()),
        "seed": st.one_of(st.integers(0, 2**32 + 1), st.just(-1)),
        "person_generation": st.sampled_from(["allow_adult", "dont_allow", "allow_all"]),
        "resize_mode": st.sampled_from(["pad", "crop", "fill"]),
        "bogus": ANY_VALUE,
    }


@st.composite
def raw_requests(draw: st.DrawFn) -> dict[str, Any]:
    values = _field_values()
    chosen = draw(st.sets(st.sampled_from(sorted(values)), max_size=len(values)))
    body = {name: draw(values[name]) for name in chosen if name != "bogus" or draw(st.booleans())}
    if draw(st.integers(0, 3)) > 0:
        body["prompt"] = draw(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30).filter(str.strip))
    return body


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expected_payload(body: dict[str, Any]) -> dict[str, Any] | None:
    """What the API should receive for `body`, or None when it must be refused - from the API doc alone."""
    allowed = {
        "model",
        "prompt",
        "aspect_ratio",
        "image_urls",
        "generation_type",
        "enhance_prompt",
        "callback_url",
        "quality",
        "duration",
        "generate_audio",
        "n",
        "negative_prompt",
        "seed",
        "person_generation",
        "resize_mode",
    }
    if set(body) - allowed:
        return None
    model = body.get("model", "veo-3.1-fast-generate-preview")
    prompt = body.get("prompt")
    if model not in MODELS or not isinstance(prompt, str) or not prompt.strip():
        return None
    ascii_count = sum(1 for c in prompt if ord(c) < 128)
    if -(-ascii_count // 3) + (len(prompt) - ascii_count) > 2000:
        return None
    images = body.get("image_urls")
    if images is not None and (not isinstance(images, list) or len(images) > 3 or any(u in BAD_URLS for u in images)):
        return None
    count = len(images or [])
    checks = [
        ("aspect_ratio", ["auto", "16:9", "9:16"]),
        ("quality", ["720p", "1080p", "4k"]),
        ("person_generation", ["allow_adult", "dont_allow"]),
        ("resize_mode", ["pad", "crop"]),
        ("generation_type", ["TEXT", "FIRST&LAST", "REFERENCE"]),
    ]
    for name, options in checks:
        if name in body and body[name] not in options:
            return None
    for name in ("enhance_prompt", "generate_audio"):
        if name in body and not isinstance(body[name], bool):
            return None
    duration = body.get("duration", 4)
    if not _is_int(duration) or duration not in (4, 6, 8):
        return None
    n = body.get("n", 1)
    if not _is_int(n) or not 1 <= n <= 4:
        return None
    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or not 1 <= seed <= 4294967295):
        return None
    if "callback_url" in body and body["callback_url"] != "https://hooks.example.com/x":
        return None
    if "negative_prompt" in body and not isinstance(body["negative_prompt"], str):
        return None
    mode = body.get("generation_type") or ("TEXT" if count == 0 else "FIRST&LAST" if count <= 2 else "REFERENCE")
    if mode == "TEXT" and count:
        return None
    if mode == "FIRST&LAST" and not 1 <= count <= 2:
        return None
    aspect = body.get("aspect_ratio", "auto")
    if mode == "REFERENCE":
        if model == "veo3.1-pro" or not 1 <= count <= 3 or aspect == "9:16":
            return None
        aspect = "16:9"
        if model == "veo-3.1-fast-generate-preview":
            if "duration" in body and duration != 8:
                return None
            duration = 8
    payload: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "aspect_ratio": aspect,
        "generation_type": mode,
        "enhance_prompt": body.get("enhance_prompt", True),
        "quality": body.get("quality", "720p"),
        "duration": duration,
        "generate_audio": body.get("generate_audio", True),
        "n": n,
        "person_generation": body.get("person_generation", "allow_adult"),
    }
    if count:
        payload["image_urls"] = images
        payload["resize_mode"] = body.get("resize_mode", "pad")
    for name in ("callback_url", "negative_prompt", "seed"):
        if body.get(name) is not None:
            payload[name] = body[name]
    return payload


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_requests())
def test_random_requests_match_the_documented_rules(body: dict[str, Any]) -> None:
    expected = expected_payload(body)
    if expected is None:
        with pytest.raises(InvalidRequestError) as caught:
            parse_video_request(body)
        assert caught.value.issues
        assert all(issue.field and issue.sentence for issue in caught.value.issues)
    else:
        assert parse_video_request(body).to_api_payload() == expected
