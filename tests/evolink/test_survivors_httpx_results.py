"""Result links through an httpx transport (the embedded simulator's path), held to what the aiohttp path does over
the network: redirects followed and checked hop by hop up to the limit, the body streamed rather than read up
front, and failures in the same words."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from veo_mcp.evolink import catalog
from veo_mcp.evolink.errors import DownloadError
from veo_mcp.evolink.results import HttpxResults, ResultBody

BASE = "https://cdn.example.test"
BODY = b"\x00\x00\x00\x18ftypmp42" + bytes(1000)


class _Counted(httpx.AsyncByteStream):
    """A body in ten parts that counts how many were pulled, and may break off after the first."""

    def __init__(self, breaks: bool = False) -> None:
        self.pulled = 0
        self._breaks = breaks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(BODY), 102):
            self.pulled += 1
            yield BODY[start : start + 102]
            if self._breaks:
                raise httpx.ReadError("connection reset")


class _Cdn:
    def __init__(self) -> None:
        self.methods: list[str] = []
        self.body = _Counted()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        path = request.url.path
        if path.startswith("/hop/"):
            left = int(path.removeprefix("/hop/"))
            target = "/video.mp4" if left == 0 else f"/hop/{left - 1}"
            return httpx.Response(302, headers={"Location": target if left % 2 else f"{BASE}{target}"})
        if path == "/breaks":
            return httpx.Response(200, stream=_Counted(breaks=True))
        if path == "/unreachable":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, stream=self.body, headers={"Content-Type": "video/mp4"})

    def results(self) -> HttpxResults:
        return HttpxResults(httpx.AsyncClient(transport=httpx.MockTransport(self.handle), follow_redirects=False))


async def _read(body: ResultBody) -> bytes:
    parts = [chunk async for chunk in body.chunks()]
    await body.aclose()
    return b"".join(parts)


async def test_redirects_are_followed_and_checked_hop_by_hop_up_to_the_limit() -> None:
    cdn = _Cdn()
    results = cdn.results()
    checked: list[str] = []

    async def check(url: str) -> None:
        checked.append(url)

    limit = catalog.MAX_RESULT_REDIRECTS
    try:
        body = await results.open(f"{BASE}/hop/{limit - 1}", check)  # exactly `limit` redirects
        assert body.status == 200 and await _read(body) == BODY
        assert checked == [f"{BASE}/hop/{left}" for left in range(limit - 1, -1, -1)] + [f"{BASE}/video.mp4"]
        assert cdn.methods == ["GET"] * (limit + 1)
        with pytest.raises(DownloadError) as refused:
            await results.open(f"{BASE}/hop/{limit}", None)  # one more than allowed
        assert str(refused.value) == (
            f"The result link redirected more than {limit} times. This is not how EvoLink's links behave; try again "
            "later, and report it if it persists."
        )
    finally:
        await results.aclose()


async def test_the_body_is_streamed_not_read_before_it_is_handed_over() -> None:
    cdn = _Cdn()
    results = cdn.results()
    try:
        body = await results.open(f"{BASE}/video.mp4", None)
        assert (body.status, body.headers["Content-Type"], cdn.body.pulled) == (200, "video/mp4", 0)
        assert await _read(body) == BODY and cdn.body.pulled == 10
    finally:
        await results.aclose()


async def test_a_link_that_cannot_be_reached_or_breaks_off_is_a_download_error_in_the_same_words() -> None:
    results = _Cdn().results()
    try:
        with pytest.raises(DownloadError) as refused:
            await results.open(f"{BASE}/unreachable", None)
        assert refused.value.message == "The download broke off after 0 bytes (ConnectError)."
        broken = await results.open(f"{BASE}/breaks", None)
        with pytest.raises(DownloadError) as refused:
            await _read(broken)
        assert refused.value.message == "The download broke off after 0 bytes (ReadError)."
    finally:
        await results.aclose()
