"""Pins for the private SDK touches in `veo_mcp.mcp.sdk_seams`: when an SDK upgrade moves one, these fail loudly
(instead of 2025-era clients silently losing notifications)."""

from __future__ import annotations

from pathlib import Path

from mcp.client import Client
from mcp.server.connection import Connection
from mcp.server.mcpserver import Context, MCPServer

from tests.helpers import current_era, running_harness
from veo_mcp.mcp.sdk_seams import connection_of


async def test_a_request_session_leads_to_its_connection() -> None:
    """On 2025-era sessions one client keeps one connection across requests (what legacy notifications need); on
    2026-07-28 each request stands alone, and those clients hear changes through subscriptions/listen instead."""
    seen: list[Connection] = []
    server: MCPServer = MCPServer(name="probe")

    @server.tool()
    async def probe(ctx: Context) -> str:
        seen.append(connection_of(ctx.request_context.session))
        return "ok"

    async with Client(server, mode=current_era()) as client:
        await client.call_tool("probe", {})
        await client.call_tool("probe", {})
    assert len(seen) == 2 and all(isinstance(connection, Connection) for connection in seen)
    if current_era() == "legacy":
        assert seen[0] is seen[1]


async def test_legacy_subscriptions_logging_and_list_changes_are_advertised(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as harness, harness.client() as client:
        capabilities = client.server_capabilities
    assert capabilities.resources is not None
    assert capabilities.resources.subscribe is True
    assert capabilities.resources.list_changed is True
    if current_era() == "legacy":
        assert capabilities.logging is not None
