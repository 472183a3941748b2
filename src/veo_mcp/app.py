"""The composition root: everything veo-mcp runs is built here from one validated `Settings`.

`App` decides the upstream (EvoLink with the user's key, a `veo-mcp simulator` elsewhere, or the simulator embedded
in this process), opens the store and wires the data flow one way: pipeline → ledger/store → poller → bus (record,
then announce) → downloads. It is started once per process with `async with app.running()`, so every MCP session
shares one poller. The MCP layer and the CLI only ever talk to what this module exposes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from veo_mcp.background.autosave import AutoSaver
from veo_mcp.background.callbacks import CallbackHub
from veo_mcp.background.downloads import Downloader
from veo_mcp.background.poller import Poller
from veo_mcp.context import current_principal
from veo_mcp.core.batches import BatchRunner
from veo_mcp.core.batches.runner import BatchListener
from veo_mcp.core.events import ChangeBus
from veo_mcp.core.generation import Generation
from veo_mcp.core.pipeline import GeneratePipeline
from veo_mcp.core.registry import Registry
from veo_mcp.errors import NotConfiguredError
from veo_mcp.evolink import catalog
from veo_mcp.evolink.addresses import Resolver, system_resolver
from veo_mcp.evolink.schemas import Task
from veo_mcp.local.files import video_folder
from veo_mcp.local.pyav import load_pyav
from veo_mcp.local.uploads import ImageUploads
from veo_mcp.money.ledger import CreateLedger
from veo_mcp.settings import Settings
from veo_mcp.storage import Store
from veo_mcp.storage.changes import ChangeFeed
from veo_mcp.storage.owners import HEARTBEAT_S
from veo_mcp.users import UsersFile

if TYPE_CHECKING:
    from veo_mcp.delivery import VideoLinks
    from veo_mcp.evolink.client import EvoLinkClient, UpstreamObserver
    from veo_mcp.simulator import Simulator

__all__ = ["App", "Running"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Upstream:
    """How to build the upstream client (nothing heavy is imported until it is), and what it is."""

    build: Callable[[], EvoLinkClient]
    simulated: bool
    embedded: bool
    simulators: list[Simulator] = field(default_factory=list)  # the embedded simulator, once built


def simulated_folder(settings: Settings) -> Path:
    """Where the embedded simulator's account and its generations are kept (`VEO_MCP_DATA_DIR/simulated`)."""
    return settings.data_dir / "simulated"


def _client_builder(
    settings: Settings, api_key: str, base_url: str, files_base_url: str, embedded: bool, observe: UpstreamObserver
) -> _Upstream:
    simulators: list[Simulator] = []

    def build() -> EvoLinkClient:
        from veo_mcp.evolink.client import EvoLinkClient

        transport = None
        if embedded:
            load_pyav()  # the simulator's media module imports PyAV: never beside a worker thread's first import
            from veo_mcp.simulator import Simulator, SimulatorConfig, SimulatorTransport

            # The embedded simulator calls this very server back on a loopback VEO_MCP_PUBLIC_URL (settings allow
            # one only when simulating): on one machine, that is the only server it can reach.
            config = SimulatorConfig(
                speed=settings.simulator_speed, state_dir=simulated_folder(settings), allow_private_callbacks=True
            )
            simulators.append(Simulator(config))
            transport = SimulatorTransport(simulators[-1])
        return EvoLinkClient(
            api_key=api_key,
            base_url=base_url,
            files_base_url=files_base_url,
            transport=transport,
            connect_timeout_s=settings.connect_timeout_s,
            request_timeout_s=settings.request_timeout_s,
            download_timeout_s=settings.download_timeout_s,
            get_attempts=settings.get_retry_attempts,
            observe=observe,
        )

    return _Upstream(build, simulated=embedded or settings.simulate, embedded=embedded, simulators=simulators)


def _upstream(settings: Settings, observe: UpstreamObserver) -> _Upstream | None:
    """EvoLink, a simulator process, or the embedded simulator; None when there is no key and no simulation."""
    if settings.simulate and settings.base_url == catalog.DEFAULT_BASE_URL:
        # The embedded simulator serves the file service too, on the same in-process address.
        address = catalog.SIM_IN_PROCESS_BASE_URL
        return _client_builder(settings, "simulated", address, address, embedded=True, observe=observe)
    if settings.simulate:
        # --simulate with EVOLINK_BASE_URL pointing at a `veo-mcp simulator`: any non-empty key works there.
        key = settings.api_key.get_secret_value() if settings.api_key else "simulated"
        return _client_builder(
            settings, key, settings.base_url, settings.files_base_url, embedded=False, observe=observe
        )
    if settings.api_key is None:
        return None
    key = settings.api_key.get_secret_value()
    return _client_builder(settings, key, settings.base_url, settings.files_base_url, embedded=False, observe=observe)


@dataclass(frozen=True, slots=True)
class Running:
    """What exists while the app runs: the parts the MCP tools and the CLI use."""

    store: Store
    registry: Registry
    pipeline: GeneratePipeline
    ledger: CreateLedger
    downloader: Downloader
    poller: Poller
    autosaver: AutoSaver
    batches: BatchRunner
    callbacks: CallbackHub


