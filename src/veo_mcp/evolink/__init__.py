"""The EvoLink Veo 3.1 API: catalog, request schemas, cost estimates, errors and the async client.

Nothing here knows about MCP. The client (httpx, tenacity) is imported on first use: a server answers `tools/list`
before it ever needs to talk to EvoLink, and start-up time matters inside desktop clients.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from veo_mcp.evolink.client import DownloadedFile, EvoLinkClient


def __getattr__(name: str) -> Any:
    if name in ("EvoLinkClient", "DownloadedFile"):
        from veo_mcp.evolink import client

        return getattr(client, name)
    raise AttributeError(f"module 'veo_mcp.evolink' has no attribute {name!r}")


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
