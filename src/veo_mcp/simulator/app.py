"""The simulator's HTTP face: EvoLink's endpoints, error shapes and status codes, plus `/_sim/*` controls.

An ASGI (Starlette) app, so it runs in-process behind `SimulatorTransport` or on a loopback port under uvicorn,
unchanged. Requests are validated with the same schemas the client uses (`veo_mcp.evolink.schemas`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from veo_mcp.evolink import catalog
from veo_mcp.evolink.addresses import is_loopback_host, split_url
from veo_mcp.evolink.errors import InvalidRequestError
from veo_mcp.evolink.image_types import image_type
from veo_mcp.evolink.schemas import parse_video_request
from veo_mcp.simulator.callbacks import CallbackSender
from veo_mcp.simulator.engine import SimTask, SimulatedService, SimulatorConfig, charge_usd
from veo_mcp.simulator.faults import Fault, FaultQueue

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large_error",
    429: "rate_limit_error",
    500: "internal_server_error",
    502: "upstream_error",
    503: "service_unavailable_error",
}


class SimulatedConnectionDrop(Exception):
    """Raised after the response head is sent: the server goes away without a body."""


class _DroppedConnection(Response):
    """Starts a 200 answer, then vanishes: on uvicorn the socket closes, in-process the transport sees a drop."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
            }
        )
        raise SimulatedConnectionDrop


