"""The domain layer under the MCP tools: generate, look up, wait, download, list - nothing MCP-specific.

It owns the EvoLink client (real, or the embedded simulator when simulating), the durable store, the tracker and
the downloader, and is started once per process with `async with service.running()`, so every MCP session shares
one poller. Money rules live here: a create is recorded before it is sent, a `request_id` or an identical recent
request returns the earlier generation, limits and confirmation are checked first, and an ambiguous create is
recorded as "outcome unknown" and never resent.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio

from veo_mcp import guards
from veo_mcp.downloads import Downloader, VideoInfo
from veo_mcp.evolink import VideoRequest, catalog, estimate_cost, parse_video_request
from veo_mcp.evolink.addresses import Resolver, resolved_internal_reason, system_resolver
from veo_mcp.evolink.errors import (
    AuthenticationError,
    EvoLinkError,
    InvalidRequestError,
    OutcomeUnknownError,
    TemporaryError,
)
from veo_mcp.evolink.schemas import Task
from veo_mcp.files import slug
from veo_mcp.generations import Generation
from veo_mcp.images import AllowedFolders, LocalImage, inspect_image, read_image
from veo_mcp.posters import poster_bytes
from veo_mcp.settings import Settings
from veo_mcp.store import CreateRecord, Store, UploadRecord, owner_alive
from veo_mcp.tracker import ChangeListener, Tracker

if TYPE_CHECKING:
    from veo_mcp.evolink.client import EvoLinkClient

__all__ = ["GenerateOutcome", "NoApiKeyError", "VeoService", "VideoInfo"]

logger = logging.getLogger(__name__)


class NoApiKeyError(AuthenticationError):
    """Upstream is needed but no key is configured and the server is not simulating."""

    default_advice = (
        "Set EVOLINK_API_KEY in the MCP server's environment (your client's server config 'env' block) and restart "
        "it, or start the server with --simulate (VEO_MCP_SIMULATE=1) to try everything with the built-in simulator."
    )


ClientFactory = Callable[[], "EvoLinkClient"]


def _client_factory(settings: Settings) -> tuple[ClientFactory | None, bool, bool]:
    """How to build the upstream client, whether it is simulated, and whether that simulator is embedded in this
    process; no factory when there is no key and no simulation. Nothing heavy is imported until it is called."""

    def make(api_key: str, base_url: str, files_base_url: str, embedded: bool = False) -> ClientFactory:
        def build() -> EvoLinkClient:
            from veo_mcp.evolink.client import EvoLinkClient

            transport = None
            if embedded:
                from veo_mcp.simulator import Simulator, SimulatorConfig, SimulatorTransport

                transport = SimulatorTransport(Simulator(SimulatorConfig(speed=settings.simulator_speed)))
            return EvoLinkClient(
                api_key=api_key,
                base_url=base_url,
                files_base_url=files_base_url,
                transport=transport,
                connect_timeout_s=settings.connect_timeout_s,
                request_timeout_s=settings.request_timeout_s,
                download_timeout_s=settings.download_timeout_s,
                get_attempts=settings.get_retry_attempts,
            )

        return build

    if settings.simulate and settings.base_url == catalog.DEFAULT_BASE_URL:
        # The embedded simulator serves the file service too, on the same in-process address.
        return (
            make("simulated", catalog.SIM_IN_PROCESS_BASE_URL, catalog.SIM_IN_PROCESS_BASE_URL, embedded=True),
            True,
            True,
        )
    if settings.simulate:
        # --simulate with EVOLINK_BASE_URL pointing at a `veo-mcp simulator`: any non-empty key works there.
        key = settings.api_key.get_secret_value() if settings.api_key else "simulated"
        return make(key, settings.base_url, settings.files_base_url), True, False
    if settings.api_key is None:
        return None, False, False
    return make(settings.api_key.get_secret_value(), settings.base_url, settings.files_base_url), False, False


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def _parse_time(value: str | None) -> float | None:
    """An ISO-8601 time from upstream as a timestamp (naive means UTC); None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


