"""Saving finished videos: on request (`download_video`) and automatically, soonest-expiring links first.

Why a module of its own: result links die 24 h after completion, so saving is a job with a deadline that must
survive restarts and must not run twice. A download is claimed in the store first (two processes sharing a data
folder never fetch the same video twice), streamed into a hidden temporary file and renamed into place (a partial
file never carries the final name), and recorded in the store. An expired link is marked so once, never retried.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
from pydantic import BaseModel, Field

from veo_mcp.core.generation import Generation, SavedFile
from veo_mcp.errors import LocalFileError
from veo_mcp.evolink.addresses import Resolver, resolved_internal_reason
from veo_mcp.evolink.errors import EvoLinkError, LinkExpiredError, NotFoundError, TemporaryError
from veo_mcp.local.files import replaced_atomically, video_file_name, video_folder
from veo_mcp.settings import Settings
from veo_mcp.storage import Store

if TYPE_CHECKING:
    from veo_mcp.evolink.client import EvoLinkClient

logger = logging.getLogger(__name__)

MAX_AUTOMATIC_ATTEMPTS = 5
# A link we believe expired more than this long ago is not even tried (our expiry time is an estimate).
EXPIRY_GRACE_S = 3600.0
_RETRY_DELAYS_S = (5.0, 30.0, 120.0, 600.0)

# Records a changed generation and tells every watcher (the app passes the change bus's publish).
Publish = Callable[[Generation], Awaitable[None]]


class VideoInfo(BaseModel):
    path: str
    bytes: int
    index: int
    duration_s: float | None = Field(None, description="Length in seconds, read from the file.")
    width: int | None = None
    height: int | None = None
    has_audio: bool | None = None


def probe_video(path: Path) -> tuple[float | None, int | None, int | None, bool]:
    """Duration, width, height and whether there is sound, read from the MP4 itself."""
    import av  # PyAV is heavy to import; only saving a video needs it

    with av.open(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        duration = float(container.duration) / 1_000_000 if container.duration else None
        return (
            duration,
            video.width if video else None,
            video.height if video else None,
            bool(container.streams.audio),
        )


def _local_copy(generation: Generation, index: int) -> Path | None:
    """A file already saved for video `index` (download_video into another folder copies it, no new fetch)."""
    return next((Path(f.path) for f in generation.files if f.index == index and Path(f.path).is_file()), None)


def _copy_atomically(source: Path, target: Path) -> int:
    with replaced_atomically(target) as sink, source.open("rb") as original:
        shutil.copyfileobj(original, sink)
    return target.stat().st_size


def _remove_stale_parts(target: Path) -> None:
    """Temporary files a killed process left for `target` (only called while we hold the download claim)."""
    for leftover in target.parent.glob(f".{target.name}.*.part"):
        with contextlib.suppress(OSError):
            leftover.unlink()


class Downloader:
    def __init__(
        self,
        *,
        client: Callable[[], EvoLinkClient],
        store: Store,
        settings: Settings,
        publish: Publish,
        resolver: Resolver,
        workers: int = 2,
    ) -> None:
        self._make_client = client
        self._store = store
        self._settings = settings
        self._publish = publish
        self._resolver = resolver
        self._workers = workers
        self._queue: list[tuple[float, float, str]] = []  # (links expire at, queued at, task id)
        self._queued: dict[str, Generation] = {}
        self._ready = anyio.Event()
        self._locks: dict[str, anyio.Lock] = {}
        self.lease_s = max(600.0, settings.download_timeout_s * 3)

    # --- automatic saving --------------------------------------------------------------------------------------

    def enqueue(self, generation: Generation) -> None:
        """Save this completed generation soon; the queue serves the soonest-expiring links first."""
        if generation.task_id in self._queued or generation.download_state in ("saved", "expired"):
            return
        expires = generation.links_expire_at or float("inf")
        self._queued[generation.task_id] = generation
        heapq.heappush(self._queue, (expires, time.monotonic(), generation.task_id))
        self._ready.set()

    async def run(self) -> None:
        """Worker loop; runs inside the service's task group until cancelled."""
        async with anyio.create_task_group() as group:
            for _ in range(self._workers):
                group.start_soon(self._work, group)

    async def _work(self, group: anyio.abc.TaskGroup) -> None:
        while True:
            while not self._queue:
                self._ready = anyio.Event()
                await self._ready.wait()
            _, _, task_id = heapq.heappop(self._queue)
            generation = self._queued.pop(task_id)
            try:
                await self.save(generation)
            except LinkExpiredError:
                pass  # recorded as expired by save(); final
            except EvoLinkError as error:
                attempts = generation.download_attempts
                if generation.download_state != "failed" and attempts <= len(_RETRY_DELAYS_S):
                    delay = _RETRY_DELAYS_S[min(attempts, len(_RETRY_DELAYS_S)) - 1]
                    logger.warning("saving %s failed (%s); trying again in %g s", task_id, error, delay)
                    group.start_soon(self._enqueue_later, generation, delay)
                else:
                    logger.error("giving up saving %s automatically: %s", task_id, error)
            except Exception:
                logger.exception("unexpected error while saving %s", task_id)

    async def _enqueue_later(self, generation: Generation, delay: float) -> None:
        await anyio.sleep(delay)
        self.enqueue(generation)

    # --- saving ------------------------------------------------------------------------------------------------

    def _folder(self, subfolder: str | None, *, simulated: bool) -> Path:
        try:
            if subfolder and (subfolder.startswith(("/", "\\")) or ":" in subfolder):
                raise ValueError("absolute")
            parts = tuple(subfolder.split("/")) if subfolder else ()
            return video_folder(self._settings.output_dir, parts, simulated=simulated)
        except ValueError:
            raise LocalFileError(
                f"subfolder {subfolder!r} points outside the output folder {self._settings.output_dir}.",
                advice="Use a plain relative folder name such as 'drafts' or 'campaign/week1'.",
            ) from None

    async def save(self, generation: Generation, subfolder: str | None = None) -> list[VideoInfo]:
        """Every video of `generation` saved under the output folder (or `subfolder` in it); reuses what is saved."""
        if generation.status != "completed" or not generation.result_urls:
            raise NotFoundError(
                f"Generation {generation.task_id} has no video to download yet (status: {generation.status}).",
                advice="Call wait_for_generation until it is completed, then download_video."
                if not generation.finished
                else "It did not complete, so there is nothing to download; see get_generation for why.",
            )
        folder = self._folder(subfolder, simulated=generation.simulated)
        lock = self._locks.setdefault(generation.task_id, anyio.Lock())
        async with lock:
            # Checked under the lock: a save that waited for another one must see the expiry it recorded.
            if generation.download_state == "expired" and not self._any_local_copy(generation):
                raise LinkExpiredError(
                    f"The result links of {generation.task_id} expired before the video was saved: "
                    f"{generation.download_error or 'links live 24 h after completion'}."
                )
            targets = [
                folder / video_file_name(generation.task_id, generation.prompt, i, simulated=generation.simulated)
                for i in self._indexes(generation)
            ]
            if all(self._saved_at(generation, target) for target in targets):
                return await self._describe(targets)
            await self._claim(generation)
            try:
                await self._adopt_stored(generation)
                if not all(self._saved_at(generation, target) for target in targets):
                    await self._fetch_all(generation, targets)
            finally:
                await self._store.release_download(generation.task_id)
            return await self._describe(targets)

    @staticmethod
    def _indexes(generation: Generation) -> range:
        return range(len(generation.result_urls))

    @staticmethod
    def _saved_at(generation: Generation, target: Path) -> bool:
        recorded = next((f for f in generation.files if Path(f.path) == target), None)
        return recorded is not None and target.is_file() and target.stat().st_size == recorded.bytes

    async def _claim(self, generation: Generation) -> None:
        """Take the store's download claim, waiting while another live process holds it."""
        deadline = time.monotonic() + self.lease_s
        while not await self._store.claim_download(generation.task_id, self.lease_s):
            if time.monotonic() > deadline:
                raise TemporaryError(
                    f"Another veo-mcp process has been saving {generation.task_id} for a long time.",
                    advice="Call download_video again later; that process records the file when it is done.",
                )
            await anyio.sleep(0.25)

    async def _adopt_stored(self, generation: Generation) -> None:
        """Take in what another process saved while we waited for the claim."""
        stored = await self._store.generation(generation.task_id)
        if stored is None:
            return
        known = {f.path for f in generation.files}
        generation.files.extend(f for f in stored.files if f.path not in known)
        if stored.download_state in ("saved", "expired") and generation.download_state != stored.download_state:
            generation.download_state = stored.download_state
            generation.download_error = stored.download_error

    async def _fetch_all(self, generation: Generation, targets: list[Path]) -> None:
        expires = generation.links_expire_at
        if expires is not None and time.time() > expires + EXPIRY_GRACE_S and not self._any_local_copy(generation):
            await self._record_expired(generation, "The result links expired (24 h after completion) before saving.")
            raise LinkExpiredError(f"The result links of {generation.task_id} have expired; the video was not saved.")
        generation.download_state = "saving"
        generation.mark_changed()
        await self._persist(generation)
        try:
            for index, target in zip(self._indexes(generation), targets, strict=True):
                if self._saved_at(generation, target):
                    continue
                await self._fetch_one(generation, index, target)
                await self._store.save_generation(generation)
        except LinkExpiredError as error:
            await self._record_expired(generation, error.message)
            raise
        except EvoLinkError as error:
            generation.download_attempts += 1
            generation.download_state = "failed" if generation.download_attempts >= MAX_AUTOMATIC_ATTEMPTS else "none"
            generation.download_error = str(error)
            generation.mark_changed()
            await self._persist(generation)
            raise
        except BaseException:
            generation.download_state = "none"
            with anyio.CancelScope(shield=True):
                await self._store.save_generation(generation)
            raise
        generation.download_state = "saved"
        generation.download_error = None
        generation.mark_changed()
        await self._persist(generation)

    def _any_local_copy(self, generation: Generation) -> bool:
        return any(Path(f.path).is_file() for f in generation.files)

    async def _fetch_one(self, generation: Generation, index: int, target: Path) -> None:
        local = _local_copy(generation, index)
        if local is not None:
            size = await anyio.to_thread.run_sync(_copy_atomically, local, target)
        else:
            url = generation.result_urls[index]
            await self._check_host(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_parts(target)
            size = (await self._make_client().download(url, target)).bytes
        generation.files = [f for f in generation.files if Path(f.path) != target]
        generation.files.append(SavedFile(path=str(target), bytes=size, index=index))

    async def _check_host(self, url: str) -> None:
        """Result links come from upstream; one pointing into this machine's network is never fetched."""
        host = (urlsplit(url).hostname or "").lower()
        if host == (urlsplit(self._make_client().base_url).hostname or "").lower():
            return  # the configured upstream itself (a loopback simulator, say)
        reason = await resolved_internal_reason(url, self._resolver)
        if reason is not None:
            raise EvoLinkError(
                f"Refused to download a result link that points at an internal address ({reason}).",
                advice="This is not a normal EvoLink link; check EVOLINK_BASE_URL and report it if it persists.",
            )

    async def _record_expired(self, generation: Generation, message: str) -> None:
        generation.download_state = "expired"
        generation.download_error = message
        generation.mark_changed()
        await self._persist(generation)

    async def _persist(self, generation: Generation) -> None:
        """Record and announce a change: `publish` is the change bus, which writes the store before anyone hears."""
        await self._publish(generation)

    async def _describe(self, targets: list[Path]) -> list[VideoInfo]:
        infos = []
        for index, target in enumerate(targets):
            duration, width, height, audio = await anyio.to_thread.run_sync(probe_video, target)
            infos.append(
                VideoInfo(
                    path=str(target),
                    bytes=target.stat().st_size,
                    index=index,
                    duration_s=duration,
                    width=width,
                    height=height,
                    has_audio=audio,
                )
            )
        return infos