class _TruncatedBody(Response):
    """Promises the whole file in Content-Length, then sends only part of it."""

    def __init__(self, data: bytes, served: int) -> None:
        super().__init__(status_code=200)
        self._data, self._served = data, served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"video/mp4"), (b"content-length", str(len(self._data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self._data[: self._served], "more_body": False})


def api_error(status: int, message: str, *, param: str | None = None, retry_after: float | None = None) -> Response:
    """An error in EvoLink's body shape: `{"error": {"code", "message", "type", "param"?}}`."""
    error: dict[str, Any] = {"code": status, "message": message, "type": ERROR_TYPES.get(status, "api_error")}
    if param is not None:
        error["param"] = param
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _fault_response(fault: Fault, request: Request | None = None) -> Response:
    retry_after = fault.retry_after if fault.retry_after is not None else (1.0 if fault.status == 429 else None)
    messages = {
        429: "Rate limit exceeded, please retry later",
        500: "Internal server error",
        502: "Upstream model provider unavailable",
        503: "Service temporarily overloaded",
    }
    message = messages.get(fault.status, f"Injected error {fault.status}")
    if fault.echo_authorization and request is not None:
        message += f" (request had Authorization: {request.headers.get('authorization', '')})"
    return api_error(fault.status, message, retry_after=retry_after)


class Simulator:
    """A simulated EvoLink: `service` holds the state, `app` is the ASGI application.

    `internet` is how the simulator reaches image URLs it is given, as EvoLink's servers would fetch them: the real
    network by default, or a transport a test gives (a fake internet, no monkeypatching)."""

    def __init__(
        self, config: SimulatorConfig | None = None, *, internet: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config or SimulatorConfig()
        self.service = SimulatedService(self.config)
        self._internet = internet
        self.faults = FaultQueue(list(self.config.faults))
        self.callbacks = CallbackSender(self.service)
        self.app = Starlette(
            lifespan=self._lifespan,
            routes=[
                Route(catalog.CREATE_PATH, self._create, methods=["POST"]),
                Route("/v1/tasks/{task_id}", self._get_task, methods=["GET"]),
                Route("/files/videos/{task_id}/{index:int}.mp4", self._download, methods=["GET", "HEAD"]),
                Route(catalog.UPLOAD_STREAM_PATH, self._upload_stream, methods=["POST"]),
                Route(catalog.UPLOAD_BASE64_PATH, self._upload_base64, methods=["POST"]),
                Route("/u/{file_id}/{name}", self._uploaded_file, methods=["GET", "HEAD"]),
                Route("/_sim/ledger", self._ledger, methods=["GET"]),
                Route("/_sim/faults", self._faults, methods=["GET", "POST", "DELETE"]),
                Route("/_sim/clock", self._clock, methods=["GET", "POST"]),
            ],
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Under a server (uvicorn), callbacks are delivered for as long as it runs."""
        async with anyio.create_task_group() as group:
            group.start_soon(self.callbacks.run)
            yield
            group.cancel_scope.cancel()

    # --- helpers -----------------------------------------------------------------------------------------

    def _auth_error(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return api_error(401, "Missing API key: send 'Authorization: Bearer <key>'")
        if self.config.api_key is not None and key.strip() != self.config.api_key:
            return api_error(401, "Invalid API key")
        return None

    def _local_callback(self, raw: Any) -> tuple[Any, str | None]:
        """A callback URL on this machine, set aside from validation (real EvoLink refuses internal addresses; the
        simulator runs here, so a loopback server is the only one it can call back)."""
        url = raw.get("callback_url") if isinstance(raw, dict) else None
        if not isinstance(url, str) or not self.config.allow_private_callbacks:
            return raw, None
        parts = split_url(url)
        if parts is None or parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname or ""):
            return raw, None
        return {name: value for name, value in raw.items() if name != "callback_url"}, url

    async def _pause(self, fault: Fault, since: float | None = None) -> None:
        """A delay fault's pause: real seconds, or simulated ones (`on_clock`) counted from `since` (when the request
        came), which `POST /_sim/clock` cuts short however late the pause itself began."""
        if not fault.on_clock:
            await anyio.sleep(fault.seconds)
            return
        clock = self.service.clock
        until = (clock.now() if since is None else since) + fault.seconds
        while (left := until - clock.now()) > 0:
            moved = anyio.Event()
            clock.on_advance.append(moved.set)
            try:
                with anyio.move_on_after(min(left / clock.speed, 1.0)):
                    await moved.wait()
            finally:
                clock.on_advance.remove(moved.set)

    # --- EvoLink endpoints ----------------------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        self.service.count_request("create")
        arrived = self.service.clock.now()
        fault = self.faults.take("create")
        if fault is not None and fault.kind == "status":
            return _fault_response(fault, request)
        if fault is not None and fault.kind == "delay" and not fault.after_accept:
            await self._pause(fault, since=arrived)
        if (denied := self._auth_error(request)) is not None:
            return denied
        body = await request.body()
        if len(body) > catalog.MAX_REQUEST_BODY_BYTES:
            return api_error(413, f"Request body is {len(body)} bytes; the limit is {catalog.MAX_REQUEST_BODY_BYTES}")
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return api_error(400, "Request body is not valid JSON")
        raw, local_callback = self._local_callback(raw)
        try:
            video_request = parse_video_request(raw)
        except InvalidRequestError as error:
            return api_error(400, error.message, param=error.field)
        if local_callback is not None:
            video_request = video_request.model_copy(update={"callback_url": local_callback})
        cost = charge_usd(video_request)
        balance = self.config.balance_usd
        if balance is not None and self.service.committed_usd() + cost > balance + 1e-9:
            available = max(0.0, balance - self.service.committed_usd())
            return api_error(402, f"Insufficient credits: this request needs ${cost:.4f}, ${available:.4f} available")
        limit = self.config.max_active_tasks
        if limit is not None and self.service.active_count() >= limit:
            return api_error(429, f"Concurrency limit of {limit} active tasks reached", retry_after=10)
        failure = fault if fault is not None and fault.kind == "fail_task" else None
        stall = fault if fault is not None and fault.kind == "stall" else None
        unfetchable = await self._unfetchable_image(video_request.image_urls or [])
        task = self.service.create(
            video_request, failure=failure, stall=stall, fails_with="resource_not_found" if unfetchable else None
        )
        self.service.remember_base_url(task, str(request.base_url))
        self.callbacks.schedule(task)
        if fault is not None and fault.kind == "drop_after_accept":
            return _DroppedConnection()
        if fault is not None and fault.kind == "malformed_json":
            return Response('{"id": "' + task.id + '", "status": "pend', media_type="application/json")
        if fault is not None and fault.kind == "delay" and fault.after_accept:
            await self._pause(fault, since=arrived)
        return JSONResponse(self.service.task_object(task, str(request.base_url)))

    async def _get_task(self, request: Request) -> Response:
        self.service.count_request("get")
        fault = self.faults.take("get")
        if fault is not None and fault.kind == "status":
            return _fault_response(fault, request)
        if fault is not None and fault.kind == "delay":
            await self._pause(fault)
        if (denied := self._auth_error(request)) is not None:
            return denied
        task = self.service.task(request.path_params["task_id"])
        if task is None:
            return api_error(404, f"Task not found: {request.path_params['task_id']}")
        self.service.count_get(task)
        if fault is not None and fault.kind == "malformed_json":
            return Response('{"id": "' + task.id + '", "status": ', media_type="application/json")
        return JSONResponse(self.service.task_object(task, str(request.base_url)))

    async def _download(self, request: Request) -> Response:
        self.service.count_request("download")
        fault = self.faults.take("download")
        if fault is not None and fault.kind == "status":
            return _fault_response(fault)
        if fault is not None and fault.kind == "redirect":
            return Response(status_code=302, headers={"location": fault.location})
        if fault is not None and fault.kind == "delay":
            await self._pause(fault)
        task = self.service.task(request.path_params["task_id"])
        index: int = request.path_params["index"]
        if task is None or request.query_params.get("token") != task.results_token or index >= task.request.n:
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        status, _ = task.phase(self.service.clock.now())
        if status != "completed":
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        if self.service.link_expired(task):
            return _cdn_error(403, "AccessDenied", "Request has expired")
        data = await anyio.to_thread.run_sync(self.service.video_bytes, task, index)
        if fault is not None and fault.kind == "truncate":
            return _TruncatedBody(data, int(len(data) * fault.fraction))
        padding = max(0, (self.config.result_bytes or 0) - len(data))
        if padding:
            padding = max(padding, 8)  # the smallest 'free' box
        size = {"content-length": str(len(data) + padding)}
        if request.method == "HEAD":
            return Response(headers=size, media_type="video/mp4")
        throttle = fault.bytes_per_s if fault is not None and fault.kind == "slow_body" else None
        if padding or throttle:
            body = _padded(data, padding) if padding else _whole(data)
            if throttle:
                body = _throttled(body, throttle)
            return StreamingResponse(body, media_type="video/mp4", headers=size)
        return Response(data, media_type="video/mp4")

    async def _unfetchable_image(self, urls: list[str]) -> str | None:
        """The first image URL EvoLink could not fetch (its own file service's live uploads always can be): a host
        that does not resolve or answer, or an answer that is not a 2xx image. The task then fails."""
        for url in urls:
            if self.service.upload_for_url(url) is not None:
                continue
            if "/u/" in url and url.startswith(self.config.files_public_url):
                return url  # an upload that expired or never was
            try:
                async with (
                    httpx.AsyncClient(transport=self._internet, timeout=catalog.SIM_IMAGE_FETCH_TIMEOUT_S) as http,
                    http.stream("GET", url, follow_redirects=True) as answer,
                ):
                    ok = answer.is_success
            except httpx.HTTPError:
                ok = False
            if not ok:
                return url
        return None

    # --- file service (API doc §7) -------------------------------------------------------------------------

    async def _upload_stream(self, request: Request) -> Response:
        async def read() -> tuple[bytes, str] | Response:
            try:
                form = await request.form(max_files=1, max_fields=8)
            except (MultiPartException, HTTPException, ValueError):
                return _upload_error(400, "Request must be multipart/form-data with a 'file' field")
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return _upload_error(400, "Missing 'file' field")
            name = form.get("file_name")
            data = await upload.read()
            return data, str(name) if isinstance(name, str) and name else (upload.filename or "upload")

        return await self._upload(request, read)

    async def _upload_base64(self, request: Request) -> Response:
        async def read() -> tuple[bytes, str] | Response:
            try:
                raw = await request.json()
                data = base64.b64decode(str(raw["base64_data"]).split(",")[-1], validate=True)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error):
                return _upload_error(400, 'Send {"base64_data": "<base64>"} (optionally with file_name)')
            return data, str(raw.get("file_name") or "upload")

        return await self._upload(request, read)

    async def _upload(self, request: Request, read: Callable[[], Awaitable[tuple[bytes, str] | Response]]) -> Response:
        self.service.count_request("upload")
        fault = self.faults.take("upload")
        if fault is not None and fault.kind == "status":
            return _upload_error(fault.status, f"Injected error {fault.status}")
        if fault is not None and fault.kind == "delay":
            await self._pause(fault)
        if (denied := self._auth_error(request)) is not None:
            return denied
        quota = self.config.upload_quota_files
        if quota is not None and self.service.upload_count() >= quota:
            return _upload_error(403, f"Upload quota exceeded: {quota} files per user")
        got = await read()
        if isinstance(got, Response):
            return got
        data, name = got
        if len(data) > catalog.MAX_IMAGE_BYTES:
            return _upload_error(413, f"File is {len(data)} bytes; the limit is {catalog.MAX_IMAGE_BYTES}")
        mime = _sniff_image(data)
        if mime is None:
            return _upload_error(catalog.UPLOAD_UNSUPPORTED_TYPE_CODE, "Unsupported file type: jpeg, png, gif or webp")
        upload = self.service.store_upload(data, name, mime)
        return JSONResponse(
            {"success": True, "code": 200, "msg": "File uploaded", "data": self.service.upload_object(upload)}
        )

    async def _uploaded_file(self, request: Request) -> Response:
        upload = self.service.upload(request.path_params["file_id"])
        if upload is None or upload.file_name != request.path_params["name"]:
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        if upload.expired(self.service.clock.now()):
            return _cdn_error(403, "AccessDenied", "Request has expired")
        if request.method == "HEAD":
            return Response(headers={"content-length": str(len(upload.data))}, media_type=upload.mime_type)
        return Response(upload.data, media_type=upload.mime_type)

    # --- simulator controls ---------------------------------------------------------------------------------

    async def _ledger(self, request: Request) -> Response:
        return JSONResponse(self.service.ledger())

    async def _faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            try:
                raw = await request.json()
                items = raw.get("faults", [raw]) if isinstance(raw, dict) else raw
                faults = [Fault.model_validate(item) for item in items]
            except (json.JSONDecodeError, ValidationError, AttributeError, TypeError) as error:
                return api_error(400, f"Not a fault specification: {error}")
            for fault in faults:
                self.faults.add(fault)
        return JSONResponse({"pending": self.faults.describe()})

    async def _clock(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                raw = await request.json()
                self.service.clock.advance(float(raw["advance_s"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                return api_error(400, 'Send {"advance_s": <seconds>} to move the simulated clock forward')
        return JSONResponse({"now_s": self.service.clock.now(), "speed": self.service.clock.speed})

    def task(self, task_id: str) -> SimTask:
        known = self.service.task(task_id)
        if known is None:
            raise KeyError(task_id)
        return known


async def _whole(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _throttled(chunks: AsyncIterator[bytes], bytes_per_s: int) -> AsyncIterator[bytes]:
    """`chunks` re-cut into tenth-of-a-second slices delivered at `bytes_per_s` (a slow or metered link)."""
    slice_size = max(1, bytes_per_s // 10)
    started, sent = anyio.current_time(), 0
    async for chunk in chunks:
        for start in range(0, len(chunk), slice_size):
            piece = chunk[start : start + slice_size]
            sent += len(piece)
            await anyio.sleep(max(0.0, started + sent / bytes_per_s - anyio.current_time()))
            yield piece


async def _padded(data: bytes, padding: int) -> AsyncIterator[bytes]:
    """The MP4, then a trailing `free` box of `padding` bytes (valid MP4: players skip free boxes), streamed."""
    yield data
    yield padding.to_bytes(4, "big") + b"free"
    left, zeros = padding - 8, bytes(1024 * 1024)
    while left > 0:
        yield zeros[: min(left, len(zeros))]
        left -= len(zeros)


def _upload_error(status: int, message: str) -> Response:
    """The file service's failure envelope (ASSUMED: HTTP status equal to `code`)."""
    return JSONResponse({"success": False, "code": status, "msg": message, "data": None}, status_code=status)


def _sniff_image(data: bytes) -> str | None:
    """The file service checks content, not names: the four types it takes."""
    if data.startswith(b"GIF87a") or data.startswith(b"GIF89a"):
        return "image/gif"
    return image_type(data[:16])


def _cdn_error(status: int, code: str, message: str) -> Response:
    """Object-storage style error (what a CDN in front of S3/R2/GCS answers for a bad or expired link)."""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status_code=status, media_type="application/xml")
