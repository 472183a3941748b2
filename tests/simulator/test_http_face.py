"""The simulator's own HTTP face, in-process: its `/_sim/*` controls (faults, clock, ledger), the file service
(uploads and the files it serves) and result downloads with their faults and CDN errors. Every product test stands
on these answers, so they are pinned whole.

The simulator runs at a crawl (speed 1e-6): simulated time moves only when a test advances it."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from pydantic import ValidationError

from tests.helpers import TEST_KEY
from veo_mcp.evolink import catalog
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Fault, Simulator, SimulatorConfig, SimulatorTransport
from veo_mcp.simulator.app import SimulatedConnectionDrop, _padded, _throttled, _whole

SPEED = 1e-6
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
GIF = b"GIF87a" + bytes(10)
JPEG = b"\xff\xd8\xff\xe0" + bytes(12)
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8)
XML = '<?xml version="1.0" encoding="UTF-8"?>'
NO_SUCH_KEY = XML + "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
EXPIRED = XML + "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
CLOCK_HINT = 'Send {"advance_s": <seconds>} to move the simulated clock forward'
BASE64_HINT = 'Send {"base64_data": "<base64>"} (optionally with file_name)'
FILES = "https://files.evolink-simulator.test"
DEFAULT_FAULT: dict[str, Any] = {
    "kind": "status",
    "endpoint": "any",
    "count": 1,
    "status": 503,
    "retry_after": None,
    "seconds": 0.0,
    "after_accept": False,
    "on_clock": False,
    "fraction": 0.5,
    "error_code": "service_error",
    "bytes_per_s": 65_536,
    "location": "http://127.0.0.1:9/latest/meta-data/",
    "echo_authorization": False,
}


def _simulator(**options: Any) -> Simulator:
    return Simulator(SimulatorConfig(speed=SPEED, video_short_side=16, video_fps=2, **options))


@asynccontextmanager
async def _http(simulator: Simulator, *, key: str | None = TEST_KEY) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL, transport=SimulatorTransport(simulator), headers=headers
    ) as http:
        yield http


def _api_error(status: int, message: str, kind: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "type": kind}}


def _upload_refusal(status: int, message: str) -> dict[str, Any]:
    return {"success": False, "code": status, "msg": message, "data": None}


def _fault(**fields: Any) -> dict[str, Any]:
    return {**DEFAULT_FAULT, **fields}


async def _completed(http: httpx.AsyncClient, simulator: Simulator, **request: Any) -> tuple[str, list[str]]:
    """A task created and rendered to completion: its id and its result links (paths with their token)."""
    created = await http.post("/v1/videos/generations", json={"prompt": "a kite", "generate_audio": False, **request})
    assert created.status_code == 200, created.text
    simulator.service.clock.advance(3600)
    task = (await http.get(f"/v1/tasks/{created.json()['id']}")).json()
    assert task["status"] == "completed", task
    return task["id"], [url.removeprefix(IN_PROCESS_BASE_URL) for url in task["results"]]


async def _wait_for_a_pause(simulator: Simulator) -> None:
    """Until a request waits in an `on_clock` delay (it listens to the clock beside the callback sender)."""
    with anyio.fail_after(5):
        while len(simulator.service.clock.on_advance) < 2:
            await anyio.lowlevel.checkpoint()


# --- /_sim/faults ----------------------------------------------------------------------------------------------


async def test_faults_are_listed_added_in_every_form_used_up_and_cleared() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        assert (await http.get("/_sim/faults")).json() == {"pending": []}
        one = await http.post("/_sim/faults", json={"kind": "status", "endpoint": "get", "status": 500, "count": 2})
        first = _fault(endpoint="get", status=500, count=2, remaining=2)
        assert (one.status_code, one.json()) == (200, {"pending": [first]})
        many = await http.post(
            "/_sim/faults",
            json={"faults": [{"kind": "truncate", "fraction": 0.25}, {"kind": "redirect", "location": "http://x/"}]},
        )
        second = _fault(kind="truncate", fraction=0.25, remaining=1)
        third = _fault(kind="redirect", location="http://x/", remaining=1)
        assert (many.status_code, many.json()) == (200, {"pending": [first, second, third]})
        listed = await http.post(
            "/_sim/faults", json=[{"kind": "slow_body", "bytes_per_s": 10, "endpoint": "download"}]
        )
        fourth = _fault(kind="slow_body", bytes_per_s=10, endpoint="download", remaining=1)
        assert listed.json() == {"pending": [first, second, third, fourth]}
        assert (await http.get("/_sim/faults")).json() == {"pending": [first, second, third, fourth]}

        refused = await http.get("/v1/tasks/task-unknown")  # the status fault comes first, and one use goes
        assert (refused.status_code, refused.json()) == (
            500,
            _api_error(500, "Internal server error", "internal_server_error"),
        )
        assert (await http.get("/_sim/faults")).json() == {
            "pending": [{**first, "remaining": 1}, second, third, fourth]
        }

        cleared = await http.delete("/_sim/faults")
        assert (cleared.status_code, cleared.json()) == (200, {"pending": []})
        assert (await http.get("/_sim/faults")).json() == {"pending": []}
        unknown = await http.get("/v1/tasks/task-unknown")
        assert unknown.json() == _api_error(404, "Task not found: task-unknown", "not_found_error")


def _validation_message(item: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Fault.model_validate(item)
    return f"Not a fault specification: {caught.value}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "status"', "Not a fault specification: Expecting ',' delimiter: line 1 column 18 (char 17)"),
        (b"5", "Not a fault specification: 'int' object is not iterable"),
        (b'{"faults": 3}', "Not a fault specification: 'int' object is not iterable"),
        (b'{"kind": "nope"}', _validation_message({"kind": "nope"})),
        (
            b'{"faults": [{"kind": "status"}, {"kind": "delay", "seconds": -1}]}',
            _validation_message({"kind": "delay", "seconds": -1}),
        ),
        (b'["status"]', _validation_message("status")),
        (
            b'{"kind": "fail_task", "error_code": "oops"}',
            _validation_message({"kind": "fail_task", "error_code": "oops"}),
        ),
    ],
    ids=["broken-json", "a-number", "faults-not-a-list", "unknown-kind", "one-bad-of-two", "not-an-object", "bad-code"],
)
async def test_a_fault_that_is_not_one_is_refused_and_nothing_is_added(body: bytes, message: str) -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        refused = await http.post("/_sim/faults", content=body, headers={"content-type": "application/json"})
        assert (refused.status_code, refused.json()) == (400, _api_error(400, message, "invalid_request_error"))
        assert (await http.get("/_sim/faults")).json() == {"pending": []}


@pytest.mark.parametrize(
    ("fault", "status", "message", "kind", "retry_after"),
    [
        ({"status": 429}, 429, "Rate limit exceeded, please retry later", "rate_limit_error", "1"),
        ({"status": 429, "retry_after": 7}, 429, "Rate limit exceeded, please retry later", "rate_limit_error", "7"),
        ({"status": 500}, 500, "Internal server error", "internal_server_error", None),
        ({"status": 502}, 502, "Upstream model provider unavailable", "upstream_error", None),
        (
            {"status": 503, "retry_after": 2.5},
            503,
            "Service temporarily overloaded",
            "service_unavailable_error",
            "2.5",
        ),
        ({"status": 418}, 418, "Injected error 418", "api_error", None),
        ({"status": 402}, 402, "Injected error 402", "insufficient_quota_error", None),
        (
            {"status": 500, "echo_authorization": True},
            500,
            f"Internal server error (request had Authorization: Bearer {TEST_KEY})",
            "internal_server_error",
            None,
        ),
    ],
)
async def test_an_injected_status_answers_in_evolink_s_error_shape(
    fault: dict[str, Any], status: int, message: str, kind: str, retry_after: str | None
) -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        await http.post("/_sim/faults", json={"kind": "status", "endpoint": "get", **fault})
        answer = await http.get("/v1/tasks/task-unknown")
        assert (answer.status_code, answer.json()) == (status, _api_error(status, message, kind))
        assert answer.headers.get("retry-after") == retry_after


async def test_a_download_s_injected_status_never_echoes_the_authorization() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        await http.post("/_sim/faults", json={"kind": "status", "status": 502, "echo_authorization": True})
        answer = await http.get("/files/videos/task-unknown/0.mp4")
        assert answer.json() == _api_error(502, "Upstream model provider unavailable", "upstream_error")


# --- /_sim/clock ---------------------------------------------------------------------------------------------------


async def test_the_clock_is_read_and_moved_on() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        assert (await http.get("/_sim/clock")).json() == {"now_s": pytest.approx(0.0, abs=1e-3), "speed": SPEED}
        moved = await http.post("/_sim/clock", json={"advance_s": 7.5})
        assert (moved.status_code, moved.json()) == (200, {"now_s": pytest.approx(7.5, abs=1e-3), "speed": SPEED})
        again = await http.post("/_sim/clock", json={"advance_s": "2.5"})
        assert again.json() == {"now_s": pytest.approx(10.0, abs=1e-3), "speed": SPEED}
        assert (await http.get("/_sim/clock")).json() == {"now_s": pytest.approx(10.0, abs=1e-3), "speed": SPEED}
        assert simulator.service.clock.now() == pytest.approx(10.0, abs=1e-3)


@pytest.mark.parametrize(
    "body",
    [b"soon", b"{}", b'{"advance_s": "soon"}', b'{"advance_s": null}', b"[60]", b'{"by": 60}'],
    ids=["not-json", "empty", "not-a-number", "null", "a-list", "wrong-key"],
)
async def test_a_clock_move_without_seconds_is_refused_and_moves_nothing(body: bytes) -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        refused = await http.post("/_sim/clock", content=body, headers={"content-type": "application/json"})
        assert (refused.status_code, refused.json()) == (400, _api_error(400, CLOCK_HINT, "invalid_request_error"))
        assert (await http.get("/_sim/clock")).json() == {"now_s": pytest.approx(0.0, abs=1e-3), "speed": SPEED}


async def test_a_delay_on_the_clock_ends_when_the_clock_is_moved() -> None:
    """A create held an hour of simulated time (after the task was made) answers once `POST /_sim/clock` moves it."""
    simulator = _simulator()
    answers: list[httpx.Response] = []
    async with _http(simulator) as http:
        await http.post(
            "/_sim/faults",
            json={"kind": "delay", "endpoint": "create", "seconds": 3600, "after_accept": True, "on_clock": True},
        )

        async def create() -> None:
            answers.append(await http.post("/v1/videos/generations", json={"prompt": "a kite"}))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(create)
                await _wait_for_a_pause(simulator)
                assert answers == [] and len(simulator.service.tasks) == 1  # accepted, the answer held
                short = await http.post("/_sim/clock", json={"advance_s": 1800})
                assert short.status_code == 200
                await anyio.lowlevel.checkpoint()
                assert answers == []  # half an hour is not enough
                await http.post("/_sim/clock", json={"advance_s": 1800})
        assert answers[0].status_code == 200 and answers[0].json()["id"] in simulator.service.tasks
        assert len(simulator.service.clock.on_advance) == 1  # the pause stopped listening


async def test_a_delay_on_the_clock_of_a_status_read_counts_from_when_it_began() -> None:
    simulator = _simulator()
    answers: list[httpx.Response] = []
    async with _http(simulator) as http:
        await http.post("/_sim/faults", json={"kind": "delay", "endpoint": "get", "seconds": 60, "on_clock": True})

        async def read() -> None:
            answers.append(await http.get("/v1/tasks/task-unknown"))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(read)
                await _wait_for_a_pause(simulator)
                await http.post("/_sim/clock", json={"advance_s": 60})
        assert answers[0].json() == _api_error(404, "Task not found: task-unknown", "not_found_error")


# --- /_sim/ledger --------------------------------------------------------------------------------------------------


async def test_the_ledger_counts_requests_tasks_and_uploads() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        assert (await http.get("/_sim/ledger")).json() == {
            "requests": {"create": 0, "get": 0, "download": 0, "upload": 0, "callback": 0},
            "tasks": [],
            "uploads": [],
            "total_charged_usd": 0.0,
        }
        created = (await http.post("/v1/videos/generations", json={"prompt": "a kite", "generate_audio": False})).json()
        await http.post(
            "/api/v1/files/upload/base64", json={"base64_data": base64.b64encode(PNG).decode(), "file_name": "k.png"}
        )
        file_id = next(iter(simulator.service.uploads))
        task = {
            "id": created["id"],
            "model": "veo-3.1-fast-generate-preview",
            "status": "pending",
            "progress": 0,
            "charged_usd": 0.0,
            "cost_usd": 0.32,
            "quality": "720p",
            "duration": 4,
            "n": 1,
            "generate_audio": False,
            "prompt": "a kite",
            "gets": 0,
            "callback_attempts": 0,
            "callback_delivered": False,
        }
        upload = {"file_id": file_id, "bytes": len(PNG), "mime_type": "image/png", "original_name": "k.png"}
        assert (await http.get("/_sim/ledger")).json() == {
            "requests": {"create": 1, "get": 0, "download": 0, "upload": 1, "callback": 0},
            "tasks": [task],
            "uploads": [upload],
            "total_charged_usd": 0.0,
        }
        simulator.service.clock.advance(3600)
        done = (await http.get(f"/v1/tasks/{created['id']}")).json()
        await http.get(done["results"][0].removeprefix(IN_PROCESS_BASE_URL))
        assert (await http.get("/_sim/ledger")).json() == {
            "requests": {"create": 1, "get": 1, "download": 1, "upload": 1, "callback": 0},
            "tasks": [{**task, "status": "completed", "progress": 100, "charged_usd": 0.32, "gets": 1}],
            "uploads": [upload],
            "total_charged_usd": 0.32,
        }


# --- the file service -----------------------------------------------------------------------------------------


def _uploaded(simulator: Simulator, answer: httpx.Response, *, original: str, data: bytes, mime: str, ext: str) -> None:
    """The whole success answer of an upload (API doc §7), and what the simulator kept."""
    assert answer.status_code == 200, answer.text
    file_id = answer.json()["data"]["file_id"]
    assert re.fullmatch(r"file_[0-9a-f]{16}", file_id), file_id
    kept = simulator.service.uploads[file_id]
    wall = datetime.fromtimestamp(kept.uploaded_wall, tz=UTC)
    url = f"{FILES}/u/{file_id}/{file_id}{ext}"
    assert answer.json() == {
        "success": True,
        "code": 200,
        "msg": "File uploaded",
        "data": {
            "file_id": file_id,
            "file_name": f"{file_id}{ext}",
            "original_name": original,
            "file_size": len(data),
            "mime_type": mime,
            "upload_path": "",
            "file_url": url,
            "download_url": url,
            "upload_time": wall.isoformat(timespec="seconds"),
            "expires_at": (wall + timedelta(hours=72)).isoformat(timespec="seconds"),
        },
    }
    assert (kept.data, kept.mime_type, kept.original_name) == (data, mime, original)
    assert abs(wall.timestamp() - datetime.now(tz=UTC).timestamp()) < 3600  # a real date, not the epoch


@pytest.mark.parametrize(
    ("data", "mime", "ext"),
    [
        (PNG, "image/png", ".png"),
        (JPEG, "image/jpeg", ".jpg"),
        (WEBP, "image/webp", ".webp"),
        (GIF, "image/gif", ".gif"),
        (b"GIF89a" + bytes(4), "image/gif", ".gif"),
    ],
    ids=["png", "jpeg", "webp", "gif87", "gif89"],
)
async def test_a_streamed_upload_is_told_by_its_content(data: bytes, mime: str, ext: str) -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        answer = await http.post("/api/v1/files/upload/stream", files={"file": ("photo.bin", data)})
        _uploaded(simulator, answer, original="photo.bin", data=data, mime=mime, ext=ext)


async def test_a_streamed_upload_takes_its_file_name_field() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        answer = await http.post(
            "/api/v1/files/upload/stream", files={"file": ("a.png", PNG)}, data={"file_name": "kite.png"}
        )
        _uploaded(simulator, answer, original="kite.png", data=PNG, mime="image/png", ext=".png")
        unnamed = await http.post("/api/v1/files/upload/stream", files={"file": ("a.png", PNG)}, data={"file_name": ""})
        _uploaded(simulator, unnamed, original="a.png", data=PNG, mime="image/png", ext=".png")


@pytest.mark.parametrize(
    ("body", "original"),
    [
        ({"base64_data": base64.b64encode(PNG).decode(), "file_name": "kite.png"}, "kite.png"),
        ({"base64_data": "data:image/png;base64," + base64.b64encode(PNG).decode()}, "upload"),
        ({"base64_data": base64.b64encode(PNG).decode(), "file_name": ""}, "upload"),
    ],
    ids=["named", "data-url", "empty-name"],
)
async def test_a_base64_upload(body: dict[str, str], original: str) -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        answer = await http.post("/api/v1/files/upload/base64", json=body)
        _uploaded(simulator, answer, original=original, data=PNG, mime="image/png", ext=".png")


_NOT_MULTIPART = "Request must be multipart/form-data with a 'file' field"


@pytest.mark.parametrize(
    ("request_options", "status", "message"),
    [
        ({"files": [("file", ("a.png", PNG)), ("file", ("b.png", PNG))]}, 400, _NOT_MULTIPART),
        ({"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}}, 400, _NOT_MULTIPART),
        ({"json": {"file": "a.png"}}, 400, "Missing 'file' field"),
        ({"data": {"file": "a.png"}, "files": {"other": ("a.png", PNG)}}, 400, "Missing 'file' field"),
        ({"files": {"file": ("notes.txt", b"just some text")}}, 415, "Unsupported file type: jpeg, png, gif or webp"),
        ({"files": {"file": ("a.png", PNG[:7])}}, 415, "Unsupported file type: jpeg, png, gif or webp"),
        ({"files": {"file": ("a.bmp", b"BM" + bytes(30))}}, 415, "Unsupported file type: jpeg, png, gif or webp"),
    ],
    ids=["two-files", "broken-multipart", "json", "no-file-field", "text", "short", "bmp"],
)
async def test_a_streamed_upload_is_refused(request_options: dict[str, Any], status: int, message: str) -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        answer = await http.post("/api/v1/files/upload/stream", **request_options)
        assert (answer.status_code, answer.json()) == (status, _upload_refusal(status, message))
        assert simulator.service.uploads == {}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, BASE64_HINT),
        (b'{"file_name": "a.png"}', 400, BASE64_HINT),
        (b'{"base64_data": "@@@@"}', 400, BASE64_HINT),
        (b'["iVBORw0KGgo="]', 400, BASE64_HINT),
        (
            b'{"base64_data": "' + base64.b64encode(b"hello").decode().encode() + b'"}',
            415,
            "Unsupported file type: jpeg, png, gif or webp",
        ),
    ],
    ids=["not-json", "no-data", "not-base64", "a-list", "text"],
)
async def test_a_base64_upload_is_refused(body: bytes, status: int, message: str) -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        answer = await http.post(
            "/api/v1/files/upload/base64", content=body, headers={"content-type": "application/json"}
        )
        assert (answer.status_code, answer.json()) == (status, _upload_refusal(status, message))
        assert simulator.service.uploads == {}


@pytest.mark.parametrize("route", ["stream", "base64"])
async def test_an_upload_up_to_the_size_limit_is_taken_and_one_byte_more_is_not(route: str) -> None:
    limit = catalog.MAX_IMAGE_BYTES
    simulator = _simulator()
    async with _http(simulator) as http:
        for data, status in ((PNG + bytes(limit - len(PNG) + 1), 413), (PNG + bytes(limit - len(PNG)), 200)):
            if route == "stream":
                answer = await http.post("/api/v1/files/upload/stream", files={"file": ("big.png", data)})
            else:
                answer = await http.post(
                    "/api/v1/files/upload/base64", json={"base64_data": base64.b64encode(data).decode()}
                )
            if status == 413:
                expected = _upload_refusal(413, f"File is {limit + 1} bytes; the limit is {limit}")
                assert (answer.status_code, answer.json()) == (413, expected)
            else:
                assert answer.status_code == 200 and answer.json()["data"]["file_size"] == limit
    assert len(simulator.service.uploads) == 1


async def test_the_upload_quota_is_per_account() -> None:
    simulator = _simulator(upload_quota_files=2)
    async with _http(simulator) as http:
        for _ in range(2):
            assert (await http.post("/api/v1/files/upload/stream", files={"file": ("a.png", PNG)})).status_code == 200
        for route, options in (("stream", {"files": {"file": ("a.png", PNG)}}), ("base64", {"json": {}})):
            answer = await http.post(f"/api/v1/files/upload/{route}", **options)
            expected = _upload_refusal(403, "Upload quota exceeded: 2 files per user")
            assert (answer.status_code, answer.json()) == (403, expected)
    assert len(simulator.service.uploads) == 2


async def test_no_quota_and_a_quota_of_none() -> None:
    none_left = _simulator(upload_quota_files=0)
    async with _http(none_left) as http:
        answer = await http.post("/api/v1/files/upload/base64", json={"base64_data": base64.b64encode(PNG).decode()})
        assert answer.json() == _upload_refusal(403, "Upload quota exceeded: 0 files per user")
    unlimited = _simulator(upload_quota_files=None)
    async with _http(unlimited) as http:
        for _ in range(3):
            assert (await http.post("/api/v1/files/upload/stream", files={"file": ("a.png", PNG)})).status_code == 200


async def test_an_upload_needs_the_key_and_answers_an_injected_error_in_its_own_envelope() -> None:
    simulator = _simulator(api_key=TEST_KEY)
    async with _http(simulator, key=None) as http:
        answer = await http.post("/api/v1/files/upload/stream", files={"file": ("a.png", PNG)})
        missing = _api_error(401, "Missing API key: send 'Authorization: Bearer <key>'", "authentication_error")
        assert (answer.status_code, answer.json()) == (401, missing)
    async with _http(simulator, key="sk-wrong") as http:
        answer = await http.post("/api/v1/files/upload/base64", json={"base64_data": base64.b64encode(PNG).decode()})
        assert (answer.status_code, answer.json()) == (401, _api_error(401, "Invalid API key", "authentication_error"))
    async with _http(simulator) as http:
        await http.post("/_sim/faults", json={"kind": "status", "endpoint": "upload", "status": 503})
        injected = await http.post("/api/v1/files/upload/stream", files={"file": ("a.png", PNG)})
        assert (injected.status_code, injected.json()) == (503, _upload_refusal(503, "Injected error 503"))
        await http.post("/_sim/faults", json={"kind": "delay", "endpoint": "upload", "seconds": 0})
        late = await http.post("/api/v1/files/upload/stream", files={"file": ("a.png", PNG)})
        assert late.status_code == 200 and (await http.get("/_sim/faults")).json() == {"pending": []}
    assert len(simulator.service.uploads) == 1
    assert simulator.service.ledger()["requests"]["upload"] == 4


async def test_an_uploaded_file_is_served_until_it_expires() -> None:
    simulator = _simulator()
    async with _http(simulator, key=None) as http:  # the files are public links
        simulator.service.store_upload(b"x", "first.png", "image/png")  # another one, to be told apart
        upload = simulator.service.store_upload(PNG, "kite.png", "image/png")
        path = f"/u/{upload.file_id}/{upload.file_name}"
        got = await http.get(path)
        assert (got.status_code, got.content, got.headers["content-type"]) == (200, PNG, "image/png")
        head = await http.head(path)
        assert (head.status_code, head.content) == (200, b"")
        assert (head.headers["content-length"], head.headers["content-type"]) == (str(len(PNG)), "image/png")
        gif = simulator.service.store_upload(GIF, "g.gif", "image/gif")
        served = await http.get(f"/u/{gif.file_id}/{gif.file_name}")
        assert (served.content, served.headers["content-type"]) == (GIF, "image/gif")

        for wrong in (f"/u/{upload.file_id}/other.png", f"/u/file_0000000000000000/{upload.file_name}"):
            for method in ("GET", "HEAD"):
                missing = await http.request(method, wrong)
                assert (missing.status_code, missing.headers["content-type"]) == (404, "application/xml")
                assert missing.text == (NO_SUCH_KEY if method == "GET" else "")

        simulator.service.clock.advance(catalog.UPLOAD_TTL_S - 60)
        assert (await http.get(path)).content == PNG
        simulator.service.clock.advance(120)
        expired = await http.get(path)
        assert (expired.status_code, expired.text, expired.headers["content-type"]) == (403, EXPIRED, "application/xml")
        assert (await http.head(path)).status_code == 403


# --- downloads -----------------------------------------------------------------------------------------------------


async def test_a_result_is_downloaded_whole_and_its_size_is_told_by_head() -> None:
    simulator = _simulator()
    async with _http(simulator, key=None) as http:
        async with _http(simulator) as api:
            task_id, paths = await _completed(api, simulator, n=2)
        task = simulator.task(task_id)
        first, second = simulator.service.video_bytes(task, 0), simulator.service.video_bytes(task, 1)
        assert first != second and first.startswith(bytes(3)) and first[4:8] == b"ftyp"
        for path, data in zip(paths, (first, second), strict=True):
            got = await http.get(path)
            assert (got.status_code, got.content) == (200, data)
            assert dict(got.headers) == {"content-length": str(len(data)), "content-type": "video/mp4"}
            head = await http.head(path)
            assert (head.status_code, head.content) == (200, b"")
            assert dict(head.headers) == {"content-length": str(len(data)), "content-type": "video/mp4"}


async def test_a_download_the_cdn_does_not_know_is_no_such_key() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        created = (await http.post("/v1/videos/generations", json={"prompt": "a kite"})).json()
        token = simulator.task(created["id"]).results_token
        early = await http.get(f"/files/videos/{created['id']}/0.mp4?token={token}")
        assert (early.status_code, early.text) == (404, NO_SUCH_KEY)  # not rendered yet
        task_id, [path] = await _completed(http, simulator)
        token = simulator.task(task_id).results_token
        wrong = [
            f"/files/videos/{task_id}/1.mp4?token={token}",  # n is 1
            f"/files/videos/{task_id}/0.mp4?token=not-{token}",
            f"/files/videos/{task_id}/0.mp4",
            f"/files/videos/task-unknown/0.mp4?token={token}",
        ]
        for url in wrong:
            for method in ("GET", "HEAD"):
                answer = await http.request(method, url)
                assert (answer.status_code, answer.headers["content-type"]) == (404, "application/xml")
                assert answer.text == (NO_SUCH_KEY if method == "GET" else "")
        assert (await http.get(path)).status_code == 200


async def test_a_result_link_expires_after_its_lifetime() -> None:
    simulator = _simulator(link_ttl_s=7200)
    async with _http(simulator) as http:
        task_id, [path] = await _completed(http, simulator)
        clock = simulator.service.clock
        clock.advance(simulator.task(task_id).completed_at() + 7200 - clock.now() - 1)
        assert (await http.get(path)).status_code == 200  # a second before its end
        clock.advance(2)
        expired = await http.get(path)
        assert (expired.status_code, expired.text, expired.headers["content-type"]) == (403, EXPIRED, "application/xml")
        assert (await http.head(path)).status_code == 403


async def test_download_faults_redirect_truncate_and_delay() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        task_id, [path] = await _completed(http, simulator)
        data = simulator.service.video_bytes(simulator.task(task_id), 0)
        await http.post(
            "/_sim/faults",
            json={
                "faults": [
                    {"kind": "redirect", "location": "http://169.254.169.254/latest/"},
                    {"kind": "truncate", "fraction": 0.25},
                    {"kind": "delay", "endpoint": "download", "seconds": 0},
                ]
            },
        )
        moved = await http.get(path)
        assert (moved.status_code, moved.headers["location"], moved.content) == (
            302,
            "http://169.254.169.254/latest/",
            b"",
        )
        cut = await http.get(path)
        assert (cut.status_code, cut.content) == (200, data[: int(len(data) * 0.25)])
        assert dict(cut.headers) == {"content-type": "video/mp4", "content-length": str(len(data))}
        late = await http.get(path)
        assert (late.status_code, late.content) == (200, data)
        assert (await http.get("/_sim/faults")).json() == {"pending": []}


async def test_a_padded_result_ends_in_a_free_box_of_the_configured_size() -> None:
    simulator = _simulator(result_bytes=50_000)
    async with _http(simulator) as http:
        task_id, [path] = await _completed(http, simulator)
        data = simulator.service.video_bytes(simulator.task(task_id), 0)
        padding = 50_000 - len(data)
        got = await http.get(path)
        assert got.content == data + padding.to_bytes(4, "big") + b"free" + bytes(padding - 8)
        assert dict(got.headers) == {"content-length": "50000", "content-type": "video/mp4"}
        head = await http.head(path)
        assert (head.content, head.headers["content-length"]) == (b"", "50000")

        simulator.config.result_bytes = len(data) + 3  # the smallest free box is 8 bytes
        tight = await http.get(path)
        assert tight.content == data + b"\x00\x00\x00\x08free"
        assert tight.headers["content-length"] == str(len(data) + 8)
        simulator.config.result_bytes = len(data)  # big enough already: not padded
        exact = await http.get(path)
        assert (exact.content, exact.headers["content-length"]) == (data, str(len(data)))
        simulator.config.result_bytes = 10
        assert (await http.get(path)).content == data


async def _asgi(
    simulator: Simulator, method: str, target: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> list[MutableMapping[str, Any]]:
    """A request straight through the ASGI app: every message it sent, as it was sent (the transport joins them)."""
    path, _, query = target.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:1"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 1),
    }
    messages: list[MutableMapping[str, Any]] = []
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.Event().wait()  # the client never goes away
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    try:
        await simulator.app(scope, receive, send)
    except SimulatedConnectionDrop:
        messages.append({"type": "dropped"})
    return messages


async def test_a_slow_body_arrives_in_tenth_of_a_second_slices() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        task_id, [path] = await _completed(http, simulator)
        data = simulator.service.video_bytes(simulator.task(task_id), 0)
        slice_size = -(-len(data) // 3)  # three slices
        await http.post("/_sim/faults", json={"kind": "slow_body", "bytes_per_s": slice_size * 10})
        start, *bodies = await _asgi(simulator, "GET", path)
    assert (start["status"], start["headers"]) == (
        200,
        [(b"content-length", str(len(data)).encode()), (b"content-type", b"video/mp4")],
    )
    pieces = [data[:slice_size], data[slice_size : 2 * slice_size], data[2 * slice_size :]]
    assert [(body["body"], body["more_body"]) for body in bodies] == [(piece, True) for piece in pieces] + [
        (b"", False)
    ]


async def test_a_dropped_create_promises_a_body_it_never_sends_and_the_task_is_made() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        await http.post("/_sim/faults", json={"kind": "drop_after_accept"})
        with pytest.raises(
            httpx.RemoteProtocolError, match=re.escape("Server disconnected without sending a response.")
        ):
            await http.post("/v1/videos/generations", json={"prompt": "a kite"})
        assert len(simulator.service.tasks) == 1
        await http.post("/_sim/faults", json={"kind": "drop_after_accept"})
    auth = [(b"authorization", f"Bearer {TEST_KEY}".encode()), (b"content-type", b"application/json")]
    messages = await _asgi(simulator, "POST", "/v1/videos/generations", b'{"prompt": "a heron"}', auth)
    assert messages == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        },
        {"type": "dropped"},
    ]
    assert len(simulator.service.tasks) == 2


async def test_a_delay_on_the_clock_counts_from_the_request_s_arrival() -> None:
    """Simulated time that passes while the create is handled (here: while EvoLink fetches its image) counts."""
    simulator = _simulator()

    def internet(request: httpx.Request) -> httpx.Response:
        simulator.service.clock.advance(3600)  # a very slow image host, in simulated time
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})

    simulator = Simulator(simulator.config, internet=httpx.MockTransport(internet))
    async with _http(simulator) as http:
        await http.post(
            "/_sim/faults",
            json={"kind": "delay", "endpoint": "create", "seconds": 3600, "after_accept": True, "on_clock": True},
        )
        with anyio.fail_after(3):
            created = await http.post(
                "/v1/videos/generations", json={"prompt": "a kite", "image_urls": ["https://img.example.com/k.png"]}
            )
    assert created.status_code == 200 and created.json()["status"] == "pending"


async def test_throttling_recuts_every_chunk_and_padding_streams_in_mebibytes() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * 25
        yield b"y" * 5

    assert [piece async for piece in _throttled(chunks(), 100)] == [b"x" * 10, b"x" * 10, b"x" * 5, b"y" * 5]
    assert [piece async for piece in _whole(b"abc")] == [b"abc"]
    mib = 1024 * 1024
    padding = 2 * mib + 8 + 5
    assert [piece async for piece in _padded(b"mp4", padding)] == [
        b"mp4",
        padding.to_bytes(4, "big") + b"free",
        bytes(mib),
        bytes(mib),
        bytes(5),
    ]
    assert [piece async for piece in _padded(b"mp4", 8)] == [b"mp4", b"\x00\x00\x00\x08free"]
