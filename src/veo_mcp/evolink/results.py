"""Fetching result links: the body stream under `EvoLinkClient.download`, from a CDN, never with the API key.

Why two HTTP stacks: a video is hundreds of MB, and on a fast link the pure-Python HTTP/1.1 parser of httpx costs a
third of the throughput; aiohttp's C parser keeps up with curl (bench/download.py). Over the network veo-mcp uses
aiohttp; with an in-process transport (the embedded simulator, tests) it uses that httpx transport, which is the
only way to reach it. Both follow redirects one hop at a time, each hop checked before it is fetched, and both map
failures to the same errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin

import httpx

from veo_mcp.evolink import catalog
from veo_mcp.evolink.errors import DownloadError

if TYPE_CHECKING:
    import aiohttp

# Checks one URL a download is about to fetch (the link itself and every redirect hop); raises to refuse it.
UrlCheck = Callable[[str], Awaitable[None]]

_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK_BYTES = 1024 * 1024


class ResultBody(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


def _too_many_redirects() -> DownloadError:
    return DownloadError(
        f"The result link redirected more than {catalog.MAX_RESULT_REDIRECTS} times.",
        advice="This is not how EvoLink's links behave; try again later, and report it if it persists.",
    )


def broke_off(received: int, error: BaseException) -> DownloadError:
    """Raised `from error`: the client names that cause again with the bytes it had received by then."""
    return DownloadError(f"The download broke off after {received} bytes ({type(error).__name__}).")


class _HttpxBody:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.TransportError as error:
            raise broke_off(0, error) from error

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxResults:
    """Result links through an httpx client (the in-process transport of the embedded simulator and tests)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def open(self, url: str, check_url: UrlCheck | None) -> ResultBody:
        request = self._client.build_request("GET", url)
        for _ in range(catalog.MAX_RESULT_REDIRECTS + 1):
            if check_url is not None:
                await check_url(str(request.url))
            try:
                response = await self._client.send(request, stream=True)
            except httpx.TransportError as error:
                raise broke_off(0, error) from error
            if not response.is_redirect or response.next_request is None:
                return _HttpxBody(response)
            await response.aclose()
            request = response.next_request
        raise _too_many_redirects()

    async def aclose(self) -> None:
        await self._client.aclose()


class _AiohttpBody:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK_BYTES):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as error:
            raise broke_off(0, error) from error

    async def aclose(self) -> None:
        self._response.release()


class AiohttpResults:
    """Result links over the network, parsed by aiohttp (imported on first use: start-up stays light)."""

    def __init__(self, *, user_agent: str, connect_timeout_s: float, read_timeout_s: float) -> None:
        self._headers = {"User-Agent": user_agent}
        self._timeouts = (connect_timeout_s, read_timeout_s)
        self._session: Any = None

    def _open_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            connect, read = self._timeouts
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read),
                auto_decompress=False,
            )
        session: aiohttp.ClientSession = self._session
        return session

    async def open(self, url: str, check_url: UrlCheck | None) -> ResultBody:
        import aiohttp

        session = self._open_session()
        for _ in range(catalog.MAX_RESULT_REDIRECTS + 1):
            if check_url is not None:
                await check_url(url)
            try:
                response = await session.get(url, allow_redirects=False)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                raise broke_off(0, error) from error
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return _AiohttpBody(response)
            response.release()
            url = urljoin(url, location)
        raise _too_many_redirects()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
