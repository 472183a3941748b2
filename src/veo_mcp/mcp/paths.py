"""Paths this HTTP server answers itself, beside the MCP endpoint (EvoLink's callbacks, video links)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import Scope


class PathPrefix:
    """`path` at the root and under the public URL's own path: a reverse proxy may or may not strip that path."""

    def __init__(self, public_base: str | None, path: str) -> None:
        base_path = urlsplit(public_base or "").path.rstrip("/")
        self._prefixes = tuple({base_path + path, path})

    def rest(self, scope: Scope) -> str | None:
        """What follows the prefix in this HTTP request's path; None when the request is not for this prefix."""
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        prefix = next((prefix for prefix in self._prefixes if path.startswith(prefix)), None)
        return None if prefix is None else path[len(prefix) :]
