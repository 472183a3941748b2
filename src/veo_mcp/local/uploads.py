"""Local images onto EvoLink's file service: each content uploaded once, reused while its link has life left."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from veo_mcp.evolink import catalog
from veo_mcp.local.files import slug
from veo_mcp.local.images import LocalImage, read_image
from veo_mcp.storage import Store, UploadRecord

if TYPE_CHECKING:
    from veo_mcp.evolink.client import EvoLinkClient


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


class ImageUploads:
    def __init__(self, store: Store, client: Callable[[], EvoLinkClient]) -> None:
        self._store = store
        self._client = client

    async def file_urls(self, images: list[LocalImage]) -> tuple[list[str], list[str]]:
        """The `file_url` of each image, uploading only those without a still-valid upload; and a note for each."""
        urls, notes = [], []
        for image in images:
            url, note = await self._file_url(image)
            urls.append(url)
            notes.append(note)
        return urls, notes

    async def _file_url(self, image: LocalImage) -> tuple[str, str]:
        store = self._store
        cached = await store.upload(image.sha256, valid_after=time.time() + catalog.UPLOAD_REUSE_MARGIN_S)
        if cached is not None:
            return cached.file_url, f"{image.path.name}: reused its upload from {_iso(cached.uploaded_at)}."
        data = await anyio.to_thread.run_sync(read_image, image)
        uploaded = await self._client().upload_image(
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
        return uploaded.file_url, f"{image.path.name}: uploaded to EvoLink's file service (kept there for 72 h)."
