"""Errors of the EvoLink layer, one class per thing the user must do next.

They derive from `veo_mcp.errors.VeoError` (message, advice, action). The advice names no MCP tool: this layer is
the API boundary, and the layers above add what their own users should call next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from veo_mcp.errors import VeoError


class EvoLinkError(VeoError):
    """Base class: something stopped a request to EvoLink (or the local check before it)."""

    default_advice = "Try again; if it keeps happening, check the EvoLink status page."
    action = "retry"

    def __init__(self, message: str, *, advice: str | None = None, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message, advice=advice)


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One refused field: its name, the value given and one sentence that says what is allowed."""

    field: str
    value: Any
    sentence: str


class InvalidRequestError(EvoLinkError):
    """Fix the request: a parameter is missing or not allowed (local check, 400, 403, 413)."""

    default_advice = "Fix the request and send it again; nothing was charged."
    action = "fix_request"

    def __init__(
        self,
        message: str,
        *,
        issues: tuple[FieldIssue, ...] = (),
        field: str | None = None,
        advice: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.issues = issues
        self.field = field if field is not None else (issues[0].field if issues else None)
        super().__init__(message, advice=advice, status_code=status_code)

    @classmethod
    def from_issues(cls, issues: tuple[FieldIssue, ...]) -> InvalidRequestError:
        return cls(" ".join(issue.sentence for issue in issues), issues=issues)


class AuthenticationError(EvoLinkError):
    """Set the key: it is missing, wrong or expired (401)."""

    default_advice = (
        "Set EVOLINK_API_KEY to a valid key from https://evolink.ai (dashboard → API keys) and restart the "
        "server, or run with --simulate to use the built-in simulator."
    )
    action = "set_api_key"


class InsufficientCreditError(EvoLinkError):
    """Add credit: the account cannot pay for this request (402)."""

    default_advice = "Top up your EvoLink credits (dashboard → billing), or ask for fewer/shorter/cheaper videos."
    action = "add_credit"


class TemporaryError(EvoLinkError):
    """Wait and retry: rate limits, overload, upstream trouble, network failures (429, 5xx, transport)."""

    default_advice = "This is temporary; wait a minute and try again."
    action = "retry_later"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        advice: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.retry_after = retry_after
        if advice is None and retry_after is not None:
            advice = f"This is temporary; wait {retry_after:g} s and try again."
        super().__init__(message, advice=advice, status_code=status_code)


class OutcomeUnknownError(EvoLinkError):
    """A create may or may not have reached EvoLink; resending it could pay twice, so it is never resent."""

    default_advice = (
        "The request may have been accepted and may be billed. Do not resend it blindly: check your EvoLink "
        "dashboard's task list first, and only create it again if no task appears there."
    )
    action = "check_dashboard"

    def __init__(
        self, message: str, *, sent: Mapping[str, Any], advice: str | None = None, status_code: int | None = None
    ) -> None:
        self.sent = dict(sent)
        super().__init__(message, advice=advice, status_code=status_code)


@dataclass
class SendWatch:
    """Whether a create may have reached EvoLink without a definite answer yet: what decides, when the call is
    interrupted, between "nothing was created" (its request may be sent again) and "outcome unknown" (never resent).

    A sender that says nothing is taken to have sent: `in_doubt` starts True. The EvoLink client clears it when a
    create starts, sets it while a request is on the wire, and clears it after a definite "no" (a 429, no
    connection)."""

    in_doubt: bool = True


class NotFoundError(EvoLinkError):
    """Nothing by that id (404): a typo, another account's task, or a task older than upstream keeps."""

    default_advice = "Check the task id (the list of known generations shows them); it may belong to another account."
    action = "check_id"


class LinkExpiredError(NotFoundError):
    """A result URL no longer serves the video (links live 24 h after completion)."""

    default_advice = (
        "Result links expire 24 hours after completion and this one has; the video cannot be fetched any more. "
        "Create the generation again if you still need it."
    )
    action = "regenerate"


class DownloadError(TemporaryError):
    """A download arrived incomplete or not as an MP4; nothing was kept under the final name."""

    default_advice = "Nothing was saved; try the download again while the link is valid."


class UploadQuotaError(EvoLinkError):
    """EvoLink's file service refused an upload because the account's file quota is used up."""

    default_advice = (
        "Uploaded files expire after 72 hours, which frees the quota; until then delete old files in the EvoLink "
        "dashboard, or host the image somewhere public and pass its address in image_urls instead of uploading it."
    )
    action = "free_quota"


def error_kind(error: BaseException) -> str:
    """`TemporaryError` → `temporary`, `OutcomeUnknownError` → `outcome_unknown`: a label for metrics."""
    name = type(error).__name__.removesuffix("Error") or type(error).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
