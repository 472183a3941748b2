"""What the EvoLink client puts on the wire, seen from a scripted upstream (httpx.MockTransport): the headers of each
kind of request, redirects that are never followed on their own (the key goes to EvoLink and nowhere else; result
links are followed hop by hop, each hop checked), the timeouts each request is sent with, and how long a create on
the wire is waited for, even when its caller goes away."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from tests.helpers import TEST_KEY
from veo_mcp import __version__
from veo_mcp.evolink import EvoLinkClient, EvoLinkError, parse_video_request
from veo_mcp.settings import Settings

API = "https://api.example.test"
FILES = "https://files.example.test"
CDN = "https://cdn.example.test"
ELSEWHERE = "elsewhere.example.test"
VIDEO_URL = f"{CDN}/v/video.mp4"
MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(2000)
TASK_ID = "task-unified-1756817821-4x3rx6ny"
TASK = {"id": TASK_ID, "status": "pending", "progress": 0}
UPLOADED = {
    "success": True,
    "code": 200,
    "data": {"file_id": "file-1", "file_url": f"{FILES}/file-1.png", "file_name": "cat.png"},
}
REQUEST = parse_video_request({"prompt": "a lighthouse in a storm"})


class Upstream:
    """EvoLink's API, its file service and a video host in one scripted transport; every request is kept."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.seen: list[httpx.Request] = []
        self.redirect_to = redirect_to

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if len(self.seen) > 10:  # no test here needs more: a client that keeps asking fails instead of hanging
            raise AssertionError(f"request {len(self.seen)}: {request.method} {request.url}")
        if request.url.host == ELSEWHERE:
            return httpx.Response(200, content=MP4, headers={"Content-Type": "video/mp4"})
        if self.redirect_to is not None:
            return httpx.Response(307, headers={"Location": self.redirect_to})
        if request.url.host == "files.example.test":
            return httpx.Response(200, json=UPLOADED)
        if request.url.host == "cdn.example.test":
            return httpx.Response(200, content=MP4, headers={"Content-Type": "video/mp4"})
        return httpx.Response(200, json=TASK)

    def client(self, **options: float) -> EvoLinkClient:
        return EvoLinkClient(
            api_key=TEST_KEY,
            base_url=API,
            files_base_url=FILES,
            transport=httpx.MockTransport(self.handle),
            max_backoff_s=0.01,
            **options,  # type: ignore[arg-type]
        )

    def by_host(self) -> dict[str, httpx.Request]:
        return {request.url.host: request for request in self.seen}


async def _every_kind_of_request(client: EvoLinkClient, folder: Path) -> None:
    await client.get_task(TASK_ID)
    await client.upload_image(b"\x89PNG", file_name="cat.png", mime_type="image/png")
    await client.download(VIDEO_URL, folder / "video.mp4")


# --- headers ------------------------------------------------------------------------------------------------------


async def test_evolink_gets_the_key_and_a_json_accept_and_the_video_host_gets_no_key(tmp_path: Path) -> None:
    upstream = Upstream()
    async with upstream.client() as client:
        await _every_kind_of_request(client, tmp_path)
    seen = upstream.by_host()
    for host in ("api.example.test", "files.example.test"):
        assert seen[host].headers["User-Agent"] == f"veo-mcp/{__version__}"
        assert seen[host].headers["Accept"] == "application/json"
        assert seen[host].headers["Authorization"] == f"Bearer {TEST_KEY}"
    video = seen["cdn.example.test"].headers
    assert video["User-Agent"] == f"veo-mcp/{__version__}"
    assert "Authorization" not in video and TEST_KEY not in str(video.raw)


# --- redirects ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["get", "create", "upload"])
async def test_a_redirect_from_evolink_is_not_followed_so_the_key_never_goes_elsewhere(operation: str) -> None:
    upstream = Upstream(redirect_to=f"https://{ELSEWHERE}/collect")
    async with upstream.client(get_attempts=1) as client:
        calls = {
            "get": lambda: client.get_task(TASK_ID),
            "create": lambda: client.create_generation(REQUEST),
            "upload": lambda: client.upload_image(b"\x89PNG", file_name="cat.png", mime_type="image/png"),
        }
        with pytest.raises(EvoLinkError):
            await calls[operation]()
    assert [request.url.host for request in upstream.seen] == [
        "files.example.test" if operation == "upload" else "api.example.test"
    ]


