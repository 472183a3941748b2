"""Durable state in SQLite: creates, generations, uploads, MCP tasks, batches."""

from veo_mcp.storage.batches import UNSENT_STATES, BatchItemRecord, BatchRecord, ItemState
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
    "UNSENT_STATES",
    "BatchItemRecord",
    "BatchRecord",
    "CreateRecord",
    "CreateState",
    "DatabaseWriteError",
    "Earlier",
    "ItemState",
    "McpTaskRecord",
    "Spending",
    "SpendingWindows",
    "Store",
    "StoreError",
    "UploadRecord",
    "owner_alive",
    "process_owner",
]
