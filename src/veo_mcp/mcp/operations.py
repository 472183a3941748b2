"""Running veo-mcp for a team: `/healthz` (alive), `/readyz` (database and upstream reachable) and `/metrics`
(Prometheus), on the streamable-HTTP server beside `/mcp`.

`/healthz` and `/readyz` need no authentication and say nothing secret (no path, no key, no address but the
upstream's reachability): a load balancer or an orchestrator probes them, so `/readyz` asks EvoLink at most once
every `UPSTREAM_CHECK_S` whoever calls. `/metrics` is the operator's (`MetricsAccess`): VEO_MCP_METRICS_TOKEN or the
local user's token (a users-file or OAuth user is refused: the counters are everyone's), or anyone when
VEO_MCP_METRICS_PUBLIC is set; spend per user is shown to the operator alone. Each `App` has its own
`CollectorRegistry`, so several servers in one process (the tests) never share a counter. Values that live in the
store (generations by status, estimated spend of every user) are read when scraped; upstream requests and errors are
counted as they happen.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import weakref
from typing import Literal

import anyio
from mcp.server.mcpserver import MCPServer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from veo_mcp.app import App
from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.errors import VeoError
from veo_mcp.evolink.catalog import TaskStatus
from veo_mcp.mcp.auth import PrincipalVerifier
from veo_mcp.mcp.principals import PrincipalToken
from veo_mcp.mcp.sdk_seams import open_http_sessions

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 3.0
PROBE_PATHS = ("/healthz", "/readyz")  # unauthenticated, and answered to probes that name no host
UPSTREAM_CHECK_S = 30.0  # /readyz asks EvoLink at most this often, however often it is probed
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
            "Estimated USD of every user's creates that may be billed (failed and cancelled generations are not).",
            registry=registry,
        )
        # Shown to the operator alone (`MetricsAccess`): who spends what is not every user's business.
        self.per_principal = CollectorRegistry()
        self.spend_by_principal = Gauge(
            "veo_mcp_estimated_spend_usd_by_principal",
            "Estimated USD that may be billed, per user (principal).",
            ["principal"],
            registry=self.per_principal,
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
        self.spend.set(await parts.store.committed_usd_since(0.0, None))
        for principal, usd in (await parts.store.committed_usd_by_principal()).items():
            self.spend_by_principal.labels(principal).set(usd)
        self.queue.labels("batch").set(parts.batches.queued)
        self.queue.labels("creates").set(sum(1 for r in await parts.ledger.unconfirmed() if r.state == "sending"))

    async def exposition(self, operator: bool) -> bytes:
        """The text exposition; with the per-user series for the operator."""
        await self.refresh()
        shown = generate_latest(self.registry)
        return shown + generate_latest(self.per_principal) if operator else shown


async def readiness(app: App) -> tuple[bool, dict[str, str]]:
    """Whether the database answers a trivial query and EvoLink's API answers at all (each with why not)."""
    checks: dict[str, str] = {}
    if not app.configured:
        return False, {"database": "not open", "upstream": "not configured (no EVOLINK_API_KEY)"}
    try:
        await app.parts.store.ping(min(READY_TIMEOUT_S, app.parts.store.timeout_s))
        checks["database"] = "ok"
    except (VeoError, TimeoutError) as error:
        # Anyone may ask /readyz: the answer names no path; the operator's log says what went wrong.
        logger.warning("readiness: the database cannot be used: %s", error if str(error) else "no answer in time")
        checks["database"] = "unavailable"
    problem = await _upstream_check(app)
    checks["upstream"] = "ok" if problem is None else f"unreachable: {problem}"
    return all(value == "ok" for value in checks.values()), checks


# Per App (held weakly: an App that ends takes its answer along, and a later one never inherits it): when EvoLink was
# last asked, and its answer.
_UPSTREAM: weakref.WeakKeyDictionary[App, tuple[float, str | None]] = weakref.WeakKeyDictionary()
_UPSTREAM_LOCK = anyio.Lock()


async def _upstream_check(app: App) -> str | None:
    """EvoLink's reachability, asked at most once every `UPSTREAM_CHECK_S` (probes that arrive meanwhile, or
    together, share one answer): an unauthenticated /readyz must not be a way to make this server call EvoLink."""
    async with _UPSTREAM_LOCK:
        asked = _UPSTREAM.get(app)
        if asked is None or time.monotonic() - asked[0] >= UPSTREAM_CHECK_S:
            asked = (time.monotonic(), await app.client.unreachable(READY_TIMEOUT_S))
            _UPSTREAM[app] = asked
        return asked[1]


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
        if path not in PROBE_PATHS:
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


Scraper = Literal["operator", "anyone"]


class MetricsAccess:
    """Who may read /metrics: the operator (VEO_MCP_METRICS_TOKEN, or the local user's token; anyone on a server
    without authentication, which serves loopback only), or anyone when VEO_MCP_METRICS_PUBLIC is set. A user's own
    token is refused: the counters are the whole server's."""

    def __init__(self, app: App, verifier: PrincipalVerifier | None) -> None:
        token = app.settings.metrics_token
        self._token = hashlib.sha256(token.get_secret_value().encode()).digest() if token else None
        self._public = app.settings.metrics_public
        self._verifier = verifier

    async def scraper(self, scope: Scope) -> Scraper | Response:
        given = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1").strip()
        scheme, _, token = given.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        presented = hashlib.sha256(token.encode()).digest()
        if token and self._token is not None and hmac.compare_digest(presented, self._token):
            return "operator"
        if self._verifier is None:
            return "operator"
        accepted = await self._verifier.verify_token(token) if token else None
        if isinstance(accepted, PrincipalToken) and accepted.principal == LOCAL_PRINCIPAL:
            return "operator"
        if self._public:
            return "anyone"
        if accepted is not None:
            return JSONResponse(
                {"error": "insufficient_scope", "error_description": "/metrics is the server operator's."},
                status_code=403,
            )
        return JSONResponse(
            {"error": "invalid_token", "error_description": "Send 'Authorization: Bearer <token>'."},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def metrics_endpoint(metrics: Metrics, access: MetricsAccess) -> ASGIApp:
    """`GET /metrics`: the Prometheus text exposition, per-user series for the operator only."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        scraper = await access.scraper(scope)
        if isinstance(scraper, Response):
            await scraper(scope, receive, send)
            return
        response = Response(await metrics.exposition(scraper == "operator"), media_type=CONTENT_TYPE_LATEST)
        await response(scope, receive, send)

    return endpoint


def with_operations(inner: ASGIApp, app: App, metrics_app: ASGIApp) -> ASGIApp:
    return Operations(inner, app, metrics_app)
