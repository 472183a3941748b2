"""The automatic saver's policy on its own, with a scripted downloader: what it queues, what it retries and for
whom, what it logs when a save fails before its transfer; and which result links count as the upstream's own.

Waits are on what the saver did (a save started), within a bound; no sleep is a synchronisation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from veo_mcp.background.autosave import AutoSaver
from veo_mcp.background.downloads import _origin
from veo_mcp.core.generation import Generation
from veo_mcp.evolink.errors import TemporaryError


class ScriptedDownloader:
    """Stands in for the downloader: records each save, fails it with `error` when one is given."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.saved: list[str] = []
        self.started = anyio.Event()
        self.after_failure: object = None  # set by the saver

    async def save(self, generation: Generation) -> None:
        self.saved.append(generation.task_id)
        self.started.set()
        if self.error is not None:
            raise self.error


def rendered(task_id: str, *, state: str = "none", links: bool = True) -> Generation:
    generation = Generation(task_id=task_id, model="veo3.1-fast", prompt="a kite", request={}, simulated=True)
    generation.status = "completed"
    if links:
        generation.result_urls = ["https://cdn.example.com/v.mp4"]
        generation.completed_at = time.time()
    generation.download_state = state  # type: ignore[assignment]
    return generation


@asynccontextmanager
async def saving(saver: AutoSaver) -> AsyncIterator[AutoSaver]:
    async with anyio.create_task_group() as group:
        group.start_soon(saver.run)
        with anyio.fail_after(10):
            while saver._group is None:  # noqa: ASYNC110 - until the saver's workers run
                await anyio.sleep(0.001)
        yield saver
        group.cancel_scope.cancel()


def saver_of(downloader: ScriptedDownloader, tmp_path: Path, *, automatic: bool = True) -> AutoSaver:
    return AutoSaver(downloader, tmp_path, space_recheck_s=0.01, automatic=automatic)  # type: ignore[arg-type]


async def test_saved_and_expired_videos_are_not_queued_and_one_without_links_yet_is(tmp_path: Path) -> None:
    downloader = ScriptedDownloader()
    async with saving(saver_of(downloader, tmp_path)) as saver:
        saver.enqueue(rendered("task-saved", state="saved"))
        saver.enqueue(rendered("task-expired", state="expired"))
        saver.enqueue(rendered("task-no-expiry-known", links=False))  # queued last among the soonest-expiring
        with anyio.fail_after(10):
            await downloader.started.wait()
    assert downloader.saved == ["task-no-expiry-known"]


async def test_a_save_that_fails_before_its_transfer_is_logged_and_scheduled_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    downloader = ScriptedDownloader(RuntimeError("the claim could not be written"))
    generation = rendered("task-claim-fails")
    async with saving(saver_of(downloader, tmp_path)) as saver:
        saver.enqueue(generation)
        with anyio.fail_after(10):
            await downloader.started.wait()
            while generation.task_id not in saver._retrying:  # noqa: ASYNC110 - the saver's own decision
                await anyio.sleep(0.001)
    assert "saving task-claim-fails failed before the transfer: the claim could not be written" in caplog.messages


async def test_without_automatic_saving_only_the_saves_asked_for_are_retried(tmp_path: Path) -> None:
    downloader = ScriptedDownloader()
    async with saving(saver_of(downloader, tmp_path, automatic=False)) as saver:
        nobody_asked = rendered("task-not-asked")
        assert saver.after_failure(nobody_asked, TemporaryError("busy")) is None
        assert "task-not-asked" not in saver._retrying
        asked = rendered("task-asked")  # the positive control: a save asked for (download_video) is retried
        saver.enqueue(asked)
        with anyio.fail_after(10):
            await downloader.started.wait()
        retry_at = saver.after_failure(asked, TemporaryError("busy"))
        assert retry_at is not None and retry_at > time.time() and "task-asked" in saver._retrying


@pytest.mark.parametrize(
    ("link", "upstream", "same"),
    [
        ("https://API.example.com:443/v.mp4", "https://api.example.com", True),
        ("http://127.0.0.1:80/v.mp4", "http://127.0.0.1", True),
        ("http://127.0.0.1:8001/v.mp4", "http://127.0.0.1:8000", False),
        ("http://api.example.com/v.mp4", "https://api.example.com", False),
        ("https://api.example.com.evil.test/v.mp4", "https://api.example.com", False),
    ],
)
def test_only_a_link_on_the_upstreams_own_scheme_host_and_port_counts_as_its_own(
    link: str, upstream: str, same: bool
) -> None:
    """Such links are exempt from the internal-address check (a loopback simulator); nothing else may be."""
    assert (_origin(link) == _origin(upstream)) is same
