"""The domain layer under the MCP tools: generate, look up, wait, download, list - nothing MCP-specific.

It owns the EvoLink client (real, or the embedded simulator when simulating) and the tracker, and is started once
per process with `async with service.running()`, so every MCP session shares one poller.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import av
import httpx
from pydantic import BaseModel, Field

from veo_mcp.evolink import EvoLinkClient, VideoRequest, catalog, estimate_cost
from veo_mcp.evolink.errors import AuthenticationError, EvoLinkError, NotFoundError, TemporaryError
from veo_mcp.files import confined, video_file_name
from veo_mcp.generations import Generation, SavedFile
from veo_mcp.settings import Settings
from veo_mcp.tracker import ChangeListener, Tracker

logger = logging.getLogger(__name__)


class NoApiKeyError(AuthenticationError):
    """Upstream is needed but no key is configured and the server is not simulating."""

    default_advice = (
        "Set EVOLINK_API_KEY in the MCP server's environment (your client's server config 'env' block) and restart "
        "it, or start the server with --simulate (VEO_MCP_SIMULATE=1) to try everything with the built-in simulator."
    )


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
    with av.open(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        duration = float(container.duration) / 1_000_000 if container.duration else None
        return (
            duration,
            video.width if video else None,
            video.height if video else None,
            bool(container.streams.audio),
        )


def _build_client(settings: Settings) -> tuple[EvoLinkClient | None, bool]:
    """The upstream client and whether it is simulated; None when there is no key and no simulation."""

    def make(api_key: str, base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> EvoLinkClient:
        return EvoLinkClient(
            api_key=api_key,
            base_url=base_url,
            transport=transport,
            connect_timeout_s=settings.connect_timeout_s,
            request_timeout_s=settings.request_timeout_s,
            download_timeout_s=settings.download_timeout_s,
            get_attempts=settings.get_retry_attempts,
        )

    if settings.simulate and settings.base_url == catalog.DEFAULT_BASE_URL:
        from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

        simulator = Simulator(SimulatorConfig(speed=settings.simulator_speed))
        transport = SimulatorTransport(simulator)
        return make("simulated", IN_PROCESS_BASE_URL, transport), True
    if settings.simulate:
        # --simulate with EVOLINK_BASE_URL pointing at a `veo-mcp simulator`: any non-empty key works there.
        key = settings.api_key.get_secret_value() if settings.api_key else "simulated"
        return make(key, settings.base_url), True
    if settings.api_key is None:
        return None, False
    return make(settings.api_key.get_secret_value(), settings.base_url), False


class VeoService:
    def __init__(
        self, settings: Settings, *, client: EvoLinkClient | None = None, simulated: bool | None = None
    ) -> None:
        self.settings = settings
        if client is None:
            client, is_simulated = _build_client(settings)
        else:
            is_simulated = bool(simulated)
        self.simulated = is_simulated
        self.tracker: Tracker | None = None
        if client is not None:
            self.tracker = Tracker(
                client, min_interval_s=settings.poll_interval_min_s, max_interval_s=settings.poll_interval_max_s
            )

    @property
    def _tracker(self) -> Tracker:
        """The tracker, whose client is the upstream; both exist exactly when a key is set or we simulate."""
        if self.tracker is None:
            raise NoApiKeyError("No EvoLink API key is configured, so veo-mcp cannot reach EvoLink.")
        return self.tracker

    @property
    def client(self) -> EvoLinkClient:
        return self._tracker.client

    @asynccontextmanager
    async def running(self) -> AsyncIterator[VeoService]:
        if self.tracker is None:
            yield self
            return
        async with self.tracker.client, self.tracker.running():
            yield self

    # --- operations ---------------------------------------------------------------------------------------

    async def generate(self, request: VideoRequest) -> Generation:
        tracker = self._tracker
        task = await self.client.create_generation(request)
        generation = Generation(
            task_id=task.id,
            model=request.model,
            prompt=request.prompt,
            request=request.to_api_payload(),
            simulated=self.simulated,
            estimate=estimate_cost(request),
            notes=request.notes,
        )
        generation.apply(task)
        tracker.add(generation)
        await tracker.notify(generation)
        return generation

    def known(self) -> list[Generation]:
        """Every generation this process tracks, newest first."""
        if self.tracker is None:
            return []
        return sorted(self.tracker.generations.values(), key=lambda g: g.created_at, reverse=True)

    async def get(self, task_id: str) -> Generation:
        """A generation by id: ours from memory, or one created elsewhere fetched (and then tracked)."""
        tracker = self._tracker
        known = tracker.generations.get(task_id)
        if known is not None:
            return known
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
        if generation.status != "completed" or not generation.result_urls:
            raise NotFoundError(
                f"Generation {task_id} has no video to download yet (status: {generation.status}).",
                advice="Call wait_for_generation until it is completed, then download_video."
                if not generation.finished
                else "It did not complete, so there is nothing to download; see get_generation for why.",
            )
        try:
            folder = confined(self.settings.output_dir, *(subfolder.split("/") if subfolder else ()))
        except ValueError:
            raise EvoLinkError(
                f"subfolder {subfolder!r} points outside the output folder {self.settings.output_dir}.",
                advice="Use a plain relative folder name such as 'drafts' or 'campaign/week1'.",
            ) from None
        saved: list[VideoInfo] = []
        for index, url in enumerate(generation.result_urls):
            target = folder / video_file_name(task_id, generation.prompt, index)
            existing = next((f for f in generation.files if f.index == index and Path(f.path) == target), None)
            if existing is None or not target.exists():
                result = await self.client.download(url, target)
                if existing is not None:
                    generation.files.remove(existing)
                generation.files.append(SavedFile(path=str(result.path), bytes=result.bytes, index=index))
            size = target.stat().st_size
            duration, width, height, audio = await anyio.to_thread.run_sync(probe_video, target)
            saved.append(
                VideoInfo(
                    path=str(target),
                    bytes=size,
                    index=index,
                    duration_s=duration,
                    width=width,
                    height=height,
                    has_audio=audio,
                )
            )
        generation.mark_changed()
        await self._tracker.notify(generation)
        return saved

    def listing(self, status: str | None, offset: int, limit: int) -> tuple[list[Generation], int]:
        items = self.known()
        if status:
            items = [g for g in items if g.status == status]
        return items[offset : offset + limit], len(items)
