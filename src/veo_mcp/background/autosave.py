"""Saving finished videos without being asked: soonest-expiring links first, and never giving up while a link lives.

Why a module of its own: this is the retry policy, and a failed save must never be silent. After a failure the
generation records what went wrong and when the next attempt is due (`get_generation` shows both):
- upstream or network trouble, and a young link that briefly refuses: retried with growing delays, and after
  `MAX_AUTOMATIC_ATTEMPTS` still every `_RETRY_DELAYS_S[-1]` seconds while the link may work;
- a full disk: not a network error, so nothing is fetched again until the disk has room for the video;
- an expired link: final.
"""

from __future__ import annotations

import heapq
import logging
import shutil
import time
from pathlib import Path

import anyio
import anyio.abc

from veo_mcp.background.downloads import Downloader, link_really_gone
from veo_mcp.context import about_task, acting_as
from veo_mcp.core.generation import Generation
from veo_mcp.errors import DiskFullError, LocalFileError, VeoError
from veo_mcp.evolink.errors import LinkExpiredError

logger = logging.getLogger(__name__)

_RETRY_DELAYS_S = (5.0, 30.0, 120.0, 600.0)
_UNKNOWN_SIZE = 64 * 1024 * 1024  # a video's size when the host did not say it
_HEADROOM = 64 * 1024


def _retry_delay(attempts: int) -> float:
    return _RETRY_DELAYS_S[min(max(attempts, 1), len(_RETRY_DELAYS_S)) - 1]


def _room_for(folder: Path, needed: int) -> bool:
    """Whether the disk holding `folder` (or its nearest existing parent) has room for `needed` bytes."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free > needed
    return True


class AutoSaver:
    def __init__(self, downloader: Downloader, output_dir: Path, *, space_recheck_s: float, workers: int = 2) -> None:
        self._downloader = downloader
        self._output_dir = output_dir
        self._space_recheck_s = space_recheck_s
        self._workers = workers
        self._queue: list[tuple[float, float, str]] = []  # (links expire at, queued at, task id)
        self._queued: dict[str, Generation] = {}
        self._ready = anyio.Event()

    def enqueue(self, generation: Generation) -> None:
        """Save this completed generation soon; the queue serves the soonest-expiring links first."""
        if generation.task_id in self._queued or generation.download_state in ("saved", "expired"):
            return
        expires = generation.links_expire_at or float("inf")
        self._queued[generation.task_id] = generation
        heapq.heappush(self._queue, (expires, time.monotonic(), generation.task_id))
        self._ready.set()

    async def run(self) -> None:
        """Worker loop; runs inside the app's task group until cancelled."""
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
            with acting_as(generation.owner), about_task(task_id):
                await self._save(group, generation)

    async def _save(self, group: anyio.abc.TaskGroup, generation: Generation) -> None:
        try:
            await self._downloader.save(generation)
        except LinkExpiredError:
            pass  # recorded as expired by save(); final
        except LocalFileError as error:
            group.start_soon(self._when_there_is_room, generation, error)
        except VeoError as error:
            self._retry_later(group, generation, error)
        except Exception:
            logger.exception("unexpected error while saving %s", generation.task_id)
            self._retry_later(group, generation, None)

    def _retry_later(self, group: anyio.abc.TaskGroup, generation: Generation, error: VeoError | None) -> None:
        if link_really_gone(generation, time.time()):
            logger.error("not saving %s any more: its links are gone (%s)", generation.task_id, error)
            return
        delay = _retry_delay(generation.download_attempts)
        generation.download_retry_at = time.time() + delay
        logger.warning("saving %s failed (%s); trying again in %g s", generation.task_id, error, delay)
        group.start_soon(self._enqueue_later, generation, delay)

    async def _enqueue_later(self, generation: Generation, delay: float) -> None:
        await anyio.sleep(delay)
        generation.download_retry_at = None
        self.enqueue(generation)

    async def _when_there_is_room(self, generation: Generation, error: LocalFileError) -> None:
        """A local failure: wait until the output folder's disk has room (full disk), or retry later (others)."""
        if not isinstance(error, DiskFullError):
            generation.download_retry_at = time.time() + _retry_delay(generation.download_attempts)
            await anyio.sleep(_retry_delay(generation.download_attempts))
            generation.download_retry_at = None
            self.enqueue(generation)
            return
        needed = int((error.needed_bytes or _UNKNOWN_SIZE) * 1.05) + _HEADROOM
        logger.warning("disk full while saving %s: waiting for %d free bytes", generation.task_id, needed)
        generation.download_error = (
            f"{error.message} Nothing is fetched again until {needed / 1_000_000:.1f} MB are free there; then veo-mcp "
            "saves it by itself (free space, or set VEO_MCP_OUTPUT_DIR to another disk)."
        )
        # The filesystem offers no event for "space was freed": look again at a modest pace.
        while not _room_for(self._output_dir, needed) and not link_really_gone(generation, time.time()):  # noqa: ASYNC110
            await anyio.sleep(self._space_recheck_s)
        self.enqueue(generation)
