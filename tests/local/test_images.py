"""Image-to-video from local files, through the MCP client: checked, uploaded once, and really used as frames."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import threading
from pathlib import Path
from typing import Any

import av
import httpx
import mcp_types as types
import pytest
from mcp.client.context import ClientRequestContext

from tests.helpers import TEST_KEY, finish, make_client, make_image, running_harness, text_of
from veo_mcp.evolink.errors import InvalidRequestError, UploadQuotaError
from veo_mcp.local.images import AllowedFolders, inspect_image
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Fault, Simulator, SimulatorConfig, SimulatorTransport
from veo_mcp.simulator.media import still_frame


def luma(frame: av.VideoFrame) -> bytes:
    plane = frame.planes[0]
    data = bytes(plane)
    return b"".join(data[y * plane.line_size : y * plane.line_size + frame.width] for y in range(frame.height))


def distance(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two luma planes (0 = identical, 255 = opposite)."""
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def first_and_last_frames(video: Path) -> tuple[av.VideoFrame, av.VideoFrame]:
    with av.open(str(video)) as container:
        frames = list(container.decode(video=0))
    return frames[0], frames[-1]


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    return folder


def counts(simulator: Simulator) -> tuple[int, int]:
    return simulator.service.requests["upload"], simulator.service.requests["create"]


async def _generate_and_save(client: Any, arguments: dict[str, Any]) -> Path:
    created = await client.call_tool("generate_video", arguments)
    assert not created.is_error, text_of(created)
    task_id = (created.structured_content or {})["task_id"]
    await finish(client, task_id)
    saved = await client.call_tool("download_video", {"task_id": task_id})
    assert not saved.is_error, text_of(saved)
    return Path((saved.structured_content or {})["files"][0]["path"])


async def test_one_image_is_the_first_frame(tmp_path: Path, pictures: Path) -> None:
    image = make_image(pictures / "sunset.png", (230, 90, 20), stripes=True)
    other = make_image(pictures / "sea.png", (20, 60, 200))
    async with (
        running_harness(tmp_path, image_dirs=[pictures]) as harness,
        harness.client() as client,
    ):
        video = await _generate_and_save(client, {"prompt": "the sun sets", "image_files": [str(image)]})
        payload = next(iter(harness.simulator.service.tasks.values())).request.to_api_payload()
    first, _ = first_and_last_frames(video)
    assert distance(luma(first), luma(still_frame(image.read_bytes(), first.width, first.height))) < 6
    assert distance(luma(first), luma(still_frame(other.read_bytes(), first.width, first.height))) > 30
    assert payload["image_urls"][0].startswith("https://files.evolink-simulator.test/u/")
    assert counts(harness.simulator) == (1, 1)


async def test_two_images_are_the_first_and_last_frames_in_order(tmp_path: Path, pictures: Path) -> None:
    start = make_image(pictures / "sketch.jpg", (200, 200, 40), stripes=True)
    end = make_image(pictures / "final.webp", (30, 30, 160))
    async with running_harness(tmp_path, image_dirs=[pictures]) as harness, harness.client() as client:
        video = await _generate_and_save(
            client, {"prompt": "from sketch to final", "image_files": [str(start), str(end)], "duration": 6}
        )
    first, last = first_and_last_frames(video)
    size = (first.width, first.height)
    start_luma, end_luma = (luma(still_frame(p.read_bytes(), *size)) for p in (start, end))
    assert distance(luma(first), start_luma) < 8 < distance(luma(first), end_luma)
    assert distance(luma(last), end_luma) < 8 < distance(luma(last), start_luma)
    assert counts(harness.simulator) == (2, 1)


