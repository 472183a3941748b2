"""The `generations` table: the last known state of each task plus what we saved, and the download claim (a lease,
so two processes sharing a data folder never fetch the same video twice)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from veo_mcp.core.generation import Generation, SavedFile, merged
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.storage.database import Connection, Database, Row, transaction
from veo_mcp.storage.owners import alive_in, gone_in, process_owner

GENERATION_COLUMNS = (
    "task_id",
    "request_id",
    "fingerprint",
    "model",
    "prompt",
    "request_json",
    "simulated",
    "estimate_json",
    "status",
    "progress",
    "estimated_time_s",
    "result_urls_json",
    "error_code",
    "error_message",
    "notes_json",
    "files_json",
    "created_at",
    "updated_at",
    "completed_at",
    "download_state",
    "download_error",
    "download_attempts",
    "followed",
    "principal",
    "followed_at",
)


def generation_values(generation: Generation) -> tuple[Any, ...]:
    return (
        generation.task_id,
        generation.request_id,
        generation.fingerprint,
        generation.model,
        generation.prompt,
        json.dumps(generation.request),
        int(generation.simulated),
        generation.estimate.model_dump_json() if generation.estimate else None,
        generation.status,
        generation.progress,
        generation.estimated_time_s,
        json.dumps(generation.result_urls),
        generation.error_code,
        generation.error_message,
        json.dumps(generation.notes),
        json.dumps([f.model_dump(exclude={"url"}) for f in generation.files]),  # links are made per request
        generation.created_at,
        generation.updated_at,
        generation.completed_at,
        generation.download_state,
        generation.download_error,
        generation.download_attempts,
        int(generation.followed),
        generation.owner,
        generation.followed_at,
    )


def generation_from_row(row: Row) -> Generation:
    return Generation(
        task_id=row["task_id"],
        request_id=row["request_id"],
        fingerprint=row["fingerprint"],
        model=row["model"],
        prompt=row["prompt"],
        request=json.loads(row["request_json"]),
        simulated=bool(row["simulated"]),
        estimate=CostEstimate.model_validate_json(row["estimate_json"]) if row["estimate_json"] else None,
        status=row["status"],
        progress=row["progress"],
        estimated_time_s=row["estimated_time_s"],
        result_urls=json.loads(row["result_urls_json"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        notes=json.loads(row["notes_json"]),
        files=[SavedFile.model_validate(item) for item in json.loads(row["files_json"])],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        completed_at=row["completed_at"],
        download_state=row["download_state"],
        download_error=row["download_error"],
        download_attempts=row["download_attempts"],
        followed=bool(row["followed"]),
        owner=row["principal"],
        followed_at=float(row["followed_at"]),
    )


@dataclass(frozen=True, slots=True)
class DownloadClaim:
    """What `claim_download` found: the claim is ours now, or another process's (`holder_quiet`: its heartbeat
    lapsed, yet its lease stands for `lease_left_s` more: it may be paused)."""

    ours: bool
    holder_quiet: bool = False
    lease_left_s: float = 0.0


def _holding(db: Connection, row: Row, owner: str, now: float, lease_s: float) -> DownloadClaim | None:
    """Another process's standing claim (None when the claim is free or ours)."""
    holder, claimed_at = row["download_owner"], row["download_claimed_at"]
    if holder is None or holder == owner or claimed_at is None or now - claimed_at > lease_s or gone_in(db, holder):
        return None
    return DownloadClaim(ours=False, holder_quiet=not alive_in(db, holder), lease_left_s=lease_s - (now - claimed_at))


# Built once from the constant column list above (no input reaches it). A generation never changes hands: the
# principal is written with the first row only.
UPSERT_GENERATION = (
    f"INSERT INTO generations ({', '.join(GENERATION_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in GENERATION_COLUMNS)}) ON CONFLICT (task_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in GENERATION_COLUMNS[1:] if name != "principal")
)


