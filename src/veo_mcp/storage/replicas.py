"""Replicas sharing one database: each process's heartbeat, and which process polls each task upstream.

Why claims for polling: every replica that knows a task would otherwise ask EvoLink about it on its own schedule, so
two replicas would double the polls (and the rate-limit budget they use). The first replica to poll a task claims
it; the others read what it recorded (see `background.poller`). A claim lasts as long as its holder lives (`owners`):
a replica that dies loses its claims within `LAPSE_S`, and the next replica to look takes them over.
"""

from __future__ import annotations

import time

from veo_mcp.storage.database import Connection, Database, transaction
from veo_mcp.storage.owners import alive_in, database_now, process_owner


class ReplicaTable(Database):
    async def heartbeat(self) -> None:
        """Say this process is alive (replicas on other machines judge its claims by it)."""
        owner = process_owner()

        def work(db: Connection) -> None:
            with transaction(db):
                db.execute(
                    "INSERT INTO processes (owner, seen_at) VALUES (?, ?) "
                    "ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at",
                    (owner, database_now(db)),
                )

        await self._run(work)

    async def stopped(self) -> None:
        """This process is stopping: its claims lapse now, not `LAPSE_S` later."""
        await self._write("UPDATE processes SET seen_at = 0 WHERE owner = ?", (process_owner(),))

    async def owner_alive(self, owner: str) -> bool:
        return await self._run(lambda db: alive_in(db, owner))

    async def claim_poll(self, task_id: str) -> bool:
        """Whether this process is the one to poll `task_id` upstream (claimed now, or held already)."""
        owner = process_owner()
        rows = await self._rows("SELECT owner FROM poll_claims WHERE task_id = ?", (task_id,))
        if rows and rows[0]["owner"] == owner:
            return True

        def work(db: Connection) -> bool:
            with transaction(db):
                row = db.execute("SELECT owner FROM poll_claims WHERE task_id = ?", (task_id,)).fetchone()
                if row is not None and row["owner"] != owner and alive_in(db, row["owner"]):
                    return False
                db.execute(
                    "INSERT INTO poll_claims (task_id, owner, claimed_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (task_id) DO UPDATE SET owner = excluded.owner, claimed_at = excluded.claimed_at",
                    (task_id, owner, time.time()),
                )
                return True

        return await self._run(work)

    async def poll_claims(self) -> dict[str, str]:
        """Task id → the process that polls it (for tests and `doctor`)."""
        return {row["task_id"]: row["owner"] for row in await self._rows("SELECT task_id, owner FROM poll_claims")}
