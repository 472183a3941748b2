"""The HTTP face of EvoLink's callbacks: `POST {VEO_MCP_PUBLIC_URL}/callbacks/evolink/{secret}` on our own HTTP app.

EvoLink cannot send our bearer token, so this one path is outside the token check and the Host checks; the secret in
the path is what admits a caller (only its hash is stored, with the create). The body is never trusted (at most
`MAX_BODY_BYTES` are read): a callback makes the poller ask EvoLink about that task once, now, and only for a create
whose answer was never recorded is the task id it names read, to be asked about (see
`veo_mcp.background.callbacks`). The answer comes at once, well within EvoLink's 10 s: 200 when the
callback was taken, 404 for an unknown secret, 503 (EvoLink retries) while the create is not recorded yet.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veo_mcp.app import App
from veo_mcp.background.callbacks import CALLBACK_PATH
from veo_mcp.mcp.paths import PathPrefix

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
_STATUS = {"hinted": 200, "unknown": 404, "early": 503}


async def _drain(receive: Receive) -> bytes | None:
    """The request body; None when it is larger than anything EvoLink sends."""
    body = b""
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return body
        body += bytes(message.get("body", b""))
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            return body


def _task_id(body: bytes) -> str | None:
    """The task id the body names (a task object): only ever asked about, never believed."""
    try:
        named = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None
    return named if isinstance(named, str) and 0 < len(named) <= 200 else None


async def _answer(send: Send, status: int, text: str) -> None:
    body = json.dumps({"status": status, "message": text}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CallbackReceiver:
    """ASGI middleware: callbacks are answered here; every other request goes on to `inner` (the MCP app)."""

    def __init__(self, inner: ASGIApp, app: App) -> None:
        self._inner = inner
        self._app = app
        self._path = PathPrefix(app.callback_base, CALLBACK_PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secret = self._path.rest(scope)
        if secret is None:
            await self._inner(scope, receive, send)
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, "Callbacks are POSTed.")
            return
        body = await _drain(receive)
        if body is None:
            await _answer(send, 413, "A callback body is a task object; this is too large.")
            return
        outcome = await self._app.parts.callbacks.received(secret, _task_id(body))
        if outcome == "unknown":
            logger.info("a callback with an unknown secret was refused")
        await _answer(send, _STATUS[outcome], outcome)


def with_callbacks(inner: ASGIApp, app: App) -> ASGIApp:
    """`inner` with the callback path in front of it, when this server receives callbacks."""
    return CallbackReceiver(inner, app) if app.callback_base is not None else inner
