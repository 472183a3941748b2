"""The `principal_folders` table: which folder of the output folder holds each principal's videos.

Why recorded rather than derived each time: two names can be made to look alike (a users-file name and an OAuth
`sub` after unsafe characters are replaced, or two names that differ only in case on a case-insensitive disk), and
some names are taken (`simulated`, where the local user's test patterns go). A folder is assigned once, in a write
transaction, from the first free candidate, and never changes, so no two principals ever share one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from veo_mcp.storage.database import Connection, Database, transaction


class FolderTable(Database):
    async def principal_folders(self) -> dict[str, str]:
        """Every folder assigned so far, by principal."""
        rows = await self._rows("SELECT principal, folder FROM principal_folders")
        return {row["principal"]: row["folder"] for row in rows}

    async def assign_folder(self, principal: str, candidates: Sequence[str]) -> str:
        """`principal`'s folder: the one recorded, else the first of `candidates` no other principal holds (compared
        case-folded), recorded now."""

        def work(db: Connection) -> str:
            with transaction(db):
                row = db.execute("SELECT folder FROM principal_folders WHERE principal = ?", (principal,)).fetchone()
                if row is not None:
                    return str(row["folder"])
                for folder in candidates:
                    taken = db.execute(
                        "SELECT 1 FROM principal_folders WHERE folder_key = ?", (folder.casefold(),)
                    ).fetchone()
                    if taken is None:
                        db.execute(
                            "INSERT INTO principal_folders (principal, folder, folder_key, assigned_at) "
                            "VALUES (?, ?, ?, ?)",
                            (principal, folder, folder.casefold(), time.time()),
                        )
                        return folder
            raise ValueError(f"no free output folder for {principal!r}")  # candidates end in a unique hash

        return await self._run(work)
