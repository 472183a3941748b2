"""Durable state in SQLite: creates, generations, uploads, MCP tasks."""

from veo_mcp.storage.creates import CreateRecord, CreateState, Earlier, Spending, SpendingWindows
from veo_mcp.storage.database import DatabaseWriteError, StoreError
from veo_mcp.storage.mcp_tasks import McpTaskRecord
from veo_mcp.storage.owners import owner_alive, process_owner
from veo_mcp.storage.schema import MIGRATIONS, SCHEMA_VERSION
from veo_mcp.storage.store import Store
from veo_mcp.storage.uploads import UploadRecord

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CreateRecord",
    "CreateState",
    "DatabaseWriteError",
    "Earlier",
    "McpTaskRecord",
    "Spending",
    "SpendingWindows",
    "Store",
    "StoreError",
    "UploadRecord",
    "owner_alive",
    "process_owner",
]
