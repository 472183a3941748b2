"""Videos for remote clients: signed, expiring links to saved files (served by our own HTTP app), or presigned
links to copies in S3-compatible object storage."""

from veo_mcp.delivery.links import FILES_PATH, LinkSigner, VideoLinks, link_key

__all__ = ["FILES_PATH", "LinkSigner", "VideoLinks", "link_key"]
