"""How HTTP requests may be spread over replicas, tested with a balancer in the client's transport.

2026-07-28 requests stand alone (no session): any replica can answer any request, so plain round-robin works, and a
generation made through one replica is waited for through another. A 2025-era session lives in the replica that
opened it: round-robin breaks it, and routing on the `Mcp-Session-Id` header to the replica that issued it (what
the example HAProxy configuration in deploy/ does with a stick table) keeps it whole.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

from tests.replicas.cluster import Replica, create_then_wait


class Balancer(httpx2.AsyncBaseTransport):
    """A load balancer in front of `targets`: round-robin, or sticky on the session id a replica issued."""

    def __init__(self, targets: list[str], *, sticky: bool) -> None:
        self._targets = [httpx2.URL(target) for target in targets]
        self._turns = itertools.cycle(range(len(targets)))
        self._sticky = sticky
        self._issued_by: dict[str, int] = {}
        self._inner = httpx2.AsyncHTTPTransport()
        self.sent_to: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        session = request.headers.get("mcp-session-id")
        index = self._issued_by[session] if self._sticky and session in self._issued_by else next(self._turns)
        target = self._targets[index]
        request.url = request.url.copy_with(host=target.host, port=target.port)
        self.sent_to.append(index)
        response = await self._inner.handle_async_request(request)
        if issued := response.headers.get("mcp-session-id"):
            self._issued_by.setdefault(issued, index)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _through(balancer: Balancer, url: str, mode: str, work: Any) -> Any:
    timeout = httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT)
    async with (
        httpx2.AsyncClient(transport=balancer, timeout=timeout) as http,  # every request goes through the balancer
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        return await work(client)


async def test_2026_requests_can_go_to_any_replica(two: tuple[Replica, Replica]) -> None:
    balancer = Balancer([replica.url for replica in two], sticky=False)
    state = await _through(balancer, two[0].url, "auto", create_then_wait)
    assert state["status"] == "completed"
    assert set(balancer.sent_to) == {0, 1}  # both replicas answered parts of the same job


async def test_a_2025_session_needs_sticky_routing(two: tuple[Replica, Replica]) -> None:
    urls = [replica.url for replica in two]
    with pytest.raises(Exception) as broken:  # noqa: PT011 - whatever the client raises, the session is gone
        await _through(Balancer(urls, sticky=False), urls[0], "legacy", create_then_wait)
    assert "Session not found" in repr(broken.value), broken.value  # the other replica never saw that session
    sticky = Balancer(urls, sticky=True)
    state = await _through(sticky, urls[0], "legacy", create_then_wait)
    assert state["status"] == "completed"
    assert len(set(sticky.sent_to[1:])) == 1  # after the first request, one replica answered the whole session
