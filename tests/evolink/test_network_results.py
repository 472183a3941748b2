"""The parts of the EvoLink client that only work over a real network, driven in this process against a loopback
server: result links fetched with aiohttp (redirects followed and checked hop by hop, bodies passed on untouched,
a link that breaks off), the reachability probe, and the address checks with the system's resolver."""

from __future__ import annotations

import gzip
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from aiohttp import web

from veo_mcp.evolink import catalog
from veo_mcp.evolink.addresses import is_loopback_host, resolved_internal_reason, system_resolver
from veo_mcp.evolink.client import EvoLinkClient
from veo_mcp.evolink.errors import DownloadError
from veo_mcp.evolink.results import AiohttpResults
from veo_mcp.evolink.schemas import VideoRequest

BODY = bytes(range(256)) * 4096  # 1 MiB: more than one chunk's worth of reads


class Upstream:
    """A loopback server of result links: what each request carried, and a stall the test releases."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.release = anyio.Event()
        self.base = ""

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/video.mp4", self.video)
        application.router.add_get("/gzipped", self.gzipped)
        application.router.add_get("/hop/{left}", self.hop)
        application.router.add_get("/breaks", self.breaks)
        application.router.add_get("/stalls", self.stalls)
        application.router.add_get("/moved-nowhere", self.moved_nowhere)
        application.router.add_get("/located", self.located)
        return application

    async def video(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.Response(body=BODY, content_type="video/mp4")

    async def gzipped(self, request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b"not for unpacking"), headers={"Content-Encoding": "gzip"})

    async def hop(self, request: web.Request) -> web.Response:
        left = int(request.match_info["left"])
        target = "/video.mp4" if left == 0 else f"/hop/{left - 1}"
        raise web.HTTPFound(target if left % 2 else f"{self.base}{target}")  # relative and absolute Locations

    async def moved_nowhere(self, request: web.Request) -> web.Response:
        return web.Response(status=302, text="moved, but not said where")

    async def located(self, request: web.Request) -> web.Response:
        return web.Response(body=b"the body itself", headers={"Location": "/video.mp4"})

    async def breaks(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
        await response.prepare(request)
        await response.write(BODY[:1000])
        assert request.transport is not None
        request.transport.close()  # gone before the promised length
        return response

    async def stalls(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "10"})
        await response.prepare(request)
        await self.release.wait()
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    served = Upstream()
    runner = web.AppRunner(served.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    served.base = f"http://127.0.0.1:{port}"
    try:
        yield served
    finally:
        served.release.set()
        await runner.cleanup()


async def _read(body: Any) -> bytes:
    parts = [chunk async for chunk in body.chunks()]
    await body.aclose()
    return b"".join(parts)


async def test_a_result_link_is_fetched_with_our_user_agent_and_passed_on_untouched(upstream: Upstream) -> None:
    results = AiohttpResults(user_agent="veo-mcp/test", connect_timeout_s=5, read_timeout_s=5)
    try:
        body = await results.open(f"{upstream.base}/video.mp4", None)
        assert body.status == 200 and body.headers["Content-Type"] == "video/mp4"
        assert await _read(body) == BODY
        assert upstream.seen[0]["User-Agent"] == "veo-mcp/test" and "Authorization" not in upstream.seen[0]
        packed = await results.open(f"{upstream.base}/gzipped", None)
        assert gzip.decompress(await _read(packed)) == b"not for unpacking"  # the bytes as sent, not unpacked
    finally:
        await results.aclose()
        await results.aclose()  # twice is harmless


async def test_redirects_are_followed_and_checked_hop_by_hop_up_to_the_limit(upstream: Upstream) -> None:
    results = AiohttpResults(user_agent="veo-mcp/test", connect_timeout_s=5, read_timeout_s=5)
    checked: list[str] = []

    async def check(url: str) -> None:
        checked.append(url)

    limit = catalog.MAX_RESULT_REDIRECTS
    try:
        body = await results.open(f"{upstream.base}/hop/{limit - 1}", check)
        assert await _read(body) == BODY
        assert checked == [f"{upstream.base}/hop/{left}" for left in range(limit - 1, -1, -1)] + [
            f"{upstream.base}/video.mp4"
        ]
        with pytest.raises(DownloadError) as refused:
            await results.open(f"{upstream.base}/hop/{limit}", None)
        assert str(refused.value) == (
            f"The result link redirected more than {limit} times. This is not how EvoLink's links behave; try again "
            "later, and report it if it persists."
        )

        async def refuse(url: str) -> None:
            if "/hop/1" in url:
                raise DownloadError(f"refused {url}")

        with pytest.raises(DownloadError, match=r"refused .*/hop/1"):
            await results.open(f"{upstream.base}/hop/3", refuse)  # the check stops it before that hop is fetched
    finally:
        await results.aclose()


async def test_a_link_that_cannot_be_reached_breaks_off_or_stalls_is_a_download_error(upstream: Upstream) -> None:
    results = AiohttpResults(user_agent="veo-mcp/test", connect_timeout_s=5, read_timeout_s=0.5)
    try:
        with pytest.raises(DownloadError) as refused:
            await results.open("http://127.0.0.1:9/video.mp4", None)
        assert refused.value.message == "The download broke off after 0 bytes (ClientConnectorError)."
        broken = await results.open(f"{upstream.base}/breaks", None)
        with pytest.raises(DownloadError, match=r"^The download broke off after 0 bytes \(ClientPayloadError\)"):
            await _read(broken)
        stalled = await results.open(f"{upstream.base}/stalls", None)
        with pytest.raises(DownloadError, match=r"broke off after 0 bytes \((Socket)?TimeoutError\)"):
            await _read(stalled)
    finally:
        await results.aclose()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.Response(401), None),
        (httpx.Response(200), None),
        (httpx.Response(499), None),
        (httpx.Response(500), "HTTP 500"),  # 500 and above: EvoLink is in trouble
        (httpx.Response(503), "HTTP 503"),
        (None, "no answer (ConnectError)"),
    ],
)
async def test_the_probe_says_whether_evolink_answers_without_sending_the_key(
    answer: httpx.Response | None, reason: str | None
) -> None:
    asked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        if answer is None:
            raise httpx.ConnectError("refused", request=request)
        return answer

    client = EvoLinkClient(api_key="sk-probe-0123456789", transport=httpx.MockTransport(handler))
    try:
        assert await client.unreachable(2.0) == reason
    finally:
        await client.aclose()
    [request] = asked
    assert request.url == httpx.URL(catalog.DEFAULT_BASE_URL).join("/") and "authorization" not in request.headers
    assert request.headers["user-agent"].startswith("veo-mcp/")


async def test_hosts_are_judged_by_name_and_by_what_they_resolve_to() -> None:
    assert all(is_loopback_host(h) for h in ("localhost", "LOCALHOST.", "127.0.0.1", "127.8.9.1", "[::1]", "::1"))
    assert not any(is_loopback_host(h) for h in ("10.0.0.1", "example.com", "localhost.example.com", ""))
    assert "127.0.0.1" in await system_resolver("localhost")
    assert await system_resolver("bad..name") == []

    async def resolver(host: str) -> list[str]:
        return {"cdn.example.com": ["93.184.216.34"], "sneaky.example.com": ["93.184.216.34", "10.1.2.3"]}.get(host, [])

    assert await resolved_internal_reason("https://cdn.example.com/v.mp4", resolver) is None
    assert await resolved_internal_reason("https://sneaky.example.com/v.mp4", resolver) == (
        "'sneaky.example.com' resolves to 10.1.2.3 (10.1.2.3 is a private address)"
    )
    assert await resolved_internal_reason("https://127.0.0.1/v.mp4", resolver) == "127.0.0.1 is a loopback address"
    assert await resolved_internal_reason("file:///etc/passwd", resolver) == "it has no host"
    assert await resolved_internal_reason("https://unknown.example.com/v.mp4", resolver) is None  # cannot tell


def test_the_expected_size_of_a_request_grows_with_quality_length_and_count() -> None:
    one = VideoRequest(prompt="x", quality="720p", duration=4)
    assert catalog.expected_video_bytes(one) == 1_500_000 * 4
    assert catalog.expected_video_bytes(VideoRequest(prompt="x", quality="4k", duration=8, n=2)) == 10_000_000 * 8 * 2


async def test_a_resolver_that_hangs_is_given_up_after_its_timeout_and_said_in_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from veo_mcp.evolink import addresses

    asked: list[tuple[Any, ...]] = []

    async def hanging(*arguments: Any, **options: Any) -> list[Any]:
        asked.append((*arguments, options))
        await anyio.Event().wait()  # never answers
        return []

    monkeypatch.setattr(addresses.anyio, "getaddrinfo", hanging)
    monkeypatch.setattr(addresses, "RESOLVE_TIMEOUT_S", 0.05)
    with caplog.at_level("INFO", logger="veo_mcp.evolink.addresses"):
        assert await system_resolver("slow.example.com") == []
    assert [r.getMessage() for r in caplog.records] == ["resolving slow.example.com took longer than 0.05 s"]
    [(host, port, options)] = asked
    assert (host, port) == ("slow.example.com", None) and options == {"type": socket.SOCK_STREAM}


def test_the_package_hands_out_its_lazily_imported_client_and_names_what_it_lacks() -> None:
    from veo_mcp import evolink
    from veo_mcp.evolink import client

    assert evolink.EvoLinkClient is client.EvoLinkClient and evolink.DownloadedFile is client.DownloadedFile
    with pytest.raises(AttributeError, match=r"^module 'veo_mcp.evolink' has no attribute 'Nothing'$"):
        _ = evolink.Nothing


async def test_only_a_redirect_status_with_a_location_is_followed(upstream: Upstream) -> None:
    results = AiohttpResults(user_agent="veo-mcp/test", connect_timeout_s=5, read_timeout_s=5)
    checked: list[str] = []

    async def check(url: str) -> None:
        checked.append(url)

    try:
        nowhere = await results.open(f"{upstream.base}/moved-nowhere", check)
        assert nowhere.status == 302 and await _read(nowhere) == b"moved, but not said where"  # for the caller to judge
        located = await results.open(f"{upstream.base}/located", check)
        assert located.status == 200 and await _read(located) == b"the body itself"  # a Location on a 200 is not a hop
        assert checked == [f"{upstream.base}/moved-nowhere", f"{upstream.base}/located"] and upstream.seen == []
    finally:
        await results.aclose()


async def test_a_download_has_connect_and_read_timeouts_and_no_limit_on_its_whole_length(upstream: Upstream) -> None:
    import aiohttp

    results = AiohttpResults(user_agent="veo-mcp/test", connect_timeout_s=4, read_timeout_s=7)
    try:
        await _read(await results.open(f"{upstream.base}/video.mp4", None))
        # A video of hundreds of MB may take longer than any fixed total: only a stalled connect or read ends it.
        assert results._session.timeout == aiohttp.ClientTimeout(total=None, connect=4, sock_read=7)
    finally:
        await results.aclose()


async def test_a_download_over_the_network_that_breaks_off_says_after_how_much_and_what_broke(
    upstream: Upstream, tmp_path: Path
) -> None:
    """The client names what broke (aiohttp's own error) with the bytes it had by then, as it does over httpx."""
    client = EvoLinkClient(api_key=None, max_backoff_s=0.01)  # no transport: result links over aiohttp
    try:
        with pytest.raises(DownloadError) as broke:
            await client.download(f"{upstream.base}/breaks", tmp_path / "v.mp4", attempts=1)
    finally:
        await client.aclose()
    message = broke.value.message
    assert re.fullmatch(r"The download broke off after (\d+) bytes \(ClientPayloadError\)\.", message), message
    assert int(message.split()[5]) > 0 and list(tmp_path.iterdir()) == []
