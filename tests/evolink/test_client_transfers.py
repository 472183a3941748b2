"""The client's file transfers against a scripted upstream (httpx.MockTransport): what a download leaves on the disk
while and after it runs, how each answer of a video host is classed, what an upload sends and how each refusal of
the file service is classed, and the reachability probe's own timeout."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.disks import small_disk
from tests.helpers import TEST_KEY
from veo_mcp.errors import DiskFullError
from veo_mcp.evolink import (
    AuthenticationError,
    DownloadError,
    EvoLinkClient,
    EvoLinkError,
    InsufficientCreditError,
    InvalidRequestError,
    LinkExpiredError,
    TemporaryError,
)

VIDEO_URL = "https://cdn.example.com/v/video.mp4"
MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40  # 10,252 bytes with an MP4 signature at its start
CHUNK = 4096

Handler = Callable[[httpx.Request], httpx.Response]


def transfer_client(handler: Handler, **options: object) -> EvoLinkClient:
    return EvoLinkClient(
        api_key=TEST_KEY,
        transport=httpx.MockTransport(handler),
        max_backoff_s=0.01,
        **options,  # type: ignore[arg-type]
    )


async def _in_chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


def video_host(status: int = 200, body: bytes = MP4, headers: dict[str, str] | None = None) -> Handler:
    """A host that serves `body` in 4 KiB chunks, with its length and type, under `status`."""

    def serve(request: httpx.Request) -> httpx.Response:
        sent = {"Content-Length": str(len(body)), "Content-Type": "video/mp4", **(headers or {})}
        return httpx.Response(status, headers=sent, content=_in_chunks(body))

    return serve


# --- downloads ----------------------------------------------------------------------------------------------------


async def test_a_download_is_written_to_a_hidden_part_file_beside_its_name_then_renamed(tmp_path: Path) -> None:
    target = tmp_path / "new" / "nested" / "clip.mp4"  # folders that do not exist yet are made, all of them
    during: list[list[str]] = []
    progress: list[tuple[int, int | None]] = []
    observed: list[tuple[str, str | None]] = []

    def seen(received: int, expected: int | None) -> None:
        progress.append((received, expected))
        during.append(sorted(path.name for path in target.parent.iterdir()))

    async with transfer_client(video_host(), observe=lambda *event: observed.append(event)) as client:
        saved = await client.download(VIDEO_URL, target, on_progress=seen)

    assert (saved.path, saved.bytes, saved.content_type) == (target, len(MP4), "video/mp4")
    assert target.read_bytes() == MP4
    # While it is written: one file, hidden, named after the video, ending in .part, in the video's own folder.
    part_name = re.compile(r"\.clip\.mp4\.[^/]+\.part")
    assert during and all(len(names) == 1 and part_name.fullmatch(names[0]) for names in during), during
    assert len({names[0] for names in during}) == 1
    assert sorted(path.name for path in target.parent.iterdir()) == ["clip.mp4"]
    # Progress counts every byte received so far, against the length the host announced.
    chunks = -(-len(MP4) // CHUNK)
    assert progress == [(min((i + 1) * CHUNK, len(MP4)), len(MP4)) for i in range(chunks)]
    assert observed == [("download", None)]


async def test_every_link_is_checked_before_anything_is_fetched(tmp_path: Path) -> None:
    fetched: list[str] = []
    checked: list[str] = []

    class Refused(Exception):
        pass

    def host(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return video_host()(request)

    async def refuse(url: str) -> None:
        checked.append(url)
        raise Refused(url)

    async with transfer_client(host) as client:
        with pytest.raises(Refused):
            await client.download(VIDEO_URL, tmp_path / "v.mp4", check_url=refuse)
    assert (checked, fetched) == ([VIDEO_URL], [])
    assert list(tmp_path.iterdir()) == []


async def test_a_full_disk_names_the_room_the_video_needs(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    with small_disk("simulated", folder, size_kb=4) as disk:
        async with transfer_client(video_host()) as client:
            with pytest.raises(DiskFullError) as caught:
                await client.download(VIDEO_URL, folder / "v.mp4")
        assert caught.value.needed_bytes == len(MP4)
        assert str(folder) in str(caught.value)
        assert disk.used() == 0 and list(folder.iterdir()) == []


class _BreaksOff(httpx.AsyncByteStream):
    """A body whose connection drops after its first two chunks."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield MP4[:CHUNK]
        yield MP4[CHUNK : 2 * CHUNK]
        raise httpx.ReadError("connection reset by peer")


async def test_a_download_that_breaks_off_says_after_how_much_and_what_broke(tmp_path: Path) -> None:
    def host(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(len(MP4))}, stream=_BreaksOff())

    async with transfer_client(host) as client:
        with pytest.raises(DownloadError) as caught:
            await client.download(VIDEO_URL, tmp_path / "v.mp4", attempts=1)
    assert caught.value.message == f"The download broke off after {2 * CHUNK} bytes (ReadError)."
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_a_gone_link_is_expired_and_not_retried(tmp_path: Path, status: int) -> None:
    calls: list[int] = []

    def gone(request: httpx.Request) -> httpx.Response:
        calls.append(status)
        return httpx.Response(status)

    async with transfer_client(gone) as client:
        with pytest.raises(LinkExpiredError) as caught:
            await client.download(VIDEO_URL, tmp_path / "v.mp4")
    assert caught.value.status_code == status
    assert caught.value.message == f"The result link answered HTTP {status}: it has expired or was removed."
    assert calls == [status]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_busy_host_is_temporary_with_its_status_and_wait(tmp_path: Path, status: int) -> None:
    async with transfer_client(video_host(status, b"busy", {"Retry-After": "7"})) as client:
        with pytest.raises(DownloadError) as caught:
            await client.download(VIDEO_URL, tmp_path / "v.mp4", attempts=1)
    assert not isinstance(caught.value, LinkExpiredError)
    assert (caught.value.status_code, caught.value.retry_after) == (status, 7.0)
    assert caught.value.message == f"The video host answered HTTP {status}."