async def test_bad_files_are_refused_before_any_upload(tmp_path: Path, pictures: Path) -> None:
    outside = make_image(tmp_path / "elsewhere" / "a.png", (1, 2, 3))
    renamed = pictures / "notes.png"
    renamed.write_text("just some text, not an image\n" * 10)
    huge = pictures / "huge.png"
    huge.write_bytes(make_image(tmp_path / "small.png", (9, 9, 9)).read_bytes() + bytes(12 * 1024 * 1024))
    folder = pictures / "album"
    folder.mkdir()
    escape = pictures / "link.png"
    escape.symlink_to(outside)
    cases = {
        "outside the allowed folders": (outside, ["outside the folders", "VEO_MCP_IMAGE_DIRS"]),
        "a renamed text file": (renamed, ["not a JPEG, PNG or WebP"]),
        "a 12 MB image": (huge, ["12.0 MB", "at most 10 MB"]),
        "a missing file": (pictures / "missing.png", ["does not exist"]),
        "a directory": (folder, ["is a folder"]),
        "a symlink escaping the folders": (escape, ["outside the folders"]),
        "a relative path": (Path("pictures/a.png"), ["absolute path"]),
    }
    async with running_harness(tmp_path, image_dirs=[pictures]) as harness, harness.client() as client:
        for name, (path, words) in cases.items():
            for tool in ("generate_video", "estimate_cost"):
                result = await client.call_tool(tool, {"prompt": "x", "image_files": [str(path)]})
                assert result.is_error, (name, tool)
                assert "image_files[0]" in text_of(result), (name, text_of(result))
                for word in words:
                    assert word in text_of(result), (name, word, text_of(result))
                if path == escape:  # the caller's own path is echoed; where a link leads is never told
                    assert str(outside.parent) not in text_of(result), text_of(result)
    assert counts(harness.simulator) == (0, 0)


async def test_system_folders_are_never_read(tmp_path: Path) -> None:
    system_file = next(p for p in (Path("/etc/hostname"), Path("/etc/passwd")) if p.exists())
    async with running_harness(tmp_path, image_dirs=[Path("/")]) as harness, harness.client() as client:
        result = await client.call_tool("generate_video", {"prompt": "x", "image_files": [str(system_file)]})
    assert result.is_error and "system folder" in text_of(result)
    assert counts(harness.simulator) == (0, 0)


async def test_the_same_image_is_uploaded_once(tmp_path: Path, pictures: Path) -> None:
    image = make_image(pictures / "frame.png", (120, 40, 200))
    copy = pictures / "copy-of-frame.png"
    copy.write_bytes(image.read_bytes())
    async with running_harness(tmp_path, image_dirs=[pictures]) as harness, harness.client() as client:
        results = [
            await client.call_tool("generate_video", {"prompt": f"take {i}", "image_files": [str(path)]})
            for i, path in enumerate((image, image, copy))
        ]
    assert not any(r.is_error for r in results)
    [reused] = [n for n in (results[1].structured_content or {})["notes"] if "reused its upload" in n]
    assert re.fullmatch(r"frame\.png: reused its upload from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\.", reused)  # UTC
    assert counts(harness.simulator) == (1, 3)


async def test_roots_narrow_the_allowed_folders_when_the_client_declares_them(tmp_path: Path, pictures: Path) -> None:
    shared = pictures / "project"
    inside = make_image(shared / "shot.png", (10, 200, 10))
    not_shared = make_image(pictures / "private.png", (10, 10, 10))

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=shared.as_uri(), name="project")])

    async with (
        running_harness(tmp_path, image_dirs=[pictures]) as harness,
        harness.client(list_roots_callback=roots) as client,
    ):
        allowed = await client.call_tool("generate_video", {"prompt": "ok", "image_files": [str(inside)]})
        refused = await client.call_tool("generate_video", {"prompt": "no", "image_files": [str(not_shared)]})
    assert not allowed.is_error, text_of(allowed)
    assert refused.is_error and "roots" in text_of(refused) and str(shared) in text_of(refused)
    assert counts(harness.simulator) == (1, 1)


