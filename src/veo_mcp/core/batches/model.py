"""A batch as this process knows it (`Batch`), and its public snapshot (`BatchState`), the JSON of the
`veo://batches/{batch_id}` resource and the structured result of `get_batch`/`wait_for_batch`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from pydantic import BaseModel, Field

from veo_mcp.core.generation import Generation
from veo_mcp.storage import UNSENT_STATES, BatchItemRecord, BatchRecord

BATCH_URI_PREFIX = "veo://batches/"
NEVER_SENT = ("refused", "outcome_unknown", "cancelled")


def batch_uri(batch_id: str) -> str:
    return f"{BATCH_URI_PREFIX}{batch_id}"


@dataclass
class Batch:
    """A batch and its items; `changed` is set (and replaced) at every change of an item or of its generation."""

    record: BatchRecord
    items: list[BatchItemRecord]
    changed: anyio.Event = field(default_factory=anyio.Event)

    @property
    def batch_id(self) -> str:
        return self.record.batch_id

    @property
    def uri(self) -> str:
        return batch_uri(self.record.batch_id)

    def unsent(self) -> list[BatchItemRecord]:
        return [item for item in self.items if item.state in UNSENT_STATES]

    def task_ids(self) -> list[str]:
        return [item.task_id for item in self.items if item.task_id is not None]

    def mark_changed(self) -> None:
        event, self.changed = self.changed, anyio.Event()
        event.set()


class BatchItemState(BaseModel):
    index: int = Field(description="Position in the batch (0-based).")
    arguments: dict[str, Any] = Field(description="The item's generate_video arguments.")
    status: str = Field(
        description="queued or sending; once created the generation's status (pending, processing, completed, "
        "failed, cancelled); refused, outcome_unknown or cancelled when it was never (knowingly) created."
    )
    finished: bool = Field(
        description="Nothing more will happen to it: failed, cancelled, never created, or completed with its videos "
        "saved (or their save failed: download_status says so)."
    )
    task_id: str | None = Field(None, description="The generation's task id, once created.")
    uri: str | None = Field(None, description="The generation's resource, once created.")
    duration: int = Field(description="Seconds of video.")
    estimated_cost_usd: float | None
    progress: int = 0
    files: list[str] = Field(default_factory=list, description="Saved videos.")
    download_status: str | None = None
    reused: bool = Field(False, description="An earlier create answered this item (nothing new was charged).")
    message: str | None = Field(None, description="Why it was refused, or a warning.")


class BatchState(BaseModel):
    batch_id: str
    uri: str = Field(description="Resource URI of the batch (subscribe for live updates).")
    label: str
    created_at: str
    estimated_cost_usd: float | None = Field(description="Total estimate; null when a price is unknown.")
    total: int = Field(description="How many items.")
    done: int = Field(description="How many items have finished (whatever the outcome; a rendered one once saved).")
    saved: int = Field(description="How many items have their videos saved.")
    counts: dict[str, int] = Field(description="Items per status.")
    finished: bool = Field(description="True once every item has finished.")
    cancelled: bool
    queue: str | None = Field(None, description="Why queued items are waiting, if they are.")
    items: list[BatchItemState]


def _item_state(item: BatchItemRecord, generation: Generation | None) -> BatchItemState:
    state = BatchItemState(
        index=item.position,
        arguments=item.arguments,
        status=item.state,
        finished=item.state in NEVER_SENT,
        task_id=item.task_id,
        duration=item.duration,
        estimated_cost_usd=item.estimate_usd,
        reused=item.reused,
        message=item.message,
    )
    if item.state == "created" and item.task_id is not None:
        state.uri = f"veo://generations/{item.task_id}"
        if generation is None:
            state.status = "pending"
        else:
            state.status = generation.status
            state.finished = generation.save_settled()
            state.progress = generation.progress
            state.files = [f.path for f in sorted(generation.files, key=lambda f: f.index)]
            state.download_status = generation.download_state
    return state


def batch_state(batch: Batch, generations: Mapping[str, Generation], queue: str | None) -> BatchState:
    items = [_item_state(item, generations.get(item.task_id or "")) for item in batch.items]
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    record = batch.record
    return BatchState(
        batch_id=record.batch_id,
        uri=batch.uri,
        label=record.label,
        created_at=datetime.fromtimestamp(record.created_at, tz=UTC).isoformat(timespec="seconds"),
        estimated_cost_usd=record.estimate_usd,
        total=len(items),
        done=sum(1 for item in items if item.finished),
        saved=sum(1 for item in items if item.download_status == "saved"),
        counts=counts,
        finished=all(item.finished for item in items),
        cancelled=record.cancelled_at is not None,
        queue=queue if any(item.status == "queued" for item in items) else None,
        items=items,
    )