@pytest.mark.parametrize("status", [300, 405, 411, 418])
async def test_any_other_answer_outside_2xx_is_a_failed_download(tmp_path: Path, status: int) -> None:
    async with transfer_client(video_host(status)) as client:  # an MP4 body, but not under a success status
        with pytest.raises(DownloadError) as caught:
            await client.download(VIDEO_URL, tmp_path / "v.mp4", attempts=1)
    assert not isinstance(caught.value, LinkExpiredError)
    assert (caught.value.status_code, caught.value.retry_after) == (None, None)
    assert caught.value.message == f"The video host answered HTTP {status}."
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [200, 203, 299])
async def test_any_2xx_answer_is_saved(tmp_path: Path, status: int) -> None:
    async with transfer_client(video_host(status)) as client:
        saved = await client.download(VIDEO_URL, tmp_path / "v.mp4", attempts=1)
    assert saved.bytes == len(MP4) and (tmp_path / "v.mp4").read_bytes() == MP4


# --- uploads ------------------------------------------------------------------------------------------------------

UPLOADED = {
    "success": True,
    "code": 200,
    "msg": "ok",
    "data": {"file_id": "file-42", "file_url": "https://files.example.com/file-42.png", "file_name": "cat.png"},
}


async def test_an_upload_sends_the_image_and_its_name_and_logs_the_file_id(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[httpx.Request] = []
    observed: list[tuple[str, str | None]] = []

    def files(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=UPLOADED)

    caplog.set_level(logging.INFO, logger="veo_mcp")
    async with transfer_client(files, observe=lambda *event: observed.append(event)) as client:
        uploaded = await client.upload_image(b"\x89PNG-bytes", file_name="cat.png", mime_type="image/png")
    assert (uploaded.file_id, uploaded.file_url) == ("file-42", "https://files.example.com/file-42.png")
    [request] = sent
    assert request.url.path == "/api/v1/files/upload/stream"
    body = request.read()
    assert b'name="file_name"\r\n\r\ncat.png\r\n' in body
    assert b'name="file"; filename="cat.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG-bytes\r\n' in body
    assert "uploaded cat.png as file-42" in [record.getMessage() for record in caplog.records]
    assert observed == [("upload", None)]


def _unreadable(status: int) -> Handler:
    """An answer that is not the file service's envelope: the API's error body, echoing the key."""
    body = {"error": {"message": f"refused for key {TEST_KEY}", "type": "error"}}
    return lambda request: httpx.Response(status, json=body, headers={"Retry-After": "3"})


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (401, AuthenticationError, "EvoLink refused the API key: refused for key"),
        (402, InsufficientCreditError, "Not enough EvoLink credit: refused for key"),
        (403, InvalidRequestError, "This API key may not use that model or resource: refused for key"),
        (429, TemporaryError, "EvoLink rate limit reached: refused for key"),
        (500, TemporaryError, "EvoLink is having trouble (HTTP 500): refused for key"),
        (502, TemporaryError, "EvoLink is having trouble (HTTP 502): refused for key"),
    ],
)
async def test_an_upload_refused_with_the_api_s_error_body_is_classed_by_status(
    status: int, kind: type[EvoLinkError], words: str
) -> None:
    async with transfer_client(_unreadable(status), get_attempts=1) as client:
        with pytest.raises(kind) as caught:
            await client.upload_image(b"img", file_name="cat.png", mime_type="image/png")
    assert type(caught.value) is kind and caught.value.status_code == status
    assert str(caught.value).startswith(words) and TEST_KEY not in str(caught.value)


@pytest.mark.parametrize("status", [400, 404, 415])
async def test_an_upload_answered_unreadably_otherwise_is_temporary(status: int) -> None:
    async with transfer_client(_unreadable(status), get_attempts=1) as client:
        with pytest.raises(TemporaryError) as caught:
            await client.upload_image(b"img", file_name="cat.png", mime_type="image/png")
    assert type(caught.value) is TemporaryError
    assert caught.value.message == f"EvoLink's file service answered HTTP {status} with something unreadable."


@pytest.mark.parametrize("code", [429, 500, 503])
async def test_an_upload_the_file_service_is_too_busy_for_is_temporary(code: int) -> None:
    answer = {"success": False, "code": code, "msg": "try later"}
    async with transfer_client(lambda request: httpx.Response(200, json=answer), get_attempts=1) as client:
        with pytest.raises(TemporaryError) as caught:
            await client.upload_image(b"img", file_name="cat.png", mime_type="image/png")
    assert type(caught.value) is TemporaryError and caught.value.status_code == code
    assert caught.value.message == "EvoLink's file service is busy: try later."


# --- the reachability probe ---------------------------------------------------------------------------------------


async def test_the_reachability_probe_waits_no_longer_than_it_was_given() -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404)

    async with transfer_client(api) as client:
        assert await client.unreachable(2.5) is None
    [request] = seen
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert "authorization" not in request.headers
    assert request.headers["user-agent"].startswith("veo-mcp/")
