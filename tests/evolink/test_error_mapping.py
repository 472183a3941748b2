"""Every refusal of EvoLink's API and file service becomes one typed error whose words say what happened and what to
do: the class (what the assistant does next), the message (EvoLink's own words, any secret redacted), the advice,
the field at fault, the HTTP status and how long to wait."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from veo_mcp.evolink.client import EvoLinkClient
from veo_mcp.evolink.errors import (
    AuthenticationError,
    EvoLinkError,
    InsufficientCreditError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    TemporaryError,
    UploadQuotaError,
    error_kind,
)
from veo_mcp.evolink.responses import error_from_response

KEY = "sk-mapping-0123456789abcdef"


def _api_error(message: str, *, param: str | None = None, suggestion: str | None = None) -> bytes:
    error: dict[str, Any] = {"code": 1, "message": message, "type": "x"}
    if param is not None:
        error["param"] = param
    if suggestion is not None:
        error["fallback_suggestion"] = suggestion
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "message", "advice", "field", "retry_after"),
    [
        (
            400,
            _api_error("duration must be 4, 6 or 8", param="duration"),
            {},
            InvalidRequestError,
            "EvoLink refused the request: duration must be 4, 6 or 8",
            "Fix the parameter named in the message; nothing was charged.",
            "duration",
            None,
        ),
        (
            400,
            _api_error("bad prompt", suggestion=f"Shorten it (key {KEY})."),
            {},
            InvalidRequestError,
            "EvoLink refused the request: bad prompt",
            "Shorten it (key [redacted]).",
            None,
            None,
        ),
        (
            401,
            _api_error(f"invalid key {KEY}"),
            {},
            AuthenticationError,
            "EvoLink refused the API key: invalid key [redacted]",
            None,
            None,
            None,
        ),
        (
            402,
            _api_error("balance 0"),
            {},
            InsufficientCreditError,
            "Not enough EvoLink credit: balance 0",
            None,
            None,
            None,
        ),
        (
            403,
            _api_error("model not enabled"),
            {},
            InvalidRequestError,
            "This API key may not use that model or resource: model not enabled",
            "Pick another model (list_models), or enable this one for your key in the EvoLink dashboard.",
            None,
            None,
        ),
        (
            404,
            _api_error("no such task"),
            {},
            NotFoundError,
            "EvoLink does not know it: no such task",
            None,
            None,
            None,
        ),
        (
            413,
            b"<html>Request Entity\nToo Large</html>",
            {},
            InvalidRequestError,
            "The request is too large: <html>Request Entity Too Large</html>",
            "Shorten the prompt or send fewer/shorter image URLs.",
            None,
            None,
        ),
        (
            429,
            _api_error("slow down"),
            {"Retry-After": "7"},
            TemporaryError,
            "EvoLink rate limit reached: slow down",
            "This is temporary; wait 7 s and try again.",
            None,
            7.0,
        ),
        (
            503,
            b"",
            {"Retry-After": "3"},
            TemporaryError,
            "EvoLink is having trouble (HTTP 503): Service Unavailable",
            "This is temporary; wait 3 s and try again.",
            None,
            3.0,
        ),
        (
            418,
            b"x" * 300,
            {},
            InvalidRequestError,
            f"EvoLink refused the request (HTTP 418): {'x' * 200}",
            None,
            None,
            None,
        ),
    ],
)
def test_each_api_refusal_is_one_typed_error_in_plain_words(
    status: int,
    body: bytes,
    headers: dict[str, str],
    kind: type[EvoLinkError],
    message: str,
    advice: str | None,
    field: str | None,
    retry_after: float | None,
) -> None:
    error = error_from_response(httpx.Response(status, content=body, headers=headers), [KEY])
    assert type(error) is kind
    assert error.message == message
    assert error.advice == (advice or kind.default_advice)
    assert error.status_code == status
    assert getattr(error, "field", None) == field
    assert getattr(error, "retry_after", None) == retry_after
    assert KEY not in str(error)


def _answering(status: int, body: bytes | Exception) -> EvoLinkClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, Exception):
            raise body
        return httpx.Response(status, content=body)

    return EvoLinkClient(
        api_key=KEY, files_base_url="https://files.example.test", transport=httpx.MockTransport(handler)
    )


def _upload_answer(code: int, msg: str) -> bytes:
    return json.dumps({"success": False, "code": code, "msg": msg}).encode()


@pytest.mark.parametrize(
    ("status", "body", "kind", "message", "advice", "field", "code"),
    [
        (
            200,
            _upload_answer(400, "Daily upload QUOTA exceeded"),
            UploadQuotaError,
            "EvoLink's file service refused the upload: Daily upload QUOTA exceeded.",
            None,
            None,
            400,
        ),
        (
            200,
            _upload_answer(415, "type not supported"),
            InvalidRequestError,
            "EvoLink's file service refused the image type: type not supported.",
            "Convert the image to JPEG, PNG or WebP and try again; nothing was charged.",
            "image_files",
            415,
        ),
        (
            200,
            _upload_answer(401, f"bad key {KEY}"),
            AuthenticationError,
            "EvoLink's file service refused the API key: bad key [redacted].",
            None,
            None,
            401,
        ),
        (200, _upload_answer(429, "busy"), TemporaryError, "EvoLink's file service is busy: busy.", None, None, 429),
        (
            200,
            _upload_answer(502, "upstream"),
            TemporaryError,
            "EvoLink's file service is busy: upstream.",
            None,
            None,
            502,
        ),
        (
            400,
            json.dumps({"success": False, "msg": "too big"}).encode(),
            InvalidRequestError,
            "EvoLink's file service refused the upload: too big.",
            "Check the image (JPEG, PNG or WebP, at most 10 MB) or pass image_urls instead.",
            "image_files",
            400,
        ),
        (
            422,
            json.dumps({"success": False}).encode(),
            InvalidRequestError,
            "EvoLink's file service refused the upload: HTTP 422.",
            "Check the image (JPEG, PNG or WebP, at most 10 MB) or pass image_urls instead.",
            "image_files",
            422,
        ),
        (
            400,
            b"<html>bad</html>",
            TemporaryError,
            "EvoLink's file service answered HTTP 400 with something unreadable.",
            None,
            None,
            None,
        ),
        (
            503,
            b"<html>down</html>",
            TemporaryError,
            "EvoLink is having trouble (HTTP 503): <html>down</html>",
            None,
            None,
            503,
        ),
        (
            0,
            httpx.ConnectError("refused"),
            TemporaryError,
            "Could not reach EvoLink's file service at https://files.example.test (ConnectError).",
            None,
            None,
            None,
        ),
    ],
)
async def test_each_file_service_refusal_is_one_typed_error_in_plain_words(
    status: int,
    body: bytes | Exception,
    kind: type[EvoLinkError],
    message: str,
    advice: str | None,
    field: str | None,
    code: int | None,
) -> None:
    client = _answering(status, body)
    try:
        with pytest.raises(EvoLinkError) as refused:
            await client._upload_once(b"\x89PNG\r\n\x1a\n" + bytes(64), "a.png", "image/png")
    finally:
        await client.aclose()
    error = refused.value
    assert type(error) is kind
    assert error.message == message
    assert error.advice == (advice or kind.default_advice)
    assert getattr(error, "field", None) == field and error.status_code == code
    assert KEY not in str(error)


class Error(Exception):
    """A class named just 'Error', as some libraries have (shutil.Error, binascii.Error)."""


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TemporaryError("x"), "temporary"),
        (OutcomeUnknownError("x", sent={}), "outcome_unknown"),
        (InvalidRequestError("x"), "invalid_request"),
        (httpx.ReadTimeout("x"), "read_timeout"),
        (ValueError("x"), "value"),
        (Error("x"), "error"),
        (KeyboardInterrupt(), "keyboard_interrupt"),
    ],
)
def test_an_error_is_counted_under_its_class_name_in_snake_case_without_error(error: BaseException, kind: str) -> None:
    assert error_kind(error) == kind
