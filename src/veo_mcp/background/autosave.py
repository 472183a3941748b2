"""Saving finished videos without being asked: soonest-expiring links first, and never giving up while a link lives.

Why a module of its own: this is the retry policy, and a failed save must never be silent. The downloader asks
`after_failure` before it announces a failure, so the record says at once what went wrong and when the next attempt
is due (`get_generation` shows both, and a wait ends on it):
- upstream or network trouble, a folder that cannot be written, and a young link that briefly refuses: retried with
  growing delays, then every `_RETRY_DELAYS_S[-1]` seconds while the link may work;
- a full disk: not a network error, so nothing is fetched again until the disk has room for the video;
- an expired link: final.
Failures of saves the user asked for (download_video) are retried too when saving is automatic.
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
from veo_mcp.errors import DiskFullError
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
    def __init__(
        self,
        downloader: Downloader,
        output_dir: Path,
        *,
        space_recheck_s: float,
        workers: int = 2,
        automatic: bool = True,
    ) -> None:
        self._downloader = downloader
        self._output_dir = output_dir
        self._space_recheck_s = space_recheck_s
        self._workers = workers
        self._automatic = automatic  # VEO_MCP_AUTO_DOWNLOAD: retry every failed save, not only our own
        self._queue: list[tuple[float, float, str]] = []  # (links expire at, queued at, task id)
        self._queued: dict[str, Generation] = {}
        self._asked: set[str] = set()  # task ids this saver was asked to save (retried even when not automatic)
        self._retrying: set[str] = set()  # task ids with a next attempt scheduled
        self._saving: set[str] = set()  # task ids a worker is saving now
        self._ready = anyio.Event()
        self._group: anyio.abc.TaskGroup | None = None
        downloader.after_failure = self.after_failure

    def enqueue(self, generation: Generation) -> None:
        """Save this completed generation soon; the queue serves the soonest-expiring links first. One a worker is
        saving now is not queued again: if that save fails, the retry policy says when it is tried next."""
        if generation.task_id not in self._saving:
            self._push(generation)

    def _push(self, generation: Generation) -> None:
        if generation.task_id in self._queued or generation.download_state in ("saved", "expired"):
            return
        self._asked.add(generation.task_id)
        expires = generation.links_expire_at or float("inf")
        self._queued[generation.task_id] = generation
        heapq.heappush(self._queue, (expires, time.monotonic(), generation.task_id))
        self._ready.set()

    async def run(self) -> None:
        """Worker loop; runs inside the app's task group until cancelled."""
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                for _ in range(self._workers):
                    group.start_soon(self._work)
                await anyio.sleep_forever()
            finally:
                self._group = None

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._ready = anyio.Event()
                await self._ready.wait()
            _, _, task_id = heapq.heappop(self._queue)
            generation = self._queued.pop(task_id)
            self._saving.add(task_id)
            try:
                with acting_as(generation.owner), about_task(task_id):
                    await self._save(generation)
            finally:
                self._saving.discard(task_id)

    async def _save(self, generation: Generation) -> None:
        if not generation.followed:
            return  # a cancel (on any replica) since it was queued: not saved by itself
        try:
            await self._downloader.save(generation)
        except LinkExpiredError:
            pass  # recorded as expired by save(); final
        except Exception as error:
            # Failures of the transfer were recorded and scheduled by `after_failure`; anything that failed before
            # it (the claim, reading the file back) is scheduled here.
            if generation.task_id not in self._retrying:
                logger.warning("saving %s failed before the transfer: %s", generation.task_id, error)
                self._schedule(generation, error)

    def after_failure(self, generation: Generation, error: Exception) -> float | None:
        """The retry policy (see the module docstring): when the next automatic attempt is due, None when there is
        none or it waits for room on the disk. Called by the downloader before the failure is announced."""
        wanted = self._automatic or generation.task_id in self._asked
        if self._group is None or not wanted or generation.task_id in self._retrying:
            return generation.download_retry_at if generation.task_id in self._retrying else None
        return self._schedule(generation, error)

    def _schedule(self, generation: Generation, error: Exception) -> float | None:
        if self._group is None:
            return None
        if link_really_gone(generation, time.time()):
            logger.error("not saving %s any more: its links are gone (%s)", generation.task_id, error)
            return None
        self._retrying.add(generation.task_id)
        if isinstance(error, DiskFullError):
            needed = int((error.needed_bytes or _UNKNOWN_SIZE) * 1.05) + _HEADROOM
            logger.warning("disk full while saving %s: waiting for %d free bytes", generation.task_id, needed)
            generation.download_error = (
                f"{error.message} Nothing is fetched again until {needed / 1_000_000:.1f} MB are free there; then "
                "veo-mcp saves it by itself (free space, or set VEO_MCP_OUTPUT_DIR to another disk)."
            )
            self._group.start_soon(self._when_there_is_room, generation, needed)
            return None
        delay = _retry_delay(generation.download_attempts)
        logger.warning("saving %s failed (%s); trying again in %g s", generation.task_id, error, delay)
        self._group.start_soon(self._enqueue_later, generation, delay)
        return time.time() + delay

    async def _enqueue_later(self, generation: Generation, delay: float) -> None:
        await anyio.sleep(delay)
        self._again(generation)

    async def _when_there_is_room(self, generation: Generation, needed: int) -> None:
        """A full disk: wait until the output folder's disk has room for the video, then save it."""
        # The filesystem offers no event for "space was freed": look again at a modest pace.
        while not _room_for(self._output_dir, needed) and not link_really_gone(generation, time.time()):  # noqa: ASYNC110
            await anyio.sleep(self._space_recheck_s)
        self._again(generation)

    def _again(self, generation: Generation) -> None:
        # `download_retry_at` stays as it was (now due) until the attempt starts or ends: a failed save with no retry
        # due is settled, and a wait or an MCP task that looked in between would end "failed" while it is retried.
        self._retrying.discard(generation.task_id)
        self._push(generation)  # a retry due now is queued even while the failed save is still winding up
