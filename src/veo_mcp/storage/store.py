"""The durable record of every create we attempt, every generation we know and every image we uploaded.

`Store` is one SQLite or PostgreSQL connection (see `storage.database`, `storage.postgres`) with one mixin per table: `creates` (the money-safety
rules), `generations` (state, saved files, download claims), `uploads` (the image upload cache), `mcp_tasks`
(MCP tasks and what each follows), `batches` (batch queues and their items) and `replicas` (heartbeats, poll
claims).
"""

from __future__ import annotations

from pathlib import Path

import anyio

from veo_mcp.storage.batches import BatchTable
from veo_mcp.storage.creates import CreateTable
from veo_mcp.storage.database import DEFAULT_TIMEOUT_S
from veo_mcp.storage.folders import FolderTable
from veo_mcp.storage.generations import GenerationTable
from veo_mcp.storage.mcp_tasks import McpTaskTable
from veo_mcp.storage.postgres import connect_postgres, is_postgres_url, redact_url
from veo_mcp.storage.replicas import ReplicaTable
from veo_mcp.storage.sqlite import connect
from veo_mcp.storage.uploads import UploadTable


class Store(CreateTable, GenerationTable, UploadTable, McpTaskTable, BatchTable, ReplicaTable, FolderTable):
    """Open with `await Store.open(path)`, close with `aclose()`."""

    @classmethod
    async def open(
        cls, location: Path | str | None, *, timeout_s: float = DEFAULT_TIMEOUT_S, new: bool = False
    ) -> Store:
        """The database at `location`, created or migrated as needed: a SQLite file, a `postgresql://` URL (replicas
        share it), or None to keep it in memory (embedded simulator). Every call on it ends within `timeout_s`. A
        SQLite file that is empty where generations were kept, or damaged, is refused unless `new` (see
        `storage.sqlite`)."""
        if isinstance(location, str):
            if not is_postgres_url(location):
                raise ValueError(f"not a PostgreSQL URL: {redact_url(location)}")
            connection = await anyio.to_thread.run_sync(connect_postgres, location, timeout_s)
            store = cls(connection, None, where=redact_url(location), timeout_s=timeout_s)
            store.url = location
            return store
        opened = await anyio.to_thread.run_sync(lambda: connect(location, timeout_s, new=new))
        return cls(opened, location, timeout_s=timeout_s)
