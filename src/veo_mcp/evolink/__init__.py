"""The EvoLink Veo 3.1 API: catalog, request schemas, cost estimates, errors and the async client.

Nothing here knows about MCP.
"""

from veo_mcp.evolink.client import DownloadedFile, EvoLinkClient
from veo_mcp.evolink.costs import CostEstimate, estimate_cost
from veo_mcp.evolink.errors import (
    AuthenticationError,
    DownloadError,
    EvoLinkError,
    InsufficientCreditError,
    InvalidRequestError,
    LinkExpiredError,
    NotFoundError,
    OutcomeUnknownError,
    TemporaryError,
)
from veo_mcp.evolink.schemas import Task, VideoRequest, parse_video_request

__all__ = [
    "AuthenticationError",
    "CostEstimate",
    "DownloadError",
    "DownloadedFile",
    "EvoLinkClient",
    "EvoLinkError",
    "InsufficientCreditError",
    "InvalidRequestError",
    "LinkExpiredError",
    "NotFoundError",
    "OutcomeUnknownError",
    "Task",
    "TemporaryError",
    "VideoRequest",
    "estimate_cost",
    "parse_video_request",
]