@pytest.mark.parametrize("root", ["file:///", "file:", "file://otherhost/", "file://otherhost/etc"])
async def test_roots_never_widen_what_the_server_allows(tmp_path: Path, pictures: Path, root: str) -> None:
    """A client declaring the whole disk (or something that is not a local folder) still reads only inside
    VEO_MCP_IMAGE_DIRS."""
    outside = make_image(tmp_path / "secret" / "a.png", (5, 5, 5))
    inside = make_image(pictures / "b.png", (200, 5, 5))

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=root)])  # type: ignore[arg-type]

    async with (
        running_harness(tmp_path, image_dirs=[pictures]) as harness,
        harness.client(list_roots_callback=roots) as client,
    ):
        escaped = await client.call_tool("estimate_cost", {"prompt": "x", "image_files": [str(outside)]})
        kept = await client.call_tool("estimate_cost", {"prompt": "x", "image_files": [str(inside)]})
    assert escaped.is_error and "outside the folders" in text_of(escaped)
    # "file:" is the whole disk too (it reads as file:///); another host's folders are no local folders at all.
    assert kept.is_error is root.startswith("file://otherhost"), text_of(kept)


async def test_mode_rules_speak_of_image_files_and_mixing_is_refused(tmp_path: Path, pictures: Path) -> None:
    paths = [str(make_image(pictures / f"{i}.png", (i * 60, 0, 0))) for i in range(3)]
    async with running_harness(tmp_path, image_dirs=[pictures]) as harness, harness.client() as client:
        too_many = await client.call_tool(
            "generate_video", {"prompt": "x", "image_files": paths, "generation_type": "FIRST&LAST"}
        )
        mixed = await client.call_tool(
            "generate_video",
            {"prompt": "x", "image_files": paths[:1], "image_urls": ["https://img.example.com/a.png"]},
        )
        estimate = await client.call_tool("estimate_cost", {"prompt": "x", "image_files": paths[:2], "duration": 8})
    assert too_many.is_error and "image_files: 3 given" in text_of(too_many)
    assert mixed.is_error and "either image_urls or image_files" in text_of(mixed)
    assert not estimate.is_error and (estimate.structured_content or {})["usd"] == pytest.approx(0.96)
    assert counts(harness.simulator) == (0, 0)


async def test_an_exhausted_quota_is_explained(tmp_path: Path, pictures: Path) -> None:
    image = make_image(pictures / "a.png", (50, 50, 50))
    simulator = Simulator(SimulatorConfig(speed=100, upload_quota_files=0))
    async with (
        running_harness(tmp_path, simulator=simulator, image_dirs=[pictures]) as harness,
        harness.client() as client,
    ):
        result = await client.call_tool("generate_video", {"prompt": "x", "image_files": [str(image)]})
    message = text_of(result)
    assert result.is_error and "quota" in message.lower() and "72 hours" in message and "image_urls" in message
    assert counts(simulator) == (1, 0)


async def test_upload_faults_are_retried_or_refused_and_never_create_without_the_image(
    tmp_path: Path, pictures: Path
) -> None:
    """The file service answers 503 twice (retried, then the video is made from the image), then keeps failing
    (refused, nothing created; a later call uploads afresh once the service is back)."""
    image = make_image(pictures / "a.png", (120, 30, 30))
    simulator = Simulator(SimulatorConfig(speed=100))
    simulator.faults.add(Fault(kind="status", endpoint="upload", status=503, count=2))
    arguments = {"prompt": "a red frame comes alive", "image_files": [str(image)], "allow_duplicate": True}
    async with (
        running_harness(tmp_path, simulator=simulator, image_dirs=[pictures]) as harness,
        harness.client() as client,
    ):
        retried = await client.call_tool("generate_video", arguments)
        assert not retried.is_error, text_of(retried)
        assert counts(simulator) == (3, 1)
        other = make_image(pictures / "b.png", (30, 120, 30))
        simulator.faults.add(Fault(kind="status", endpoint="upload", status=503, count=100))
        refused = await client.call_tool("generate_video", {**arguments, "image_files": [str(other)]})
        assert counts(simulator) == (8, 1)  # five attempts, no create
        simulator.faults.clear()
        later = await client.call_tool("generate_video", {**arguments, "image_files": [str(other)]})
    message = text_of(refused)
    assert refused.is_error and message == (
        "EvoLink's file service is busy: Injected error 503. This is temporary; wait a minute and try again."
    )
    assert not later.is_error, text_of(later)
    assert counts(simulator) == (9, 2)
    urls = [task.request.image_urls for task in simulator.service.tasks.values()]
    assert all(url_list and len(url_list) == 1 for url_list in urls)


