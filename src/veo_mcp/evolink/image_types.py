"""The image types the video API and its file service accept, told by content (not by name)."""

from __future__ import annotations


def image_type(head: bytes) -> str | None:
    """The MIME type the first bytes announce, for the three types the video API accepts."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
