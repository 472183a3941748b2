"""Saving finished videos: on request (`download_video`) and automatically, soonest-expiring links first.

Why a module of its own: result links die 24 h after completion, so saving is a job with a deadline that must
survive restarts and must not run twice. A download is claimed in the store first (two processes sharing a data
folder never fetch the same video twice), streamed into a hidden temporary file and renamed into place (a partial
file never carries the final name), and recorded in the store. An expired link is marked so once, never retried.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
from pydantic import BaseModel, Field

from veo_mcp.context import LOCAL_PRINCIPAL, folder_candidates, principal_folder
from veo_mcp.core.generation import Generation, SavedFile
from veo_mcp.errors import LocalFileError, VeoError
from veo_mcp.evolink.addresses import Resolver, resolved_internal_reason
from veo_mcp.evolink.errors import DownloadError, EvoLinkError, LinkExpiredError, NotFoundError, TemporaryError
from veo_mcp.evolink.video_files import is_leftover
from veo_mcp.local.files import private_folder, replaced_atomically, usable_folder, video_file_name, video_folder
from veo_mcp.local.pyav import load_pyav
from veo_mcp.settings import Settings
from veo_mcp.storage import DatabaseWriteError, Store

if TYPE_CHECKING:
    from veo_mcp.evolink.client import EvoLinkClient

logger = logging.getLogger(__name__)

# Copies of one video into subfolders when the filesystem cannot hard-link them.
MAX_COPIES = 4
# A link we believe expired more than this long ago is not even tried (our expiry time is an estimate).
EXPIRY_GRACE_S = 3600.0
# A young link that keeps refusing (403/404/410) for this long is taken as gone for good.
LINK_FAILURE_GRACE_S = 1800.0
# A download's claim lasts this long after its holder last renewed it, which it does every `RENEW_S` while it
# downloads: a replica paused for less keeps its download (nobody fetches the video twice); one gone for good
# (its pid dead, or stopped cleanly) loses it at once, one that went silent once the lease runs out.
LEASE_S = 60.0
RENEW_S = LEASE_S / 4


def link_really_gone(generation: Generation, now: float) -> bool:
    """Whether a refused result link is final: its 24 h window has passed, or it has refused for a sustained time.
    A brief 403/404 on a young link (a CDN hiccup) is retried instead."""
    expires = generation.links_expire_at
    if expires is not None and now > expires:
        return True
    return generation.link_failing_since is not None and now - generation.link_failing_since > LINK_FAILURE_GRACE_S


# Records a changed generation and tells every watcher (the app passes the change bus's publish).
Publish = Callable[[Generation], Awaitable[None]]
# Told of a failed save before it is announced (the automatic saver's retry policy): when the next automatic
# attempt is due, or None when there is none (the user must act, or it waits for room on the disk).
AfterFailure = Callable[[Generation, Exception], float | None]


class VideoInfo(BaseModel):
    path: str
    bytes: int
    index: int
    duration_s: float | None = Field(None, description="Length in seconds, read from the file.")
    width: int | None = None
    height: int | None = None
    has_audio: bool | None = None
    url: str | None = Field(None, description="HTTP only: an expiring link to the video.")


def probe_video(path: Path) -> tuple[float | None, int | None, int | None, bool]:
    """Duration, width, height and whether there is sound, read from the MP4 itself."""
    load_pyav()
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


def _link_or_copy(source: Path, target: Path, copies: int) -> int:
    """`target` as another name of the saved `source` (a hard link costs no space), renamed into place atomically;
    where the filesystem cannot link, a copy, at most `MAX_COPIES` per video (copies fill the disk)."""
    private_folder(target.parent)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.link.part")
    try:
        os.link(source, temporary)
        os.replace(temporary, target)
        return target.stat().st_size
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    if copies >= MAX_COPIES:
        raise LocalFileError(
            f"This video already has {copies} copies in the output folder and this filesystem cannot link files, "
            "so no further copy was made.",
            advice=f"Use one of the saved files ({source}) or move it; the output folder is VEO_MCP_OUTPUT_DIR.",
        )
    with replaced_atomically(target) as sink, source.open("rb") as original:
        shutil.copyfileobj(original, sink)
    return target.stat().st_size


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port


def _remove_stale_parts(target: Path) -> None:
    """Temporary files a process that died left for `target`; a live writer's (a paused replica's) is left alone."""
    for part in target.parent.glob(f".{target.name}.*.part"):
        if is_leftover(part):
            with contextlib.suppress(OSError):
                part.unlink()


class ClaimLostError(VeoError):
    """Another process took the download over (this one was paused past its lease): its copy is the one kept."""

    default_advice = "Another veo-mcp replica saves this video; wait_for_generation returns its path."


class Downloader:
    def __init__(
        self,
        *,
        client: Callable[[], EvoLinkClient],
        store: Store,
        settings: Settings,
        publish: Publish,
        resolver: Resolver,
    ) -> None:
        self._make_client = client
        self._store = store
        self._settings = settings
        self._publish = publish
        self._resolver = resolver
        self._locks: dict[str, anyio.Lock] = {}
        self.lease_s = LEASE_S
        self._wait_s = max(600.0, settings.download_timeout_s * 3)  # for another live process's download
        self._folders: dict[str, str] = {}  # principal → their recorded folder (`storage.folders`)
        self.after_failure: AfterFailure | None = None

    # --- saving ------------------------------------------------------------------------------------------------

    def output_dir(self, owner: str) -> Path:
        """Where `owner`'s videos go: the output folder for the local user, the folder recorded for them in it for
        others (`ensure_folder` records it; before that, the one they would get first)."""
        folder = self._folders.get(owner) or principal_folder(owner)
        return self._settings.output_dir if folder is None else self._settings.output_dir / folder

    async def load_folders(self) -> None:
        """The folders recorded so far (after a restart, a batch resumed without a request finds its owner's)."""
        self._folders.update(await self._store.principal_folders())

    async def ensure_folder(self, owner: str) -> Path:
        """`owner`'s folder, recorded on first use so that no other principal ever gets the same one."""
        if owner not in self._folders and (candidates := folder_candidates(owner)):
            self._folders[owner] = await self._store.assign_folder(owner, candidates)
        return self.output_dir(owner)

    def _folder(self, subfolder: str | None, *, simulated: bool, owner: str) -> Path:
        output_dir = self.output_dir(owner)
        try:
            if subfolder and (subfolder.startswith(("/", "\\")) or ":" in subfolder):
                raise ValueError("absolute")
            parts = tuple(subfolder.split("/")) if subfolder else ()
            return video_folder(output_dir, parts, simulated=simulated)
        except ValueError:
            where = f"the output folder {output_dir}" if owner == LOCAL_PRINCIPAL else "your folder"
            raise LocalFileError(
                f"subfolder {subfolder!r} points outside {where}.",
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
        await self.ensure_folder(generation.owner)
        folder = self._folder(subfolder, simulated=generation.simulated, owner=generation.owner)
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
        """Take the store's download claim, waiting while another process holds it (see `LEASE_S`)."""
        deadline = time.monotonic() + self._wait_s
        said = False
        while not (claim := await self._store.claim_download(generation.task_id, self.lease_s)).ours:
            if claim.holder_quiet and not said:
                said = True
                logger.warning(
                    "%s is being saved by a replica not heard from lately (paused, or gone): its claim stands for "
                    "%.0f s more, then this one saves it",
                    generation.task_id,
                    claim.lease_left_s,
                )
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
            await self._fetch_renewing(generation, targets)
        except ClaimLostError:
            generation.download_state = "none"  # the process that took it over records the saved file
            logger.warning("saving %s was taken over by another replica while this one was paused", generation.task_id)
            raise
        except LinkExpiredError as error:
            if link_really_gone(generation, time.time()):
                await self._record_expired(generation, error.message)
                raise
            generation.link_failing_since = generation.link_failing_since or time.time()
            message = (
                f"The result link answered HTTP {error.status_code or 'an error'}, but links live 24 h after "
                "completion and this one is younger: taken as a hiccup, it is tried again."
            )
            failure = DownloadError(message, advice="Call download_video again in a minute.")
            await self._record_failure(generation, failure)
            raise failure from None
        except VeoError as error:  # upstream trouble, a full disk, a folder that cannot be written
            await self._record_failure(generation, error)
            raise
        except Exception as error:  # never silent: the record says it failed, the log says how
            logger.exception("unexpected error while saving %s", generation.task_id)
            await self._record_failure(generation, error)
            raise
        except BaseException:
            generation.download_state = "none"
            with anyio.CancelScope(shield=True):
                await self._store.save_generation(generation)
            raise
        generation.download_state = "saved"
        generation.download_error = None
        generation.download_retry_at = generation.link_failing_since = None
        generation.download_blocked = False
        generation.mark_changed()
        await self._persist(generation)
        logger.info("saved %d video(s) of %s", len(targets), generation.task_id)

    async def _fetch_renewing(self, generation: Generation, targets: list[Path]) -> None:
        """Fetch what is not saved yet, renewing the download claim meanwhile (a long transfer keeps it)."""
        failure: list[BaseException] = []
        async with anyio.create_task_group() as renewing:
            renewing.start_soon(self._renew, generation.task_id)
            try:
                for index, target in zip(self._indexes(generation), targets, strict=True):
                    if not self._saved_at(generation, target):
                        await self._fetch_one(generation, index, target)
                        await self._store.save_generation(generation)
            except BaseException as error:
                failure.append(error)
            renewing.cancel_scope.cancel()
        if failure:
            raise failure[0]

    async def _renew(self, task_id: str) -> None:
        while True:
            await anyio.sleep(RENEW_S)
            try:
                if not await self._store.renew_download(task_id):
                    logger.warning("the download claim of %s was taken over by another replica", task_id)
                    return
            except DatabaseWriteError as error:
                logger.warning("cannot renew the download claim of %s: %s", task_id, error.message)

    async def _still_ours(self, task_id: str) -> None:
        """Checked before a downloaded file takes its name: a process paused past its lease lost the download."""
        if not await self._store.renew_download(task_id):
            raise ClaimLostError(f"Another veo-mcp replica took over saving {task_id}; its copy is kept.")

    def _any_local_copy(self, generation: Generation) -> bool:
        return any(Path(f.path).is_file() for f in generation.files)

    async def _fetch_one(self, generation: Generation, index: int, target: Path) -> None:
        local = _local_copy(generation, index)
        if local is not None:
            copies = sum(1 for f in generation.files if f.index == index)
            size = await anyio.to_thread.run_sync(_link_or_copy, local, target, copies)
        else:
            url = generation.result_urls[index]
            usable_folder(target.parent)
            _remove_stale_parts(target)
            still_ours = functools.partial(self._still_ours, generation.task_id)
            client = self._make_client()
            size = (await client.download(url, target, check_url=self._check_link, before_rename=still_ours)).bytes
        generation.files = [f for f in generation.files if Path(f.path) != target]
        generation.files.append(SavedFile(path=str(target), bytes=size, index=index))

    async def _check_link(self, url: str) -> None:
        """Result links (and every redirect hop) come from upstream; one pointing into this machine's network is
        never fetched. Only the configured upstream itself (same scheme, host and port) is exempt: a loopback
        simulator, say."""
        if _origin(url) == _origin(self._make_client().base_url):
            return
        if urlsplit(url).scheme != "https":
            raise EvoLinkError(
                f"Refused to download a result link that is not https ({urlsplit(url).scheme or 'no scheme'}).",
                advice="This is not a normal EvoLink link; check EVOLINK_BASE_URL and report it if it persists.",
            )
        reason = await resolved_internal_reason(url, self._resolver)
        if reason is not None:
            raise EvoLinkError(
                f"Refused to download a result link that points at an internal address ({reason}).",
                advice="This is not a normal EvoLink link; check EVOLINK_BASE_URL and report it if it persists.",
            )

    async def _record_failure(self, generation: Generation, error: Exception) -> None:
        """A failed save is part of the record: why, whether this machine is the cause, and when the next automatic
        attempt is due, all set before anyone hears of it (a wait ends on it)."""
        generation.download_attempts += 1
        generation.download_state = "failed"
        generation.download_error = (
            str(error) if isinstance(error, VeoError) else f"unexpected error ({type(error).__name__}: {error})"
        )
        generation.download_blocked = isinstance(error, LocalFileError)
        generation.download_retry_at = self.after_failure(generation, error) if self.after_failure else None
        generation.mark_changed()
        await self._persist(generation)

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