async def test_file_service_wire_behaviour(tmp_path: Path) -> None:
    """The simulator's file service: both upload paths, the answer's shape, refusals, serving and expiry."""
    simulator = Simulator(SimulatorConfig(upload_quota_files=2))
    image = make_image(tmp_path / "a.webp", (10, 100, 200)).read_bytes()
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(simulator),
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ) as http:
        streamed = await http.post("/api/v1/files/upload/stream", files={"file": ("a.webp", image, "image/webp")})
        text = await http.post("/api/v1/files/upload/stream", files={"file": ("a.png", b"hello", "image/png")})
        anonymous = await http.post(
            "/api/v1/files/upload/stream", files={"file": ("a.webp", image)}, headers={"Authorization": ""}
        )
        encoded = await http.post("/api/v1/files/upload/base64", json={"base64_data": base64.b64encode(image).decode()})
        over_quota = await http.post("/api/v1/files/upload/stream", files={"file": ("b.webp", image)})
        data = streamed.json()["data"]
        served = await http.get(data["file_url"])
        simulator.service.clock.advance(72 * 3600 + 1)
        expired = await http.get(data["file_url"])
    assert streamed.status_code == 200 and streamed.json()["success"] is True
    assert set(data) >= {"file_id", "file_name", "file_size", "mime_type", "file_url", "download_url", "expires_at"}
    assert data["mime_type"] == "image/webp" and data["file_size"] == len(image)
    assert encoded.json()["success"] is True
    assert text.status_code == 415 and text.json()["success"] is False
    assert anonymous.status_code == 401
    assert over_quota.status_code == 403 and "quota" in over_quota.json()["msg"].lower()
    assert served.content == image and expired.status_code == 403
    assert simulator.service.ledger()["requests"]["upload"] == 5


async def test_client_maps_file_service_refusals(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(upload_quota_files=0))
    async with make_client(simulator) as client:
        with pytest.raises(UploadQuotaError) as raised:
            await client.upload_image(b"\x89PNG\r\n\x1a\n" + bytes(64), file_name="a.png", mime_type="image/png")
    assert raised.value.action == "free_quota" and TEST_KEY not in str(raised.value)


def test_a_folder_swapped_for_a_link_mid_check_never_reads_outside(tmp_path: Path) -> None:
    """An attacker flips a folder on the checked path between a real folder and a link to a folder outside, as
    fast as it can, while the image is checked: no outside byte is ever read as the image."""
    pictures = tmp_path / "pictures"
    album = pictures / "album"
    inside = make_image(album / "a.png", (0, 255, 0)).read_bytes()
    outside = tmp_path / "secret"
    make_image(outside / "a.png", (255, 0, 0))
    stash = pictures / ".album-real"
    allowed = AllowedFolders(folders=[pictures.resolve()], source="test", how_to_change="-")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            os.rename(album, stash)
            os.symlink(outside, album)
            os.unlink(album)
            os.rename(stash, album)

    flipper = threading.Thread(target=flip)
    flipper.start()
    read: set[bytes] = set()
    try:
        for _ in range(400):
            with contextlib.suppress(InvalidRequestError):
                read.add(inspect_image(str(album / "a.png"), 0, allowed).data)
    finally:
        stop.set()
        flipper.join(timeout=10)
    assert read <= {inside}


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    fifo = pictures / "frame.png"
    os.mkfifo(fifo)
    allowed = AllowedFolders(folders=[pictures.resolve()], source="test", how_to_change="-")
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(_refusal(str(fifo), allowed)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert outcome and "not a regular file" in outcome[0]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("/home/me/a\x00.png", ["NUL character"]),
        ("/proc/self/environ", ["system folder"]),
        ("/proc/1/root/etc/passwd", ["system folder"]),
    ],
)
def test_odd_paths_are_refused_in_one_sentence(tmp_path: Path, raw: str, words: list[str]) -> None:
    allowed = AllowedFolders(folders=[Path("/")], source="test", how_to_change="-")
    message = _refusal(raw, allowed)
    for word in words:
        assert word in message
    assert str(os.getpid()) not in message


