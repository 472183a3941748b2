"""The `uploads` table: local images already on EvoLink's file service, by content hash (reused while valid)."""

from __future__ import annotations

from pydantic import BaseModel

from veo_mcp.storage.database import Database


class UploadRecord(BaseModel):
    sha256: str
    file_url: str
    file_name: str
    mime_type: str
    bytes: int
    uploaded_at: float
    expires_at: float


class UploadTable(Database):
    async def upload(self, sha256: str, valid_after: float) -> UploadRecord | None:
        rows = await self._rows("SELECT * FROM uploads WHERE sha256 = ? AND expires_at > ?", (sha256, valid_after))
        return UploadRecord.model_validate(dict(rows[0])) if rows else None

    async def save_upload(self, record: UploadRecord) -> None:
        await self._write(
            "INSERT INTO uploads (sha256, file_url, file_name, mime_type, bytes, uploaded_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET file_url = excluded.file_url, "
            "file_name = excluded.file_name, mime_type = excluded.mime_type, bytes = excluded.bytes, "
            "uploaded_at = excluded.uploaded_at, expires_at = excluded.expires_at",
            tuple(record.model_dump().values()),
        )
