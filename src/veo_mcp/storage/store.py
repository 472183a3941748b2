"""The durable record of every create we attempt, every generation we know and every image we uploaded.

`Store` is one SQLite connection (see `storage.database`) with one mixin per table: `creates` (the money-safety
rules), `generations` (state, saved files, download claims), `uploads` (the image upload cache), `mcp_tasks`
(MCP tasks and what each follows) and `batches` (batch queues and their items).
"""

from __future__ import annotations

from pathlib import Path

import anyio

from veo_mcp.storage.batches import BatchTable
from veo_mcp.storage.creates import CreateTable
from veo_mcp.storage.database import connect
from veo_mcp.storage.generations import GenerationTable
from veo_mcp.storage.mcp_tasks import McpTaskTable
from veo_mcp.storage.uploads import UploadTable


class Store(CreateTable, GenerationTable, UploadTable, McpTaskTable, BatchTable):
    """Open with `await Store.open(path)`, close with `aclose()`."""

    @classmethod
    async def open(cls, path: Path | None) -> Store:
        """The database at `path`, created or migrated as needed; None keeps it in memory (embedded simulator)."""
        connection = await anyio.to_thread.run_sync(connect, path)
        return cls(connection, path)