def test_missing_and_outside_paths_read_alike(tmp_path: Path) -> None:
    """Outside the allowed folders, an existing and a missing file get the same words: nothing leaks."""
    pictures, elsewhere = tmp_path / "pictures", tmp_path / "elsewhere"
    pictures.mkdir()
    real = make_image(elsewhere / "real.png", (1, 1, 1))
    allowed = AllowedFolders(folders=[pictures.resolve()], source="test", how_to_change="-")
    existing = _refusal(str(real), allowed).replace(str(real), "PATH")
    missing = _refusal(str(elsewhere / "nope.png"), allowed).replace(str(elsewhere / "nope.png"), "PATH")
    assert existing == missing and "outside the folders" in existing


def _refused(raw: str, allowed: AllowedFolders) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as refused:
        inspect_image(raw, 0, allowed)
    return refused.value


def _refusal(raw: str, allowed: AllowedFolders) -> str:
    return str(_refused(raw, allowed))


def test_an_outside_path_is_refused_naming_the_field_the_folders_and_how_to_change_them(tmp_path: Path) -> None:
    pictures, more = tmp_path / "pictures", tmp_path / "more"
    pictures.mkdir()
    more.mkdir()
    raw = str(tmp_path / "elsewhere" / ("x" * 400)) + ".png"
    two = AllowedFolders(folders=[pictures, more], source="VEO_MCP_IMAGE_DIRS", how_to_change="Set it wider.")
    with pytest.raises(InvalidRequestError) as refused:
        inspect_image(raw, 2, two)
    assert refused.value.field == "image_files[2]" and refused.value.advice == "Set it wider."
    assert refused.value.message == (
        f"image_files[2]: {raw[:300]!r} is outside the folders images may be read from: {pictures}, {more} "
        "(VEO_MCP_IMAGE_DIRS)."
    )  # a long path is shown cut to 300 characters
    none = AllowedFolders(folders=[], source="the client's roots", how_to_change="-")
    with pytest.raises(InvalidRequestError, match=r"read from: \(none\) \(the client's roots\)\. -$"):
        inspect_image(str(pictures / "a.png"), 0, none)


