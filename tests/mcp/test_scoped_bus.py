"""The subscription bus of `subscriptions/listen`, per principal: resource events reach their owner's streams only,
tool and prompt list changes reach everyone."""

from __future__ import annotations

import pytest
from mcp.server.subscriptions import ServerEvent
from mcp.shared.subscriptions import PromptsListChanged, ResourcesListChanged, ResourceUpdated, ToolsListChanged

from veo_mcp.context import acting_as
from veo_mcp.mcp.notifications import ScopedSubscriptionBus

pytestmark = pytest.mark.legacy_era  # no MCP session here: once is enough


async def test_resource_events_reach_their_owners_streams_and_list_changes_of_tools_everyone() -> None:
    bus = ScopedSubscriptionBus()
    heard: dict[str, list[ServerEvent]] = {"alice": [], "bob": []}
    for name, events in heard.items():
        with acting_as(name):  # a listen stream registers while its request runs as its principal
            bus.subscribe(events.append)
    with acting_as("bob"):
        stop_bobs_second = bus.subscribe(heard["bob"].append)
    updated = ResourceUpdated(uri="veo://generations/task-unified-1-a")
    with acting_as("alice"):
        await bus.publish(updated)
        await bus.publish(ResourcesListChanged())
        await bus.publish(ToolsListChanged())
    stop_bobs_second()
    stop_bobs_second()  # idempotent
    await bus.publish(PromptsListChanged())  # outside any request
    assert heard["alice"] == [updated, ResourcesListChanged(), ToolsListChanged(), PromptsListChanged()]
    assert heard["bob"] == [ToolsListChanged(), ToolsListChanged(), PromptsListChanged()]