class App:
    def __init__(
        self,
        settings: Settings,
        *,
        client: EvoLinkClient | None = None,
        simulated: bool | None = None,
        resolver: Resolver = system_resolver,
        serves_http: bool = False,
        store_only: bool = False,
    ) -> None:
        self.settings = settings
        # Without an upstream (no key, not simulating) the CLI's read-only commands still read the store: what is
        # recorded can be listed and shown, saved files copied; nothing is polled, saved anew or sent.
        self.store_only = store_only
        self.resolver = resolver
        # The HTTP users (VEO_MCP_USERS_FILE), read now so a broken file stops the start; re-read when it changes.
        self.users = None
        if settings.users_file is not None:
            self.users = UsersFile(settings.users_file, grace_s=settings.users_file_grace_s)
        # EvoLink can call back only when this process serves HTTP at VEO_MCP_PUBLIC_URL.
        self.callback_base = settings.public_url if serves_http else None
        # Over HTTP every saved video in a result also carries a link a remote client can fetch it with.
        self.links: VideoLinks | None = None
        if serves_http:
            from veo_mcp.delivery import LinkSigner, VideoLinks, link_key  # HTTP only
            from veo_mcp.delivery.objects import ObjectStore

            signer = LinkSigner(link_key(settings), settings.link_ttl_s)
            self.links = VideoLinks(settings, signer, ObjectStore.for_settings(settings))
        # Told about every request to EvoLink (the metrics count them).
        self.upstream_observers: list[UpstreamObserver] = []
        if client is None:
            self._upstream = _upstream(settings, self._observe_upstream)
        else:
            given = client
            self._upstream = _Upstream(lambda: given, simulated=bool(simulated), embedded=False)
        self.simulated = self._upstream is not None and self._upstream.simulated
        # The embedded simulator keeps its account in the data folder's `simulated` subfolder, so every process
        # sharing that folder sees the same simulated tasks; their generations live beside it (never mixed with
        # real ones).
        embedded = self._upstream is not None and self._upstream.embedded
        self.database_path: Path | str = (
            simulated_folder(settings) / "veo-mcp.sqlite3" if embedded else settings.database
        )
        self.bus = ChangeBus()
        # Told about every change of a batch (its items, their generations); shared with the batch runner.
        self.batch_listeners: list[BatchListener] = []
        self._client: EvoLinkClient | None = None
        self._running: Running | None = None

    def _observe_upstream(self, operation: str, error_kind: str | None) -> None:
        for observer in self.upstream_observers:
            observer(operation, error_kind)

    @property
    def configured(self) -> bool:
        """Whether there is an upstream at all (a key, or simulation)."""
        return self._upstream is not None

    @property
    def client(self) -> EvoLinkClient:
        """The upstream client, built on first use (start-up stays light)."""
        if self._upstream is None:
            raise NotConfiguredError("No EvoLink API key is configured, so veo-mcp cannot reach EvoLink.")
        if self._client is None:
            self._client = self._upstream.build()
        return self._client

    @property
    def parts(self) -> Running:
        """The running parts; raises the 'not configured' advice when there is no upstream (and no store-only use)."""
        if self._upstream is None and not self.store_only:
            raise NotConfiguredError("No EvoLink API key is configured, so veo-mcp cannot reach EvoLink.")
        if self._running is None:
            raise RuntimeError("veo-mcp is not running: use `async with app.running()`")
        return self._running

    def parts_or_none(self) -> Running | None:
        """The running parts, or None before `running()` (no error)."""
        return self._running

    async def _fetch(self, task_id: str) -> Task:
        return await self.client.get_task(task_id)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[App]:
        if self._upstream is None:
            if not self.store_only:
                yield self
                return
            async with self._reading_the_store():
                yield self
            return
        store = await Store.open(
            self.database_path, timeout_s=self.settings.database_timeout_s, new=self.settings.new_database
        )
        feed = ChangeFeed(store.url, store.timeout_s) if store.url else None
        try:
            self._running = self._build(store, feed)
            parts = self._running
            async with parts.poller.running(), anyio.create_task_group() as group:
                if feed is not None:  # replicas share this database: say we live, hear what the others record
                    await store.heartbeat()
                    group.start_soon(_keep_beating, store)
                    await group.start(feed.run, parts.registry.heard, parts.registry.refresh)
                group.start_soon(parts.autosaver.run)
                group.start_soon(parts.ledger.keep_recording)
                await parts.downloader.load_folders()
                await parts.callbacks.resume()
                await parts.registry.resume()
                await parts.batches.resume()
                group.start_soon(parts.batches.run)
                if self.links is not None and self.links.objects is not None:
                    group.start_soon(self.links.objects.run)
                self._start_simulated_callbacks(group)
                try:
                    yield self
                finally:
                    group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if self._client is not None:
                    await self._client.aclose()
                    self._client = None
                if feed is not None:
                    await _quietly(store.stopped())  # our claims lapse now, not LAPSE_S later
                    await feed.aclose()
                await store.aclose()
            self.bus.record_with(None)
            self._running = None

    @asynccontextmanager
    async def _reading_the_store(self) -> AsyncIterator[None]:
        """The parts over the store with nothing started: no poller, no saving, no batch queue."""
        store = await Store.open(self.database_path, timeout_s=self.settings.database_timeout_s)
        try:
            self._running = self._build(store, None)
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await store.aclose()
            self.bus.record_with(None)
            self._running = None

    def _build(self, store: Store, feed: ChangeFeed | None) -> Running:
        settings, bus = self.settings, self.bus

        async def record(generation: Generation) -> None:
            generation.absorb(await store.save_generation(generation))
            if feed is not None:
                await feed.notify(generation.task_id)

        bus.record_with(record)
        downloader = Downloader(
            client=lambda: self.client, store=store, settings=settings, publish=bus.publish, resolver=self.resolver
        )
        autosaver = AutoSaver(
            downloader,
            settings.output_dir,
            space_recheck_s=settings.poll_interval_max_s,
            automatic=settings.auto_download,
        )
        poller = Poller(
            self._fetch,
            bus,
            min_interval_s=settings.poll_interval_min_s,
            max_interval_s=settings.poll_interval_max_s,
            claim=store.claim_poll,
            observe=self._observer(store, downloader, autosaver),
        )
        ledger = CreateLedger(store, settings, self.users)
        callbacks = CallbackHub(self.callback_base, store, poller)
        registry = Registry(
            store=store,
            bus=bus,
            poller=poller,
            fetch=self._fetch,
            ledger=ledger,
            simulated=self.simulated,
            on_completed=lambda generation: self._save_automatically(autosaver, generation),
            stall_after_s=settings.stall_after_s,
            saves_itself=settings.auto_download,
        )
        callbacks.join = registry.join
        pipeline = GeneratePipeline(
            settings=settings,
            ledger=ledger,
            registry=registry,
            uploads=ImageUploads(store, lambda: self.client),
            client=lambda: self.client,
            resolver=self.resolver,
            simulated=self.simulated,
            callbacks=callbacks,
            output_folder=self._output_folder(downloader) if settings.auto_download else None,
        )

        async def on_change(generation: Generation) -> None:
            if generation.status == "completed" and generation.download_attempts == 0:
                self._save_automatically(autosaver, generation)
            if generation.download_state == "saved":
                self._store_remotely(generation)

        bus.subscribe(on_change)
        batches = BatchRunner(
            settings=settings,
            store=store,
            pipeline=pipeline,
            registry=registry,
            poller=poller,
            ledger=ledger,
            bus=bus,
            listeners=self.batch_listeners,
        )
        return Running(store, registry, pipeline, ledger, downloader, poller, autosaver, batches, callbacks)

    def _observer(
        self, store: Store, downloader: Downloader, autosaver: AutoSaver
    ) -> Callable[[Generation], Awaitable[bool]]:
        async def observe(generation: Generation) -> bool:
            """Another replica polls this task: take in what it recorded. If it was saving the video and is gone
            (its download claim lapsed with it), the video is saved here."""
            stored = await store.generation(generation.task_id)
            changed = stored is not None and generation.adopt(stored)
            if generation.download_state == "saving" and not await store.download_claimed(
                generation.task_id, downloader.lease_s
            ):
                generation.download_state = "none"
                self._save_automatically(autosaver, generation)
                changed = True
            return changed

        return observe

    def _output_folder(self, downloader: Downloader) -> Callable[[], Path]:
        """Where the current caller's videos are saved (checked before a create is sent)."""
        return lambda: video_folder(downloader.output_dir(current_principal()), (), simulated=self.simulated)

    def _start_simulated_callbacks(self, group: anyio.abc.TaskGroup) -> None:
        """The embedded simulator calls back like EvoLink when this server can be reached (HTTP, a public URL)."""
        if self._upstream is None or not self._upstream.embedded or self.callback_base is None:
            return
        _ = self.client  # builds the embedded simulator
        for simulator in self._upstream.simulators:
            group.start_soon(simulator.callbacks.run)

    def _save_automatically(self, autosaver: AutoSaver, generation: Generation) -> None:
        if self.settings.auto_download and generation.download_state == "none" and generation.followed:
            autosaver.enqueue(generation)

    def _store_remotely(self, generation: Generation) -> None:
        """Saved videos go on to the object store, when one is configured (links are then presigned URLs)."""
        if self.links is None or self.links.objects is None:
            return
        for saved in generation.files:
            reference = self.links.reference_of(saved.path)
            if reference is not None:
                self.links.objects.enqueue(Path(saved.path), reference)


async def _keep_beating(store: Store) -> None:
    """The heartbeat other replicas judge this process's claims by (`storage.owners`)."""
    while True:
        await anyio.sleep(HEARTBEAT_S)
        await _quietly(store.heartbeat())


async def _quietly(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception as error:  # the database is unreachable for now: the next beat tries again
        logger.warning("replica heartbeat: %s", error)