async def test_a_result_link_redirect_is_checked_before_it_is_fetched(tmp_path: Path) -> None:
    upstream = Upstream()

    def cdn(request: httpx.Request) -> httpx.Response:
        upstream.seen.append(request)
        return httpx.Response(302, headers={"Location": f"https://{ELSEWHERE}/v.mp4"})

    checked: list[str] = []

    async def check(url: str) -> None:
        checked.append(url)
        if ELSEWHERE in url:
            raise EvoLinkError("Refused to download a result link that points at an internal address.")

    async with EvoLinkClient(api_key=TEST_KEY, transport=httpx.MockTransport(cdn)) as client:
        with pytest.raises(EvoLinkError, match="internal address"):
            await client.download(VIDEO_URL, tmp_path / "video.mp4", check_url=check)
    assert checked == [VIDEO_URL, f"https://{ELSEWHERE}/v.mp4"]
    assert [str(request.url) for request in upstream.seen] == [VIDEO_URL]  # the refused hop was never fetched
    assert list(tmp_path.iterdir()) == []


# --- timeouts -----------------------------------------------------------------------------------------------------


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    """The timeouts httpx asks the transport to enforce for this request."""
    timeouts: dict[str, float | None] = request.extensions["timeout"]
    return timeouts


def _all(read: float, connect: float) -> dict[str, float | None]:
    return {"connect": connect, "read": read, "write": read, "pool": read}


async def test_each_kind_of_request_is_sent_with_its_own_timeouts(tmp_path: Path) -> None:
    """API answers get the request timeout; uploads at least a minute (an image may be 10 MB); a video the download
    timeout. Every connection attempt gets the connect timeout."""
    upstream = Upstream()
    async with upstream.client(connect_timeout_s=3, request_timeout_s=7, download_timeout_s=50) as client:
        await _every_kind_of_request(client, tmp_path)
    seen = upstream.by_host()
    assert _timeouts(seen["api.example.test"]) == _all(read=7, connect=3)
    assert _timeouts(seen["files.example.test"]) == _all(read=60, connect=3)
    assert _timeouts(seen["cdn.example.test"]) == _all(read=50, connect=3)


async def test_an_upload_waits_longer_than_a_minute_when_api_answers_may(tmp_path: Path) -> None:
    upstream = Upstream()
    async with upstream.client(connect_timeout_s=3, request_timeout_s=90) as client:
        await client.upload_image(b"\x89PNG", file_name="cat.png", mime_type="image/png")
    assert _timeouts(upstream.by_host()["files.example.test"]) == _all(read=90, connect=3)


async def test_a_client_given_no_timeouts_uses_the_server_settings_defaults(tmp_path: Path) -> None:
    """Tools and benchmarks build clients without timeouts: they must behave like the server as configured by default."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    upstream = Upstream()
    async with EvoLinkClient(
        api_key=TEST_KEY, base_url=API, files_base_url=FILES, transport=httpx.MockTransport(upstream.handle)
    ) as client:
        await _every_kind_of_request(client, tmp_path)
    seen = upstream.by_host()
    connect = defaults["connect_timeout_s"]
    assert _timeouts(seen["api.example.test"]) == _all(read=defaults["request_timeout_s"], connect=connect)
    assert _timeouts(seen["files.example.test"]) == _all(read=max(defaults["request_timeout_s"], 60), connect=connect)
    assert _timeouts(seen["cdn.example.test"]) == _all(read=defaults["download_timeout_s"], connect=connect)


# --- a create on the wire -----------------------------------------------------------------------------------------


async def test_a_create_on_the_wire_is_waited_for_its_connect_and_two_answer_timeouts_and_no_longer() -> None:
    left: list[float] = []

    def api(request: httpx.Request) -> httpx.Response:
        left.append(anyio.current_effective_deadline() - anyio.current_time())
        return httpx.Response(200, json=TASK)

    async with EvoLinkClient(
        api_key=TEST_KEY, transport=httpx.MockTransport(api), connect_timeout_s=10, request_timeout_s=30
    ) as client:
        await client.create_generation(REQUEST)
    [remaining] = left
    assert 69 < remaining <= 70  # 10 + 2 × 30 s, less the moment it took to get here


async def test_a_create_on_the_wire_is_not_abandoned_when_its_caller_goes_away() -> None:
    """A session that ends while its create is on the wire still gets (and can record) EvoLink's answer."""
    on_the_wire = anyio.Event()
    answer_now = anyio.Event()

    async def api(request: httpx.Request) -> httpx.Response:
        on_the_wire.set()
        await answer_now.wait()
        return httpx.Response(200, json=TASK)

    created: list[str] = []
    observed: list[tuple[str, str | None]] = []
    async with EvoLinkClient(
        api_key=TEST_KEY, transport=httpx.MockTransport(api), observe=lambda *event: observed.append(event)
    ) as client:

        async def create() -> None:
            created.append((await client.create_generation(REQUEST)).id)

        async with anyio.create_task_group() as group:
            group.start_soon(create)
            await on_the_wire.wait()
            group.cancel_scope.cancel()  # the caller goes away ...
            answer_now.set()  # ... and only then does EvoLink answer
    assert created == [TASK_ID]
    assert observed == [("create", None)]
