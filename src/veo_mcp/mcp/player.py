"""The inline player (MCP Apps): get/wait/download results render as status, progress and the video."""

from __future__ import annotations

from importlib import resources
from typing import Any

from mcp.server.apps import Apps, ResourceCsp

PLAYER_URI = "ui://veo-mcp/player.html"
PLAYER_META: dict[str, Any] = {"ui": {"resourceUri": PLAYER_URI}}


LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def player_app(video_origins: list[str] | None = None) -> Apps:
    """The player; `video_origins` are extra origins it may load videos from (this server's own links)."""
    apps = Apps()
    apps.add_html_resource(
        PLAYER_URI,
        (resources.files("veo_mcp.mcp") / "player.html").read_text(encoding="utf-8"),
        name="player",
        title="Veo generation player",
        description="Shows a generation's status and progress and plays the finished video.",
        # Result videos live on EvoLink's CDN (any https host), saved ones behind this server's links (over HTTP,
        # plain http on loopback); the page itself loads nothing else.
        csp=ResourceCsp(resource_domains=["https:", *(video_origins or [])]),
        prefers_border=True,
    )
    return apps
