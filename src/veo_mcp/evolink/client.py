"""Async client for EvoLink's video API: create, get, download - and never pay twice.

- GETs are idempotent: they retry with full-jitter exponential backoff (tenacity), honouring `Retry-After`.
- A create is resent only when it certainly did not reach EvoLink (connect failure, 429). Anything ambiguous - a
  timeout after sending, a dropped connection, a 5xx, an unreadable 200 - raises `OutcomeUnknownError` with what was
  sent, and is never resent (API doc §6).
- Downloads stream into a temporary file beside the target, are checked (size, MP4 signature) and renamed
  atomically: a partial file never appears under the final name. Result links live on a CDN, so the API key is
  never sent with them.

The HTTP transport is a constructor argument: tests and the embedded simulator plug in through
`httpx.ASGITransport`, production uses the network.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import anyio
import httpcore
import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from veo_mcp import __version__
from veo_mcp.errors import write_failure
from veo_mcp.evolink import catalog
from veo_mcp.evolink.errors import (
    AuthenticationError,
    DownloadError,
    InvalidRequestError,
    LinkExpiredError,
    NotFoundError,
    OutcomeUnknownError,
    SendWatch,
    TemporaryError,
    UploadQuotaError,
    error_kind,
)
from veo_mcp.evolink.responses import error_from_response, parse_retry_after, redact
from veo_mcp.evolink.results import AiohttpResults, HttpxResults, UrlCheck, broke_off
from veo_mcp.evolink.schemas import Task, UploadAnswer, UploadedFile, VideoRequest
from veo_mcp.evolink.video_files import QUEUED_CHUNKS, check_video, hold_while_written, write_chunks

logger = logging.getLogger(__name__)

# httpcore reads at most 64 KiB per receive on HTTP/1.1; for videos of hundreds of MB the per-read Python overhead
# then halves throughput (bench/download.py). A class attribute meant for tuning: raised, never lowered.
_READ_BYTES = 1024 * 1024
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = max(httpcore.AsyncHTTP11Connection.READ_NUM_BYTES, _READ_BYTES)

ProgressCallback = Callable[[int, int | None], None]
# Told about every request to EvoLink (each attempt): the operation, and the kind of error (None: it succeeded).
UpstreamObserver = Callable[[str, str | None], None]
_T = TypeVar("_T")


_TASK_ID = re.compile(catalog.TASK_ID_PATTERN)


def is_task_id(value: str) -> bool:
    return bool(_TASK_ID.fullmatch(value))


class DownloadedFile(BaseModel):
    path: Path
    bytes: int
    content_type: str | None = None


def _wait_strategy(max_backoff_s: float) -> Callable[[RetryCallState], float]:
    """Honour Retry-After when upstream gives one; otherwise full-jitter exponential backoff."""
    jitter = wait_random_exponential(multiplier=0.5, max=max_backoff_s)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TemporaryError) and error.retry_after is not None:
            return min(error.retry_after, max_backoff_s)
        return float(jitter(state))

    return wait


class EvoLinkClient:
    """One client per process: it pools connections. Use as an async context manager or call `aclose()`."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = catalog.DEFAULT_BASE_URL,
        files_base_url: str = catalog.DEFAULT_FILES_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 30.0,
        download_timeout_s: float = 120.0,
        get_attempts: int = 5,
        create_attempts: int = 3,
        max_backoff_s: float = 30.0,
        max_retry_time_s: float = 120.0,
        observe: UpstreamObserver | None = None,
    ) -> None:
        self._observe: UpstreamObserver = observe or (lambda _operation, _kind: None)
        self._transport = transport
        self._has_key = bool(api_key)
        self._secrets = (api_key,) if api_key else ()
        headers = {"User-Agent": f"veo-mcp/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._api = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
            follow_redirects=False,
        )
        self._files = httpx.AsyncClient(
            base_url=files_base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(max(request_timeout_s, 60.0), connect=connect_timeout_s),
            follow_redirects=False,
        )
        # Result links live on a CDN: no key goes there. Over the network aiohttp parses the big bodies (faster);
        # an in-process transport can only be reached through httpx.
        self._results: HttpxResults | AiohttpResults
        if transport is not None:
            self._results = HttpxResults(
                httpx.AsyncClient(
                    headers={"User-Agent": f"veo-mcp/{__version__}"},
                    transport=transport,
                    timeout=httpx.Timeout(download_timeout_s, connect=connect_timeout_s),
                    follow_redirects=False,  # followed hop by hop, each hop checked
                )
            )
        else:
            self._results = AiohttpResults(
                user_agent=f"veo-mcp/{__version__}",
                connect_timeout_s=connect_timeout_s,
                read_timeout_s=download_timeout_s,
            )
        self._get_attempts = get_attempts
        self._create_attempts = create_attempts
        self._wait = _wait_strategy(max_backoff_s)
        self._max_retry_time_s = max_retry_time_s
        # The longest a create on the wire is waited for (its connect and answer timeouts, and a little more).
        self._create_bound_s = connect_timeout_s + 2 * request_timeout_s
        self.base_url = base_url
        self.files_base_url = files_base_url

    async def __aenter__(self) -> EvoLinkClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._files.aclose()
        await self._results.aclose()

    async def _attempt(self, operation: str, call: Awaitable[_T]) -> _T:
        """One request to EvoLink, reported to the observer (requests and errors by kind, for metrics)."""
        try:
            result = await call
        except Exception as error:
            self._observe(operation, error_kind(error))
            raise
        self._observe(operation, None)
        return result

    async def unreachable(self, timeout_s: float) -> str | None:
        """Why EvoLink's API cannot be reached now (None: it answers). An unauthenticated GET of the base URL: any
        answer below 500 shows the service is up; the key is not sent."""
        headers = {"User-Agent": f"veo-mcp/{__version__}"}
        async with httpx.AsyncClient(
            base_url=self.base_url, transport=self._transport, timeout=timeout_s, headers=headers
        ) as probe:
            try:
                response = await probe.get("/")
            except httpx.HTTPError as error:
                return f"no answer ({type(error).__name__})"
        return f"HTTP {response.status_code}" if response.status_code >= 500 else None

    def _require_key(self) -> None:
        if not self._has_key:
            raise AuthenticationError("No EvoLink API key is configured (EVOLINK_API_KEY is not set).")

    def _retrying(self, attempts: int) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(TemporaryError),
            stop=stop_after_attempt(attempts) | stop_after_delay(self._max_retry_time_s),
            wait=self._wait,
            reraise=True,
            before_sleep=lambda state: logger.info(
                "retrying after %s (attempt %d)",
                type(state.outcome.exception()).__name__ if state.outcome else "?",
                state.attempt_number,
            ),
        )

    # --- create --------------------------------------------------------------------------------------------

    async def create_generation(self, request: VideoRequest, watch: SendWatch | None = None) -> Task:
        """Send a create. Retries only what certainly never reached EvoLink; see the module docstring. `watch` says
        at every moment whether a create may be on the wire without an answer (see `SendWatch`)."""
        self._require_key()
        payload = request.to_api_payload()
        watch = watch if watch is not None else SendWatch()
        watch.in_doubt = False
        async for attempt in self._retrying(self._create_attempts):
            with attempt:
                return await self._attempt("create", self._create_once(payload, watch))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _create_once(self, payload: dict[str, Any], watch: SendWatch) -> Task:
        # Once a create may be on the wire it is never abandoned half-way: a caller that goes away (a session that
        # ended, a server stopping) waits for its answer, within the HTTP timeouts, so the answer can be recorded.
        with anyio.CancelScope(shield=True, deadline=anyio.current_time() + self._create_bound_s) as bound:
            watch.in_doubt = True
            try:
                response = await self._api.post(catalog.CREATE_PATH, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                watch.in_doubt = False
                raise TemporaryError(
                    f"Could not connect to EvoLink at {self.base_url} ({type(error).__name__}); nothing was sent.",
                    advice="Check the network or EVOLINK_BASE_URL and try again; nothing was charged.",
                ) from None
            except httpx.TransportError as error:
                raise OutcomeUnknownError(
                    f"The create request was sent but no answer came back ({type(error).__name__}).", sent=payload
                ) from None
        if bound.cancelled_caught:
            raise OutcomeUnknownError(
                f"The create request was sent but no answer came back within {self._create_bound_s:g} s.",
                sent=payload,
            )
        if response.status_code == 429:
            watch.in_doubt = False  # a definite "not now": nothing was created
            raise error_from_response(response, self._secrets)
        if response.status_code >= 500:
            raise OutcomeUnknownError(
                f"EvoLink answered the create with HTTP {response.status_code}; it may still have accepted it.",
                sent=payload,
                status_code=response.status_code,
            )
        if not response.is_success:
            watch.in_doubt = False  # a definite refusal: nothing was created
            raise error_from_response(response, self._secrets)
        try:
            task = Task.model_validate_json(response.content)
        except ValidationError:
            raise OutcomeUnknownError(
                "EvoLink accepted the create but its answer could not be read (no task id in it).",
                sent=payload,
                status_code=response.status_code,
            ) from None
        logger.info("created task %s", task.id, extra={"task_id": task.id})
        return task

    # --- get ----------------------------------------------------------------------------------------------

    async def get_task(self, task_id: str) -> Task:
        """Current state of a task, retried through rate limits and transient trouble."""
        self._require_key()
        if not is_task_id(task_id):
            raise NotFoundError(
                f"task_id {task_id[:80]!r} is not a task id.",
                advice="Task ids look like 'task-unified-1756817821-4x3rx6ny': letters, digits, '-' and '_' only.",
            )
        async for attempt in self._retrying(self._get_attempts):
            with attempt:
                return await self._attempt("get", self._get_once(task_id))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _get_once(self, task_id: str) -> Task:
        try:
            response = await self._api.get(catalog.TASK_PATH.format(task_id=task_id))
        except httpx.TransportError as error:
            raise TemporaryError(f"Could not reach EvoLink for task {task_id} ({type(error).__name__}).") from None
        if not response.is_success:
            raise error_from_response(response, self._secrets)
        try:
            return Task.model_validate_json(response.content)
        except ValidationError:
            raise TemporaryError(f"EvoLink's answer for task {task_id} could not be read.") from None

    # --- upload (file service) ---------------------------------------------------------------------------

    async def upload_image(self, data: bytes, *, file_name: str, mime_type: str) -> UploadedFile:
        """Upload one image with the stream upload; its `file_url` can go into `image_urls` for 72 hours.

        Retried like a GET: an upload costs no money, at worst a little quota.
        """
        self._require_key()
        async for attempt in self._retrying(self._get_attempts):
            with attempt:
                return await self._attempt("upload", self._upload_once(data, file_name, mime_type))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _upload_once(self, data: bytes, file_name: str, mime_type: str) -> UploadedFile:
        try:
            response = await self._files.post(
                catalog.UPLOAD_STREAM_PATH,
                files={"file": (file_name, data, mime_type)},
                data={"file_name": file_name},
            )
        except httpx.TransportError as error:
            raise TemporaryError(
                f"Could not reach EvoLink's file service at {self.files_base_url} ({type(error).__name__})."
            ) from None
        try:
            answer = UploadAnswer.model_validate_json(response.content)
        except ValidationError:
            if response.status_code in (401, 402, 403, 429) or response.status_code >= 500:
                raise error_from_response(response, self._secrets) from None
            raise TemporaryError(
                f"EvoLink's file service answered HTTP {response.status_code} with something unreadable."
            ) from None
        if answer.success and answer.data is not None:
            logger.info("uploaded %s as %s", file_name, answer.data.file_id)
            return answer.data
        return self._upload_refusal(response, answer)

    def _upload_refusal(self, response: httpx.Response, answer: UploadAnswer) -> NoReturn:
        message = redact(answer.msg or f"HTTP {response.status_code}", self._secrets)
        code = answer.code or response.status_code
        if catalog.UPLOAD_QUOTA_WORD in message.lower():
            raise UploadQuotaError(f"EvoLink's file service refused the upload: {message}.", status_code=code)
        if code == catalog.UPLOAD_UNSUPPORTED_TYPE_CODE:
            raise InvalidRequestError(
                f"EvoLink's file service refused the image type: {message}.",
                field="image_files",
                advice="Convert the image to JPEG, PNG or WebP and try again; nothing was charged.",
                status_code=code,
            )
        if code == 401:
            raise AuthenticationError(f"EvoLink's file service refused the API key: {message}.", status_code=code)
        if code == 429 or code >= 500:
            raise TemporaryError(f"EvoLink's file service is busy: {message}.", status_code=code)
        raise InvalidRequestError(
            f"EvoLink's file service refused the upload: {message}.",
            field="image_files",
            advice="Check the image (JPEG, PNG or WebP, at most 10 MB) or pass image_urls instead.",
            status_code=code,
        )

    # --- download -------------------------------------------------------------------------------------------

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        check_url: UrlCheck | None = None,
        on_progress: ProgressCallback | None = None,
        before_rename: Callable[[], Awaitable[None]] | None = None,
        attempts: int = 3,
    ) -> DownloadedFile:
        """Stream `url` to `destination` atomically; retry transient failures, never keep a partial file.

        `check_url` sees the link and every redirect hop before it is fetched (at most `MAX_RESULT_REDIRECTS`);
        `before_rename` runs once the file is whole, before it takes its name (what it raises ends the download).
        A local write failure (disk full, no permission) is a `LocalFileError` and is not retried.
        """
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_failure(error, destination.parent) from None
        once = (url, destination, check_url, on_progress, before_rename)
        async for attempt in self._retrying(attempts):
            with attempt:
                return await self._attempt("download", self._download_once(*once))
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _download_once(
        self,
        url: str,
        destination: Path,
        check_url: UrlCheck | None,
        on_progress: ProgressCallback | None,
        before_rename: Callable[[], Awaitable[None]] | None,
    ) -> DownloadedFile:
        descriptor, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
        temp_path = Path(temp_name)
        try:
            with os.fdopen(descriptor, "wb") as sink:
                hold_while_written(sink)  # renamed before it is closed: never taken for a dead writer's leftover
                received, expected, content_type = await self._stream_into(
                    url, sink, check_url, on_progress, destination.parent
                )
                sink.flush()
                os.fsync(sink.fileno())
                check_video(temp_path, received, expected)
                if before_rename is not None:
                    await before_rename()
                os.replace(temp_path, destination)
        except OSError as error:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise write_failure(error, destination.parent) from None
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise
        return DownloadedFile(path=destination, bytes=received, content_type=content_type)

    async def _stream_into(
        self, url: str, sink: Any, check_url: UrlCheck | None, on_progress: ProgressCallback | None, folder: Path
    ) -> tuple[int, int | None, str | None]:
        received = 0
        response = await self._results.open(url, check_url)
        try:
            _raise_for_result_status(response.status, response.headers)
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            # Receive here, write in a worker thread: the two overlap, and memory stays bounded by the
            # queue (chunks come as the socket delivers them; re-chunking would copy every byte again).
            send, receive = anyio.create_memory_object_stream[bytes](QUEUED_CHUNKS)
            failures: list[Exception] = []  # kept out of the task group, which would wrap them in a group
            async with anyio.create_task_group() as group:
                group.start_soon(write_chunks, receive, sink, failures)
                async with send:
                    try:
                        async for chunk in response.chunks():
                            await send.send(chunk)
                            received += len(chunk)
                            if on_progress is not None:
                                on_progress(received, expected)
                    except (DownloadError, anyio.BrokenResourceError) as error:
                        failures.append(error)
            for failure in failures:
                if isinstance(failure, OSError):
                    raise write_failure(failure, folder, expected)
                if isinstance(failure, DownloadError):
                    raise broke_off(received, failure.__cause__ or failure)
            return received, expected, response.headers.get("Content-Type")
        finally:
            await response.aclose()


def _raise_for_result_status(status: int, headers: Mapping[str, str]) -> None:
    if status in (403, 404, 410):
        raise LinkExpiredError(
            f"The result link answered HTTP {status}: it has expired or was removed.", status_code=status
        )
    if status == 429 or status >= 500:
        raise DownloadError(
            f"The video host answered HTTP {status}.",
            retry_after=parse_retry_after(headers.get("Retry-After")),
            status_code=status,
        )
    if not 200 <= status < 300:
        raise DownloadError(f"The video host answered HTTP {status}.")