# Ask the user to confirm a cost: True yes, False no, None when this client cannot ask.
Confirmer = Callable[[str], Awaitable[bool | None]]


@dataclass(frozen=True, slots=True)
class GenerateOutcome:
    generation: Generation
    # Why no new create was sent: the same request_id was used before, or an identical request is recent.
    reused: Literal["request_id", "duplicate"] | None = None


class VeoService:
    def __init__(
        self,
        settings: Settings,
        *,
        client: EvoLinkClient | None = None,
        simulated: bool | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.settings = settings
        embedded = False
        factory: ClientFactory | None
        if client is None:
            factory, is_simulated, embedded = _client_factory(settings)
        else:
            given = client
            factory, is_simulated = (lambda: given), bool(simulated)
        self.simulated = is_simulated
        self.resolver = resolver
        # The embedded simulator forgets its tasks when the process ends, so its generations are not worth keeping
        # (and must never mix with real ones): they live in an in-memory database.
        self.database_path: Path | None = None if embedded else settings.database_path
        self.tracker: Tracker | None = None
        self.store: Store | None = None
        self.downloader: Downloader | None = None
        self._create_lock = anyio.Lock()
        self._synced_at = 0.0
        if factory is not None:
            self.tracker = Tracker(
                factory, min_interval_s=settings.poll_interval_min_s, max_interval_s=settings.poll_interval_max_s
            )
            # Registered first, so a change is on disk before any session hears of it.
            self.tracker.on_change(self._record_change)

    @property
    def _tracker(self) -> Tracker:
        """The tracker, whose client is the upstream; both exist exactly when a key is set or we simulate."""
        if self.tracker is None:
            raise NoApiKeyError("No EvoLink API key is configured, so veo-mcp cannot reach EvoLink.")
        return self.tracker

    @property
    def _store(self) -> Store:
        if self.store is None:
            raise RuntimeError("VeoService is not running: use `async with service.running()`")
        return self.store

    @property
    def _downloader(self) -> Downloader:
        if self.downloader is None:
            raise RuntimeError("VeoService is not running: use `async with service.running()`")
        return self.downloader

    @property
    def client(self) -> EvoLinkClient:
        return self._tracker.client

    @asynccontextmanager
    async def running(self) -> AsyncIterator[VeoService]:
        if self.tracker is None:
            yield self
            return
        tracker = self.tracker
        self.store = await Store.open(self.database_path)
        self.downloader = Downloader(
            client=lambda: tracker.client,
            store=self.store,
            settings=self.settings,
            publish=tracker.notify,
            resolver=self.resolver,
        )
        try:
            async with tracker.running(), anyio.create_task_group() as group:
                group.start_soon(self.downloader.run)
                await self._resume()
                try:
                    yield self
                finally:
                    group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await tracker.aclose()
                await self.store.aclose()
            self.store = None
            self.downloader = None

    async def _resume(self) -> None:
        """After a (re)start: outcome of interrupted creates, tracking of unfinished tasks, pending downloads."""
        for record in await self._store.recover_interrupted_creates():
            logger.warning("create %s was interrupted while sending: outcome unknown, not resent", record.key)
        self._synced_at = time.time()
        for generation in await self._store.generations():
            self._take_in(generation, poll_now=True)

    def _take_in(self, generation: Generation, *, poll_now: bool) -> None:
        """Start knowing a stored generation: track it if unfinished, save its videos if due."""
        if generation.download_state == "saving":
            generation.download_state = "none"  # the process saving it is gone (or it is us, restarted)
        if generation.download_state == "failed":
            generation.download_state, generation.download_attempts = "none", 0
        self._tracker.add(generation, poll_now=poll_now)
        if generation.status == "completed":
            self._maybe_download(generation)

    def _maybe_download(self, generation: Generation) -> None:
        if self.settings.auto_download and self.downloader is not None and generation.download_state == "none":
            self.downloader.enqueue(generation)

    async def _record_change(self, generation: Generation) -> None:
        """Tracker listener: persist every change; a fresh completion starts the automatic download."""
        if self.store is None:
            return
        await self.store.save_generation(generation)
        if generation.status == "completed" and generation.download_attempts == 0:
            self._maybe_download(generation)

    async def refresh(self) -> None:
        """Take in what other processes sharing the data folder wrote since the last look."""
        if self.store is None or self.tracker is None:
            return
        since, self._synced_at = self._synced_at - 1.0, time.time()
        for stored in await self.store.generations(updated_after=since):
            known = self.tracker.generations.get(stored.task_id)
            if known is None:
                self._take_in(stored, poll_now=False)
            elif known.adopt(stored):
                await self.tracker.notify(known)

    # --- operations ---------------------------------------------------------------------------------------

    async def generate(
        self,
        request: VideoRequest,
        *,
        request_id: str | None = None,
        allow_duplicate: bool = False,
        confirmed: bool = False,
        confirm: Confirmer | None = None,
        images: list[LocalImage] | None = None,
    ) -> GenerateOutcome:
        """Create a generation unless an earlier one answers this request; see the module docstring.

        With `images` (local files, already inspected), `request` carries placeholder URLs; the files are uploaded
        only once every check has passed and the cost is confirmed, and the real URLs replace the placeholders.
        """
        self._tracker  # noqa: B018 - raises NoApiKeyError first when there is no upstream
        store = self._store
        if request_id is not None and (earlier := await store.create_for_request(request_id)) is not None:
            return await self._earlier_outcome(earlier, "request_id")
        payload = request.to_api_payload()
        fingerprint = guards.fingerprint(payload)
        estimate = estimate_cost(request)
        if not images:
            await self._check_addresses(request)
        if (duplicate := await self._recent_duplicate(fingerprint, allow_duplicate)) is not None:
            return await self._earlier_outcome(duplicate, "duplicate")
        guards.check_request_limit(self.settings, estimate)
        guards.check_daily_budget(self.settings, estimate, await self._spent_today())
        if guards.needs_confirmation(self.settings, estimate) and not confirmed:
            answer = await confirm(guards.confirmation_question(self.settings, estimate)) if confirm else None
            if answer is None:
                raise guards.confirmation_required(self.settings, estimate)
            if not answer:
                raise guards.declined(estimate)
        notes = list(request.notes)
        if images:
            urls, upload_notes = await self.upload_images(images)
            request = parse_video_request({**payload, "image_urls": urls})
            payload, notes = request.to_api_payload(), notes + upload_notes
        async with self._create_lock:  # the duplicate check and the record are one step within this process
            duplicate = await self._recent_duplicate(fingerprint, allow_duplicate)
            if duplicate is None:
                record, fresh = await store.begin_create(
                    request_id=request_id,
                    fingerprint=fingerprint,
                    model=request.model,
                    prompt=request.prompt,
                    payload=payload,
                    estimate_usd=estimate.usd,
                    check_spent=lambda spent: guards.check_daily_budget(self.settings, estimate, spent),
                    spent_since=guards.start_of_today(time.time()),
                )
        if duplicate is not None:
            return await self._earlier_outcome(duplicate, "duplicate")
        if not fresh:
            return await self._earlier_outcome(record, "request_id")
        task = await self._send_create(record, request)
        generation = Generation(
            task_id=task.id,
            model=request.model,
            prompt=request.prompt,
            request=payload,
            simulated=self.simulated,
            estimate=estimate,
            notes=notes,
            request_id=request_id,
            fingerprint=fingerprint,
        )
        generation.apply(task)
        await store.accept_create(record.key, generation)
        self._tracker.add(generation)
        await self._tracker.notify(generation)
        return GenerateOutcome(generation)

    # --- local images -------------------------------------------------------------------------------------

    def image_folders(self, roots: list[Path] | None) -> AllowedFolders:
        """Where local images may come from: the client's roots when it declares any, else VEO_MCP_IMAGE_DIRS."""
        if roots is not None:
            return AllowedFolders(
                folders=[root.resolve() for root in roots],
                source="the folders your MCP client shares with this server, its roots",
                how_to_change="Open the image's folder in your client (add it to the workspace or roots) or move the "
                "image into a shared folder, then call again.",
            )
        return AllowedFolders(
            folders=list(self.settings.image_dirs),
            source="VEO_MCP_IMAGE_DIRS",
            how_to_change="Move the image under one of these folders, or add its folder to VEO_MCP_IMAGE_DIRS "
            f"(folders separated by '{os.pathsep}') in the server's environment and restart it.",
        )

    async def inspect_images(self, paths: list[str], roots: list[Path] | None) -> list[LocalImage]:
        """Check every local image before anything is uploaded (see `images.inspect_image`)."""
        allowed = self.image_folders(roots)
        return [await anyio.to_thread.run_sync(inspect_image, raw, index, allowed) for index, raw in enumerate(paths)]

    async def upload_images(self, images: list[LocalImage]) -> tuple[list[str], list[str]]:
        """The `file_url` of each image, uploading only those without a still-valid upload of the same content."""
        store, urls, notes = self._store, [], []
        for image in images:
            cached = await store.upload(image.sha256, valid_after=time.time() + catalog.UPLOAD_REUSE_MARGIN_S)
            if cached is not None:
                urls.append(cached.file_url)
                notes.append(f"{image.path.name}: reused its upload from {_iso(cached.uploaded_at)}.")
                continue
            data = await anyio.to_thread.run_sync(read_image, image)
            uploaded = await self.client.upload_image(
                data, file_name=f"{slug(image.path.stem)}{image.extension}", mime_type=image.mime_type
            )
            now = time.time()
            await store.save_upload(
                UploadRecord(
                    sha256=image.sha256,
                    file_url=uploaded.file_url,
                    file_name=image.path.name,
                    mime_type=image.mime_type,
                    bytes=image.bytes,
                    uploaded_at=now,
                    expires_at=_parse_time(uploaded.expires_at) or now + catalog.UPLOAD_TTL_S,
                )
            )
            urls.append(uploaded.file_url)
            notes.append(f"{image.path.name}: uploaded to EvoLink's file service (kept there for 72 h).")
        return urls, notes

    async def _recent_duplicate(self, fingerprint: str, allow_duplicate: bool) -> CreateRecord | None:
        window = self.settings.duplicate_window_s
        if allow_duplicate or window <= 0:
            return None
        return await self._store.recent_duplicate(fingerprint, time.time() - window)

    async def _spent_today(self) -> float:
        return await self._store.committed_usd_since(guards.start_of_today(time.time()))

    async def _send_create(self, record: CreateRecord, request: VideoRequest) -> Task:
        store = self._store
        try:
            return await self.client.create_generation(request)
        except OutcomeUnknownError as error:
            await store.mark_create_unknown(record.key, error.message)
            raise OutcomeUnknownError(
                f"{error.message} veo-mcp recorded it as 'outcome unknown' (list_generations shows it) and will "
                "not send it again by itself.",
                sent=error.sent,
                status_code=error.status_code,
            ) from None
        except EvoLinkError:
            await store.forget_create(record.key)  # certainly refused or never delivered: nothing billed
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await store.mark_create_unknown(
                    record.key, "The create was interrupted while being sent; EvoLink may have accepted it."
                )
            raise

    async def _earlier_outcome(
        self, record: CreateRecord, reason: Literal["request_id", "duplicate"]
    ) -> GenerateOutcome:
        """The answer for a request an earlier create already covers; never sends anything."""
        deadline = time.monotonic() + self.settings.request_timeout_s + self.settings.connect_timeout_s
        while record.state == "sending":
            if not owner_alive(record.owner):
                await self._store.recover_interrupted_creates()
            elif time.monotonic() > deadline:
                raise TemporaryError(
                    "An identical request is still being sent by another call; it will not be sent twice.",
                    advice="Call generate_video again in a few seconds with the same arguments to get its task_id.",
                )
            else:
                await anyio.sleep(0.1)
            record = await self._store.create_record(record.key) or record
        if record.state == "outcome_unknown":
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.created_at))
            earlier = "A call with this request_id" if reason == "request_id" else "An identical request"
            raise OutcomeUnknownError(
                f"{earlier} was sent at {when} and its outcome is unknown ({record.message}); it is not sent again, "
                "so you are not charged twice.",
                sent=record.payload,
                advice="Check your EvoLink dashboard's task list: if the task is there, use get_generation with its id; "
                + (
                    "if not, call again with a new request_id."
                    if reason == "request_id"
                    else "if not, call generate_video again with allow_duplicate: true."
                ),
            )
        if record.task_id is None:  # pragma: no cover - an accepted record always has its task id
            raise TemporaryError("The earlier request has no task id recorded.")
        return GenerateOutcome(await self.get(record.task_id), reason)

    async def _check_addresses(self, request: VideoRequest) -> None:
        """Refuse image and callback hosts that resolve into a private network (the lexical rules ran already)."""
        checks = [("image_urls", url) for url in request.image_urls or ()]
        if request.callback_url:
            checks.append(("callback_url", request.callback_url))
        for field, url in checks:
            reason = await resolved_internal_reason(url, self.resolver)
            if reason is not None:
                raise InvalidRequestError(
                    f"{field}: {url!r} cannot be used: EvoLink's servers cannot reach it ({reason}).",
                    field=field,
                    advice="Use a public address; nothing was sent or charged.",
                )

    def known(self) -> list[Generation]:
        """Every generation this process knows, newest first."""
        if self.tracker is None:
            return []
        return sorted(self.tracker.generations.values(), key=lambda g: g.created_at, reverse=True)

    async def get(self, task_id: str) -> Generation:
        """A generation by id: from memory, from the store (another process made it), or fetched from upstream."""
        tracker = self._tracker
        known = tracker.generations.get(task_id)
        if known is not None:
            return known
        if self.store is not None and (stored := await self.store.generation(task_id)) is not None:
            self._take_in(stored, poll_now=True)
            return tracker.generations[task_id]
        task = await self.client.get_task(task_id)
        generation = Generation(
            task_id=task.id,
            model=task.model or "unknown",
            prompt="(created outside this server)",
            request={},
            simulated=self.simulated,
        )
        generation.apply(task)
        tracker.add(generation)
        await tracker.notify(generation)
        return generation

    async def wait(self, task_id: str, timeout_s: float, on_change: ChangeListener | None = None) -> Generation:
        """Wait until finished or `timeout_s` passes; never longer. Reports each change through `on_change`."""
        generation: Generation | None = None
        with anyio.move_on_after(timeout_s):
            generation = await self.get(task_id)
            if on_change is not None:
                await on_change(generation)
            while not generation.finished:
                await generation.changed.wait()
                if on_change is not None:
                    await on_change(generation)
        if generation is None:
            raise TemporaryError(f"EvoLink did not answer about {task_id} within {timeout_s:g} s.")
        return generation

    async def download(self, task_id: str, subfolder: str | None = None) -> list[VideoInfo]:
        generation = await self.get(task_id)
        return await self._downloader.save(generation, subfolder)

    async def poster(self, generation: Generation) -> bytes | None:
        """A small JPEG of the generation's first saved video (made once, then cached); None before one is saved."""
        videos = [Path(f.path) for f in sorted(generation.files, key=lambda f: f.index)]
        try:
            return await anyio.to_thread.run_sync(poster_bytes, videos, self.settings.data_dir, generation.task_id)
        except (OSError, ValueError) as error:
            logger.warning("no poster for %s: %s", generation.task_id, error)
            return None

    async def listing(self, status: str | None, offset: int, limit: int) -> tuple[list[Generation], int]:
        await self.refresh()
        items = self.known()
        if status:
            items = [g for g in items if g.status == status]
        return items[offset : offset + limit], len(items)

    async def unconfirmed(self) -> list[CreateRecord]:
        """Creates whose outcome is unknown (or that are being sent right now), newest first."""
        if self.store is None:
            return []
        return await self.store.unconfirmed_creates()
