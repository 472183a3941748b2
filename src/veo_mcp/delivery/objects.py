"""Finished videos in S3-compatible object storage (`VEO_MCP_STORAGE_URL=s3://bucket/prefix`), linked by presigned
URLs, so clients fetch videos from the store instead of from this server.

boto3 (the `s3` extra) is the client: it reads credentials the usual AWS ways (environment, profile, instance
role) and speaks to any S3-compatible store through `VEO_MCP_STORAGE_ENDPOINT`. Its calls block, so they run in a
worker thread. A video is uploaded once (remembered by size and modification time, and checked with a HEAD after a
restart); a failure is logged and the caller falls back to this server's own signed link.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread

from veo_mcp.errors import VeoError
from veo_mcp.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


class StorageUnavailableError(VeoError):
    default_advice = "Install the extra (pip install 'veo-mcp[s3]') or unset VEO_MCP_STORAGE_URL."
    action = "fix_settings"


class ObjectStore:
    def __init__(self, url: str, endpoint: str | None) -> None:
        parts = urlsplit(url)
        self.bucket = parts.netloc
        prefix = parts.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self._endpoint = endpoint
        self._client: S3Client | None = None
        self._uploaded: dict[str, tuple[int, int]] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._sending, self._waiting = anyio.create_memory_object_stream[tuple[Path, str]](1000)

    @classmethod
    def for_settings(cls, settings: Settings) -> ObjectStore | None:
        if settings.storage_url is None:
            return None
        if importlib.util.find_spec("boto3") is None:
            raise StorageUnavailableError("VEO_MCP_STORAGE_URL is set, but boto3 (the s3 extra) is not installed.")
        return cls(settings.storage_url, settings.storage_endpoint)

    def _s3(self) -> S3Client:
        if self._client is None:
            import boto3  # the optional s3 extra; only this module needs it
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self._endpoint, config=Config(signature_version="s3v4", retries={"max_attempts": 3})
            )
        return self._client

    def key_of(self, reference: str) -> str:
        return self.prefix + reference

    def _upload_blocking(self, path: Path, key: str, size: int) -> None:
        client = self._s3()
        try:
            head: Any = client.head_object(Bucket=self.bucket, Key=key)
            if head.get("ContentLength") == size:
                return
        except client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": "video/mp4"})

    async def upload(self, path: Path, reference: str) -> bool:
        """`path` in the bucket under its reference (once); False when the store refused (logged)."""
        key = self.key_of(reference)
        try:
            status = os.stat(path)
        except OSError:
            return False
        version = (status.st_size, status.st_mtime_ns)
        async with self._locks.setdefault(key, anyio.Lock()):
            if self._uploaded.get(key) == version:
                return True
            try:
                await anyio.to_thread.run_sync(self._upload_blocking, path, key, status.st_size)
            except Exception as error:  # boto3 raises botocore's many error classes; each means "not stored now"
                logger.warning("could not store %s in s3://%s: %s", reference, self.bucket, error)
                return False
            self._uploaded[key] = version
            logger.info("stored %s in s3://%s/%s", reference, self.bucket, key)
            return True

    async def presigned(self, path: Path, reference: str, ttl_s: int) -> str | None:
        """A presigned GET for the stored copy of `path` (uploaded first if needed); None when it cannot be stored."""
        if not await self.upload(path, reference):
            return None
        key = self.key_of(reference)
        url: str = await anyio.to_thread.run_sync(
            lambda: self._s3().generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_s
            )
        )
        return url

    def enqueue(self, path: Path, reference: str) -> None:
        """Upload `path` soon, in the background (`run`); dropped with a log line if the queue is full."""
        try:
            self._sending.send_nowait((path, reference))
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            logger.warning("not queued for upload: %s (it is uploaded when a link to it is first asked for)", reference)

    async def run(self) -> None:
        """Upload what `enqueue` was given, one file at a time, until cancelled."""
        async with self._waiting:
            async for path, reference in self._waiting:
                await self.upload(path, reference)
