"""The MCP server, built with the SDK's public constructor: tools, the change bus, middleware and the player.

The whole job works through tools alone; resources, subscriptions, progress and log messages are enhancements for
the clients that support them. Each tool group lives in `veo_mcp.mcp.tools` and can be built and tested alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool

from veo_mcp import __version__
from veo_mcp.app import App
from veo_mcp.mcp.failures import guard_tools
from veo_mcp.mcp.listing import describe
from veo_mcp.mcp.middleware import PromptArguments, SessionTracking, ToolArguments
from veo_mcp.mcp.notifications import ScopedSubscriptionBus, Watchers
from veo_mcp.mcp.player import LOOPBACK_ORIGINS, PLAYER_URI, player_app
from veo_mcp.mcp.principals import PrincipalScope
from veo_mcp.mcp.prompts import prompt_rules, register_prompts
from veo_mcp.mcp.resources import GenerationList, register_resources
from veo_mcp.mcp.tasks import task_support
from veo_mcp.mcp.tools.batches import batch_tools
from veo_mcp.mcp.tools.generate import generate_tools
from veo_mcp.mcp.tools.generations import generation_tools
from veo_mcp.mcp.tools.models import model_tools

if TYPE_CHECKING:
    from mcp.server.auth.settings import AuthSettings

    from veo_mcp.mcp.auth import PrincipalVerifier

__all__ = ["PLAYER_URI", "build_tools", "create_server", "instructions"]

_TOOL_ORDER = (
    "generate_video",
    "get_generation",
    "wait_for_generation",
    "download_video",
    "list_generations",
    "estimate_cost",
    "list_models",
    "generate_batch",
    "get_batch",
    "wait_for_batch",
    "combine_videos",
)


def instructions(app: App) -> str:
    text = (
        "veo-mcp generates short videos (4-8 s, 720p-4k, optional audio) with Google Veo 3.1 through EvoLink. "
        "Workflow: estimate_cost (optional) → generate_video (returns at once with a task_id; pass a request_id so "
        "a retried call never pays twice) → wait_for_generation (repeat until finished; each call waits at most "
        "~45 s; if it says stalled, tell the user instead of waiting on) → download_video (returns the saved MP4 "
        "paths; finished videos are saved automatically). "
        "Rendering takes 1-3 minutes. Generations cost real money: requests above the confirmation threshold need "
        "the user's consent (asked directly, or confirm_cost: true after you asked). Result links expire 24 h "
        "after completion. Many videos at once (variants, a storyboard's shots): generate_batch (one confirmation, "
        "then a queue) → wait_for_batch → combine_videos to join clips into one film."
    )
    if app.simulated:
        text = (
            "SIMULATED MODE: this server uses the built-in EvoLink simulator. Videos are test patterns, not real "
            "renders, and nothing is billed. " + text
        )
    elif not app.configured:
        text = "NOT CONFIGURED: no EVOLINK_API_KEY is set, so tools that need EvoLink explain how to set it. " + text
    return text


def build_tools(app: App) -> list[Tool]:
    """Every tool in the order clients list them, described for the listing (closed to undeclared arguments)."""
    tools = {
        tool.name: tool for tool in [*generate_tools(app), *generation_tools(app), *model_tools(), *batch_tools(app)]
    }
    ordered = [tools[name] for name in _TOOL_ORDER]
    describe(ordered)
    return guard_tools(ordered, app.settings)


def create_server(app: App, auth: tuple[AuthSettings, PrincipalVerifier] | None = None) -> MCPServer:
    """The MCP server; `auth` (from `veo_mcp.mcp.auth.http_auth`) puts the HTTP transport behind bearer tokens."""
    tools = build_tools(app)
    bus = ScopedSubscriptionBus()
    watchers = Watchers(bus)
    app.bus.subscribe(watchers.changed)
    app.batch_listeners.append(watchers.batch_changed)
    tasks = task_support(app)  # generate_video as a native MCP task, on both protocol eras
    server: MCPServer = MCPServer(
        name="veo-mcp",
        title="Veo 3.1 video generation (EvoLink)",
        description="Generate short videos with Google Veo 3.1 through EvoLink and save them locally.",
        instructions=instructions(app),
        version=__version__,
        log_level="WARNING",
        tools=tools,
        subscriptions=bus,
        auth=auth[0] if auth else None,
        token_verifier=auth[1] if auth else None,
        middleware=[
            PrincipalScope(),  # first: everything after it runs as the request's principal
            SessionTracking(watchers),
            tasks.middleware,
            ToolArguments(tools),
            PromptArguments(prompt_rules()),
            GenerationList(app),
        ],
        extensions=[player_app(LOOPBACK_ORIGINS if app.links is not None else []), tasks.extension],
    )
    register_resources(server, app, watchers)
    register_prompts(server)
    return server