def test_an_image_up_to_10_mb_is_read_whole_and_one_byte_more_is_refused_in_words(tmp_path: Path) -> None:
    """A PNG padded after its end (decoders ignore what follows IEND), so the sizes are exact."""
    allowed = AllowedFolders(folders=[tmp_path], source="test", how_to_change="-")
    png = make_image(tmp_path / "a.png", (10, 200, 30)).read_bytes()
    limit = 10 * 1024 * 1024
    exact = tmp_path / "exact.png"
    exact.write_bytes(png + bytes(range(256)) * ((limit - len(png)) // 256) + b"\x01" * ((limit - len(png)) % 256))
    image = inspect_image(str(exact), 0, allowed)
    assert image.bytes == limit and image.data == exact.read_bytes()  # every chunk, in order, nothing added
    assert image.mime_type == "image/png" and image.path == exact
    over = tmp_path / "over.png"
    over.write_bytes(exact.read_bytes() + b"\x00")
    refused = _refused(str(over), allowed)
    assert refused.message == f"image_files[0]: {str(over)!r} is 10.0 MB or more; images may be at most 10 MB."
    assert refused.advice == "Resize or recompress it (a 1920 px JPEG is usually well under 1 MB)."
    big = tmp_path / "big.png"
    big.write_bytes(png + bytes(15 * 1024 * 1024))
    assert "is 15.0 MB or more" in _refused(str(big), allowed).message


def test_a_folder_a_fifo_and_a_file_that_is_no_image_are_refused_with_what_to_give_instead(tmp_path: Path) -> None:
    allowed = AllowedFolders(folders=[tmp_path], source="test", how_to_change="-")
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "text.png").write_text("hello, not a picture")
    for name, problem, advice in (
        ("folder.png", "is a folder.", "Give the path of an image file (JPEG, PNG or WebP)."),
        ("pipe.png", "is not a regular file.", "Give the path of an image file (JPEG, PNG or WebP)."),
        (
            "text.png",
            "is not a JPEG, PNG or WebP image (its content says otherwise, whatever its name).",
            "Convert it to JPEG, PNG or WebP; nothing was uploaded.",
        ),
    ):
        raw = str(tmp_path / name)
        refused = _refused(raw, allowed)
        assert (refused.message, refused.advice) == (f"image_files[0]: {raw!r} {problem}", advice), name


def test_where_images_may_come_from_is_said_for_each_kind_of_user(tmp_path: Path) -> None:
    from veo_mcp.context import acting_as
    from veo_mcp.local.images import allowed_folders

    pictures, shots = tmp_path / "pictures", tmp_path / "shots"
    plain = allowed_folders([pictures, shots], None)
    assert plain.folders == [pictures, shots] and plain.source == "VEO_MCP_IMAGE_DIRS"
    assert plain.how_to_change == (
        "Move the image under one of these folders, or add its folder to VEO_MCP_IMAGE_DIRS (folders separated by "
        f"'{os.pathsep}') in the server's environment and restart it."
    )
    rooted = allowed_folders([pictures, shots], [tmp_path / "pictures" / "trip"])
    assert rooted.folders == [pictures / "trip"]
    assert rooted.source == (
        "the folders your MCP client shares with this server (its roots) that are also within VEO_MCP_IMAGE_DIRS"
    )
    assert rooted.how_to_change == (
        "Open the image's folder in your client (add it to the workspace or roots) or move the image into a shared "
        f"folder; the server reads only within VEO_MCP_IMAGE_DIRS ({pictures}, {shots})."
    )
    assert allowed_folders([], []).how_to_change.endswith("VEO_MCP_IMAGE_DIRS (none).")
    with acting_as("alice"):
        remote = allowed_folders([pictures], None)
    assert remote.folders == []
    assert remote.source == "none for 'alice': image_files reads this server's disk; give image_urls instead"
    assert remote.how_to_change == (
        "Give the images as image_urls (public https links) instead; image_files is for the server's local user only."
    )


@pytest.mark.parametrize(
    ("raw", "shown", "problem", "advice"),
    [
        ("/pics/a\x00.png", "'/pics/a\\\\0.png'", "contains a NUL character.", "Give a plain file path."),
        (
            "pics/a.png",
            "'pics/a.png'",
            "is not an absolute path.",
            "Give the full path, e.g. /Users/me/Pictures/a.png.",
        ),
        (
            "/etc/a.png",
            "'/etc/a.png'",
            "is in a system folder; veo-mcp never reads those.",
            "Copy the image elsewhere.",
        ),
    ],
)
def test_a_path_that_cannot_be_an_image_of_ours_is_refused_before_anything_is_opened(
    raw: str, shown: str, problem: str, advice: str
) -> None:
    refused = _refused(raw, AllowedFolders(folders=[Path("/")], source="test", how_to_change="-"))
    assert (refused.message, refused.advice) == (f"image_files[0]: {shown} {problem}", advice)


def test_a_missing_image_inside_the_folders_is_named_as_missing(tmp_path: Path) -> None:
    raw = str(tmp_path / "nope.png")
    refused = _refused(raw, AllowedFolders(folders=[tmp_path], source="test", how_to_change="-"))
    assert (refused.message, refused.advice) == (
        f"image_files[0]: {raw!r} does not exist.",
        "Check the path (and its spelling); nothing was uploaded.",
    )


def test_upload_times_from_evolink_are_read_as_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from veo_mcp.local.uploads import _parse_time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        noon = 1796558400.0  # 2026-12-06T12:00:00Z
        assert _parse_time("2026-12-06T12:00:00Z") == noon
        assert _parse_time("2026-12-06T12:00:00") == noon  # naive: UTC, not Tokyo
        assert _parse_time("2026-12-06T21:00:00+09:00") == noon
        assert _parse_time("") is None and _parse_time(None) is None and _parse_time("tomorrow") is None
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_an_image_not_yet_uploaded_stands_in_as_a_link_on_the_file_service(tmp_path: Path) -> None:
    from veo_mcp.local.images import placeholder_url

    image = inspect_image(
        str(make_image(tmp_path / "a.png", (1, 2, 3))),
        0,
        AllowedFolders(folders=[tmp_path], source="test", how_to_change="-"),
    )
    wanted = f"https://files.example/pending-upload/{image.sha256}.png"
    assert placeholder_url(image, "https://files.example/") == wanted
    assert placeholder_url(image, "https://files.example") == wanted


def test_a_link_into_a_system_folder_is_never_followed_even_when_every_folder_is_allowed(tmp_path: Path) -> None:
    """VEO_MCP_IMAGE_DIRS=/ (a careless setting) still never reads /etc or /proc: a link that leads there is refused
    like any path outside the folders, without saying what is there."""
    link = tmp_path / "hosts.png"
    link.symlink_to("/etc/hostname")
    refused = _refused(str(link), AllowedFolders(folders=[Path("/")], source="test", how_to_change="-"))
    assert refused.message == f"image_files[0]: {str(link)!r} is outside the folders images may be read from: / (test)."


def test_an_image_given_through_a_link_is_known_by_where_it_really_is(tmp_path: Path) -> None:
    real = make_image(tmp_path / "real.png", (5, 6, 7))
    link = tmp_path / "nice-name.png"
    link.symlink_to(real)
    image = inspect_image(str(link), 0, AllowedFolders(folders=[tmp_path], source="test", how_to_change="-"))
    assert image.path == real.resolve()


def test_a_link_that_vanishes_while_its_path_is_resolved_is_refused_asking_to_call_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link is removed between the moment resolving sees it and the moment it reads where it leads."""
    link = tmp_path / "link.png"
    link.symlink_to(make_image(tmp_path / "real.png", (1, 2, 3)))
    readlink = os.readlink

    def vanishing(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.fspath(path) == str(link):
            link.unlink()
        return readlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "readlink", vanishing)
    refused = _refused(str(link), AllowedFolders(folders=[tmp_path], source="test", how_to_change="-"))
    assert (refused.message, refused.advice) == (
        f"image_files[0]: {str(link)!r} changed while it was being checked.",
        "Call again once it stays put.",
    )


def test_an_image_swapped_for_a_link_after_its_path_was_resolved_is_not_opened_through_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after its path is resolved (a plain file then), the image is replaced by a link to another image of
    the same folder: the file is opened without following a final link, so nothing is read through it."""
    image, other = make_image(tmp_path / "a.png", (1, 2, 3)), make_image(tmp_path / "b.png", (4, 5, 6))
    realpath = os.path.realpath

    def then_swapped(path: Any, *args: Any, **kwargs: Any) -> Any:
        resolved = realpath(path, *args, **kwargs)
        if os.fspath(path) == str(image):
            image.unlink()
            image.symlink_to(other)
        return resolved

    monkeypatch.setattr(os.path, "realpath", then_swapped)
    refused = _refused(str(image), AllowedFolders(folders=[tmp_path], source="test", how_to_change="-"))
    assert (refused.message, refused.advice) == (
        f"image_files[0]: {str(image)!r} cannot be opened ({os.strerror(errno.ELOOP)}).",
        "Check the file's permissions.",
    )
