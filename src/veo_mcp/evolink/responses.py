"""Reading EvoLink's answers: an error answer as the error class that says what to do, with upstream text redacted,
and `Retry-After` in either of its forms."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from veo_mcp.evolink.errors import (
    AuthenticationError,
    EvoLinkError,
    InsufficientCreditError,
    InvalidRequestError,
    NotFoundError,
    TemporaryError,
)
from veo_mcp.evolink.schemas import ErrorBody

if TYPE_CHECKING:
    import httpx  # the client imports it; reading its answers needs only their type

_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` from upstream with every known secret and any bearer token blanked out.

    Upstream text reaches the assistant inside error messages; an upstream (or a proxy) that echoes the request's
    Authorization header must not put the key there.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _BEARER.sub(r"\1 [redacted]", text)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC)
    return max(0.0, (when - current).total_seconds())


def error_from_response(response: httpx.Response, secrets: Iterable[str] = ()) -> EvoLinkError:
    """Map a non-2xx API answer to the error class that says what the user must do (upstream text redacted)."""
    status = response.status_code
    message, param, suggestion = _error_details(response)
    message, suggestion = redact(message, secrets), redact(suggestion, secrets) if suggestion else None
    if status == 400:
        return InvalidRequestError(
            f"EvoLink refused the request: {message}",
            field=param,
            advice=suggestion or "Fix the parameter named in the message; nothing was charged.",
            status_code=status,
        )
    if status == 401:
        return AuthenticationError(f"EvoLink refused the API key: {message}", status_code=status)
    if status == 402:
        return InsufficientCreditError(f"Not enough EvoLink credit: {message}", status_code=status)
    if status == 403:
        return InvalidRequestError(
            f"This API key may not use that model or resource: {message}",
            advice="Pick another model (list_models), or enable this one for your key in the EvoLink dashboard.",
            status_code=status,
        )
    if status == 404:
        return NotFoundError(f"EvoLink does not know it: {message}", status_code=status)
    if status == 413:
        return InvalidRequestError(
            f"The request is too large: {message}",
            advice="Shorten the prompt or send fewer/shorter image URLs.",
            status_code=status,
        )
    if status == 429:
        return TemporaryError(
            f"EvoLink rate limit reached: {message}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            status_code=status,
        )
    if status >= 500:
        return TemporaryError(
            f"EvoLink is having trouble (HTTP {status}): {message}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            status_code=status,
        )
    return InvalidRequestError(f"EvoLink refused the request (HTTP {status}): {message}", status_code=status)


def _error_details(response: httpx.Response) -> tuple[str, str | None, str | None]:
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        text = response.text.strip().replace("\n", " ")[:200]
        return (text or response.reason_phrase or f"HTTP {response.status_code}"), None, None
    detail = body.error
    return detail.message or f"HTTP {response.status_code}", detail.param, detail.fallback_suggestion
