"""The HTTP face of video links: `GET /files/<token>` streams a saved MP4 to whoever holds a valid link.

Why outside the MCP endpoint's checks: a browser, a `<video>` element in the MCP Apps player or a download tool
fetches the link without an MCP session or a bearer token; the signed, expiring token is what admits it (see
`veo_mcp.delivery.links`). Starlette's `FileResponse` answers HEAD and HTTP Range (206 with Content-Range, 416 when
unsatisfiable), so players can seek. Anything wrong with a link (tampered, expired, the file gone) is one plain 404
that says nothing about why.
"""

from __future__ import annotations

import json

from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from veo_mcp.delivery import FILES_PATH, VideoLinks
from veo_mcp.mcp.paths import PathPrefix


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"status": status, "message": text})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class FileServer:
    """ASGI middleware: `/files/…` is answered here; every other request goes on to `inner`."""

    def __init__(self, inner: ASGIApp, links: VideoLinks) -> None:
        self._inner = inner
        self._links = links
        self._path = PathPrefix(links.base, FILES_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = self._path.rest(scope)
        if token is None:
            await self._inner(scope, receive, send)
            return
        response = self._response(scope.get("method", "GET"), token)
        await response(scope, receive, send)

    def _response(self, method: str, token: str) -> Response:
        if method not in ("GET", "HEAD"):
            return _plain(405, "Video links are fetched with GET.", {"allow": "GET, HEAD"})
        found = self._links.opened(token)
        if found is None:
            return _plain(404, "No video at this link (it may have expired); ask the MCP server for a new one.")
        target, status = found
        return FileResponse(
            target,
            media_type="video/mp4",
            stat_result=status,
            filename=target.name,
            content_disposition_type="inline",
            headers={"cache-control": "private, max-age=300"},
        )


def with_files(inner: ASGIApp, links: VideoLinks | None) -> ASGIApp:
    """`inner` with the video-link route in front of it (over HTTP)."""
    return FileServer(inner, links) if links is not None else inner