def store_merged(db: Connection, generation: Generation) -> Generation:
    """Write `generation` merged with what is stored (see `core.generation.merged`), inside the caller's write
    transaction; what was stored."""
    row = db.execute("SELECT * FROM generations WHERE task_id = ?", (generation.task_id,)).fetchone()
    result = generation if row is None else merged(generation_from_row(row), generation)
    db.execute(UPSERT_GENERATION, generation_values(result))
    return result


class GenerationTable(Database):
    async def save_generation(self, generation: Generation) -> Generation:
        """Store `generation` merged with what is stored, in one write transaction, so two processes sharing the
        data folder never take back each other's progress; returns what was stored."""

        def work(db: Connection) -> Generation:
            with transaction(db):
                return store_merged(db, generation)

        return await self._run(work)

    async def generation(self, task_id: str) -> Generation | None:
        rows = await self._rows("SELECT * FROM generations WHERE task_id = ?", (task_id,))
        return generation_from_row(rows[0]) if rows else None

    async def generations(self, *, updated_after: float | None = None) -> list[Generation]:
        """Every generation (or those changed after a time), oldest first."""
        rows = await self._rows(
            "SELECT * FROM generations WHERE updated_at > ? ORDER BY created_at",
            (updated_after if updated_after is not None else float("-inf"),),
        )
        return [generation_from_row(row) for row in rows]

    async def status_counts(self) -> dict[str, int]:
        """How many generations are in each status (metrics)."""
        rows = await self._rows("SELECT status, COUNT(*) AS n FROM generations GROUP BY status")
        return {str(row["status"]): int(row["n"]) for row in rows}

    async def claim_download(self, task_id: str, lease_s: float) -> DownloadClaim:
        """Take the right to download `task_id`'s videos, unless another process holds it: one whose lease (renewed
        while it downloads) is younger than `lease_s` and that is not certainly gone. A holder whose heartbeat
        lapsed may only be paused: its claim stands until its lease runs out (the answer says so)."""
        owner = process_owner()
        now = time.time()

        def work(db: Connection) -> DownloadClaim:
            with transaction(db):
                row = db.execute(
                    "SELECT download_owner, download_claimed_at FROM generations WHERE task_id = ?", (task_id,)
                ).fetchone()
                if row is None:
                    return DownloadClaim(ours=False)
                holding = _holding(db, row, owner, now, lease_s)
                if holding is not None:
                    return holding
                db.execute(
                    "UPDATE generations SET download_owner = ?, download_claimed_at = ? WHERE task_id = ?",
                    (owner, now, task_id),
                )
                return DownloadClaim(ours=True)

        return await self._run(work)

    async def renew_download(self, task_id: str) -> bool:
        """Extend this process's download claim of `task_id` (while it downloads); False when it no longer holds it
        (another process took it over, its lease having run out)."""
        owner = process_owner()

        def work(db: Connection) -> bool:
            with transaction(db):
                db.execute(
                    "UPDATE generations SET download_claimed_at = ? WHERE task_id = ? AND download_owner = ?",
                    (time.time(), task_id, owner),
                )
                row = db.execute("SELECT download_owner FROM generations WHERE task_id = ?", (task_id,)).fetchone()
                return row is not None and row["download_owner"] == owner

        return await self._run(work)

    async def download_claimed(self, task_id: str, lease_s: float) -> bool:
        """Whether a process (this one included) holds the download claim of `task_id` (see `claim_download`)."""
        now = time.time()

        def work(db: Connection) -> bool:
            row = db.execute(
                "SELECT download_owner, download_claimed_at FROM generations WHERE task_id = ?", (task_id,)
            ).fetchone()
            if row is None or row["download_owner"] is None:
                return False
            if row["download_owner"] == process_owner():
                return True
            return _holding(db, row, process_owner(), now, lease_s) is not None

        return await self._run(work)

    async def release_download(self, task_id: str) -> None:
        await self._write(
            "UPDATE generations SET download_owner = NULL, download_claimed_at = NULL "
            "WHERE task_id = ? AND download_owner = ?",
            (task_id, process_owner()),
        )
