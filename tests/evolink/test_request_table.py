"""Every documented constraint, checked against our schemas and the simulator from one table."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.evolink.request_cases import INVALID, VALID
from veo_mcp.evolink import InvalidRequestError, parse_video_request


@pytest.mark.parametrize(("name", "body", "field"), INVALID, ids=[case[0] for case in INVALID])
def test_schema_refuses_with_field_named(name: str, body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_video_request(body)
    error = caught.value
    assert error.field == field
    assert field.split("[", maxsplit=1)[0] in error.message
    assert error.action == "fix_request"


@pytest.mark.parametrize(("name", "body"), VALID, ids=[case[0] for case in VALID])
def test_schema_accepts_valid(name: str, body: dict[str, Any]) -> None:
    payload = parse_video_request(body).to_api_payload()
    for key, value in body.items():
        assert payload[key] == value


@pytest.mark.parametrize(("name", "body", "field"), INVALID, ids=[case[0] for case in INVALID])
async def test_simulator_refuses_with_param(
    raw_http: httpx.AsyncClient, name: str, body: dict[str, Any], field: str
) -> None:
    response = await raw_http.post("/v1/videos/generations", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field
    ledger = (await raw_http.get("/_sim/ledger")).json()
    assert ledger["tasks"] == []


@pytest.mark.parametrize(("name", "body"), VALID, ids=[case[0] for case in VALID])
async def test_simulator_accepts_valid(raw_http: httpx.AsyncClient, name: str, body: dict[str, Any]) -> None:
    response = await raw_http.post("/v1/videos/generations", json=body)
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["object"] == "video.generation.task"
    assert task["status"] == "pending"
    assert task["model"] == body.get("model", "veo-3.1-fast-generate-preview")


def test_defaults_are_explicit_in_payload() -> None:
    assert parse_video_request({"prompt": "a cat"}).to_api_payload() == {
        "model": "veo-3.1-fast-generate-preview",
        "prompt": "a cat",
        "aspect_ratio": "auto",
        "generation_type": "TEXT",
        "enhance_prompt": True,
        "quality": "720p",
        "duration": 4,
        "generate_audio": True,
        "n": 1,
        "person_generation": "allow_adult",
    }


def test_generation_type_follows_image_count() -> None:
    one = parse_video_request({"prompt": "x", "image_urls": ["https://e.com/a.png"]})
    three = parse_video_request({"prompt": "x", "image_urls": ["https://e.com/a.png"] * 3})
    assert one.to_api_payload()["generation_type"] == "FIRST&LAST"
    assert one.to_api_payload()["resize_mode"] == "pad"
    assert three.to_api_payload()["generation_type"] == "REFERENCE"


def test_reference_on_preview_is_sent_as_8s_landscape() -> None:
    request = parse_video_request(
        {"prompt": "x", "generation_type": "REFERENCE", "image_urls": ["https://e.com/a.png"]}
    )
    payload = request.to_api_payload()
    assert payload["duration"] == 8
    assert payload["aspect_ratio"] == "16:9"
    assert any("fixed at 8" in note for note in request.notes)


def test_resize_mode_on_text_is_noted_and_not_sent() -> None:
    request = parse_video_request({"prompt": "x", "resize_mode": "crop"})
    assert "resize_mode" not in request.to_api_payload()
    assert any("ignored" in note for note in request.notes)


def test_unknown_field_suggests_the_right_name() -> None:
    with pytest.raises(InvalidRequestError, match="Did you mean 'aspect_ratio'"):
        parse_video_request({"prompt": "x", "aspect": "16:9"})


def test_refusal_names_value_and_allowed_values() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_video_request({"prompt": "x", "quality": "8k"})
    assert "'8k'" in caught.value.message
    assert "'720p', '1080p', '4k'" in caught.value.message


def test_prompt_limit_message_explains_estimate() -> None:
    with pytest.raises(InvalidRequestError, match="conservative estimate"):
        parse_video_request({"prompt": "word " * 2000})


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_video_request({"prompt": "x", "n": 9, "quality": "8k"})
    assert {issue.field for issue in caught.value.issues} == {"n", "quality"}


async def test_simulator_refuses_oversized_body_with_413(raw_http: httpx.AsyncClient) -> None:
    response = await raw_http.post(
        "/v1/videos/generations",
        content=b'{"prompt": "' + b"a" * (1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large_error"


async def test_simulator_refuses_broken_json_and_missing_key(raw_http: httpx.AsyncClient) -> None:
    broken = await raw_http.post(
        "/v1/videos/generations", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    anonymous = await raw_http.post("/v1/videos/generations", json={"prompt": "x"}, headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"
