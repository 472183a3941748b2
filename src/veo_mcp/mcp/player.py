"""The inline player (MCP Apps): get/wait/download results render as status, progress and the video."""

from __future__ import annotations

from importlib import resources
from typing import Any

from mcp.server.apps import Apps, ResourceCsp

PLAYER_URI = "ui://veo-mcp/player.html"
PLAYER_META: dict[str, Any] = {"ui": {"resourceUri": PLAYER_URI}}


def player_app() -> Apps:
    apps = Apps()
    apps.add_html_resource(
        PLAYER_URI,
        (resources.files("veo_mcp.mcp") / "player.html").read_text(encoding="utf-8"),
        name="player",
        title="Veo generation player",
        description="Shows a generation's status and progress and plays the finished video.",
        # Result videos live on EvoLink's CDN (any https host); the page itself loads nothing else.
        csp=ResourceCsp(resource_domains=["https:"]),
        prefers_border=True,
    )
    return apps
