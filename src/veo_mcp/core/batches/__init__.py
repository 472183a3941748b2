"""Batches: many generations from one call, confirmed once, sent through a durable queue under the account's limit.

`plan` checks items and derives their identities, `model` is the batch as known here and its public snapshot,
`runner` plans, submits and runs the queue (every item through the generate pipeline).
"""

from veo_mcp.core.batches.model import BATCH_URI_PREFIX, Batch, BatchItemState, BatchState, batch_uri
from veo_mcp.core.batches.plan import (
    ITEM_FIELDS,
    MAX_ITEMS,
    BatchError,
    PreparedItem,
    item_arguments,
    item_label,
    item_request,
    problems_text,
    unknown_field,
)
from veo_mcp.core.batches.runner import BatchPlan, BatchRunner, Submitted, UnknownBatchError

__all__ = [
    "BATCH_URI_PREFIX",
    "ITEM_FIELDS",
    "MAX_ITEMS",
    "Batch",
    "BatchError",
    "BatchItemState",
    "BatchPlan",
    "BatchRunner",
    "BatchState",
    "PreparedItem",
    "Submitted",
    "UnknownBatchError",
    "batch_uri",
    "item_arguments",
    "item_label",
    "item_request",
    "problems_text",
    "unknown_field",
]
