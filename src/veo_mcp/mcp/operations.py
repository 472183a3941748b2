"""Running veo-mcp for a team: `/healthz` (alive), `/readyz` (database and upstream reachable) and `/metrics`
(Prometheus), on the streamable-HTTP server beside `/mcp`.

`/healthz` and `/readyz` need no authentication and say nothing secret (no path, no key, no address but the
upstream's reachability): a load balancer or an orchestrator probes
them. `/metrics` sits behind the same check as the MCP endpoint (`secured_app`, applied by the caller) unless
VEO_MCP_METRICS_PUBLIC is set. Each `App` has its own `CollectorRegistry`, so several servers in one process (the
tests) never share a counter. Values that live in the store (generations by status, estimated spend) are read when
scraped; upstream requests and errors are counted as they happen.
"""

from __future__ import annotations

import logging

import anyio
from mcp.server.mcpserver import MCPServer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from veo_mcp.app import App
from veo_mcp.errors import VeoError
from veo_mcp.evolink.catalog import TaskStatus
from veo_mcp.mcp.sdk_seams import open_http_sessions

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 3.0
STATUSES: tuple[TaskStatus, ...] = ("pending", "processing", "completed", "failed", "cancelled")


class Metrics:
    """The Prometheus metrics of one server."""

    def __init__(self, app: App, server: MCPServer) -> None:
        self._app = app
        self._server = server
        self.registry = CollectorRegistry()
        registry = self.registry
        self.generations = Gauge("veo_mcp_generations", "Generations known, by status.", ["status"], registry=registry)
        self.spend = Gauge(
            "veo_mcp_estimated_spend_usd",
            "Estimated USD of every create that may be billed (failed and cancelled generations are not).",
            registry=registry,
        )
        self.requests = Counter(
            "veo_mcp_upstream_requests", "Requests to EvoLink, by operation.", ["operation"], registry=registry
        )
        self.errors = Counter(
            "veo_mcp_upstream_errors",
            "Failed requests to EvoLink, by operation and kind of error.",
            ["operation", "kind"],
            registry=registry,
        )
        self.sessions = Gauge("veo_mcp_active_sessions", "Open MCP sessions (streamable HTTP).", registry=registry)
        self.queue = Gauge(
            "veo_mcp_queue_length",
            "Work waiting: batch items not sent yet (batch), creates being sent now (creates).",
            ["queue"],
            registry=registry,
        )
        app.upstream_observers.append(self.upstream_request)

    def upstream_request(self, operation: str, error_kind: str | None) -> None:
        self.requests.labels(operation).inc()
        if error_kind is not None:
            self.errors.labels(operation, error_kind).inc()

    async def refresh(self) -> None:
        """Read what lives in the store and the queues now."""
        self.sessions.set(open_http_sessions(self._server))
        if not self._app.configured:
            return
        parts = self._app.parts
        counts = await parts.store.status_counts()
        for status in {*STATUSES, *counts}:
            self.generations.labels(status).set(counts.get(status, 0))
        self.spend.set(await parts.store.committed_usd_since(0.0))
        self.queue.labels("batch").set(parts.batches.queued)
        self.queue.labels("creates").set(sum(1 for r in await parts.ledger.unconfirmed() if r.state == "sending"))

    async def exposition(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)


async def readiness(app: App) -> tuple[bool, dict[str, str]]:
    """Whether the database answers a trivial query and EvoLink's API answers at all (each with why not)."""
    checks: dict[str, str] = {}
    if not app.configured:
        return False, {"database": "not open", "upstream": "not configured (no EVOLINK_API_KEY)"}
    try:
        with anyio.fail_after(READY_TIMEOUT_S):
            await app.parts.store.ping()
        checks["database"] = "ok"
    except (VeoError, TimeoutError) as error:
        # Anyone may ask /readyz: the answer names no path; the operator's log says what went wrong.
        logger.warning("readiness: the database cannot be used: %s", error if str(error) else "no answer in time")
        checks["database"] = "unavailable"
    problem = await app.client.unreachable(READY_TIMEOUT_S)
    checks["upstream"] = "ok" if problem is None else f"unreachable: {problem}"
    return all(value == "ok" for value in checks.values()), checks


class Operations:
    """ASGI middleware: the health, readiness and metrics paths are answered here; the rest goes on to `inner`."""

    def __init__(self, inner: ASGIApp, app: App, metrics_app: ASGIApp) -> None:
        self._inner = inner
        self._app = app
        self._metrics_app = metrics_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/metrics":
            await self._metrics_app(scope, receive, send)
            return
        if path not in ("/healthz", "/readyz"):
            await self._inner(scope, receive, send)
            return
        response: Response
        if path == "/healthz":
            response = JSONResponse({"status": "ok"})
        else:
            ready, checks = await readiness(self._app)
            body = {"status": "ready" if ready else "not ready", "checks": checks}
            response = JSONResponse(body, status_code=200 if ready else 503)
        await response(scope, receive, send)


def metrics_endpoint(metrics: Metrics) -> ASGIApp:
    """`GET /metrics`: the Prometheus text exposition."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
        await response(scope, receive, send)

    return endpoint


def with_operations(inner: ASGIApp, app: App, metrics_app: ASGIApp) -> ASGIApp:
    return Operations(inner, app, metrics_app)
