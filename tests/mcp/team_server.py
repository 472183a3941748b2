"""A team's veo-mcp for the tests: the real `veo-mcp serve --transport streamable-http --simulate` as a child process
with a users file and an OAuth issuer, the issuer's JWKS on a loopback server of the test's own, and MCP clients
that talk to it over streamable HTTP with a bearer token (the SDK's own HTTP client)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import mcp_types as types
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers import LineReader, current_era, serving_http
from veo_mcp.users import User, token_hash, write_users

AUDIENCE = "https://veo.team.example/mcp"
# VEO_MCP_HTTP_TOKEN beside the users file: whoever holds it is the server's local user.
LOCAL_TOKEN = "the-local-users-own-http-token-0123456789"


class SigningKey:
    """An RSA key pair made in the test; `jwk` is its public half as a JWKS entry."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwk = {
            **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key())),
            "kid": kid,
            "alg": "RS256",
            "use": "sig",
        }

    def token(self, issuer: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": issuer, "aud": AUDIENCE, "sub": "carol", "iat": now, "exp": now + 600, **claims}
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": self.kid})


@dataclass
class Issuer:
    """An OAuth issuer's key set served on loopback (`GET /.well-known/jwks.json`), and how often it was read."""

    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    reads: int = 0
    cache_control: str | None = None  # the Cache-Control header of its answers


@contextmanager
def serving_jwks() -> Iterator[Issuer]:
    """A loopback HTTP server (uvicorn, port 0) publishing a JWKS the test can change; always stopped."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    issuer = Issuer(url=f"http://127.0.0.1:{listener.getsockname()[1]}")

    async def jwks(request: Request) -> JSONResponse:
        issuer.reads += 1
        headers = {"Cache-Control": issuer.cache_control} if issuer.cache_control else None
        return JSONResponse({"keys": list(issuer.keys)}, headers=headers)

    app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@dataclass
class TeamServer:
    url: str
    users_file: Path
    output_dir: Path
    process: subprocess.Popen[str]
    stderr: LineReader
    tokens: dict[str, str]

    def stderr_lines(self, wait_s: float = 0.5) -> list[str]:
        """What the server wrote on stderr since the endpoint line (waiting up to `wait_s` for more)."""
        lines: list[str] = []
        deadline = time.monotonic() + wait_s
        while True:
            try:
                line = self.stderr.next_line(deadline)
            except TimeoutError:
                return lines
            if line is None:
                return lines
            lines.append(line)


def add_user(path: Path, name: str, **limits: float) -> str:
    """A user added to the file the way `veo-mcp users add` does; their token."""
    from veo_mcp.users import new_token, read_users

    users = read_users(path)
    token = new_token()
    users[name] = User(name=name, token_sha256=token_hash(token), **limits)
    write_users(path, users)
    return token


@contextmanager
def serving_team(
    folder: Path, issuer: Issuer, users: dict[str, dict[str, float]], **settings: str
) -> Iterator[TeamServer]:
    """The team's server; `settings` adds (or overrides) environment variables."""
    users_file = folder / "team.toml"
    tokens = {name: add_user(users_file, name, **limits) for name, limits in users.items()}
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    environment.update(
        {
            "VEO_MCP_DATA_DIR": str(folder / "data"),
            "VEO_MCP_OUTPUT_DIR": str(folder / "out"),
            # As by default (the home folder): the data, the videos and the operator's own pictures all inside it.
            "VEO_MCP_IMAGE_DIRS": str(folder),
            "VEO_MCP_USERS_FILE": str(users_file),
            "VEO_MCP_HTTP_TOKEN": LOCAL_TOKEN,
            "VEO_MCP_OAUTH_ISSUER": issuer.url,
            "VEO_MCP_OAUTH_AUDIENCE": AUDIENCE,
            "VEO_MCP_SIMULATOR_SPEED": "60",
            "VEO_MCP_POLL_MIN": "0.05",
            "VEO_MCP_POLL_MAX": "0.2",
            **settings,
        }
    )
    with serving_http(environment, simulate=True, timeout_s=30) as served:
        accepted = "VEO_MCP_HTTP_TOKEN or a users-file token or an OAuth access token"
        assert f"clients must send 'Authorization: Bearer <{accepted}>'" in served.lines[-1]
        yield TeamServer(served.url, users_file, folder / "out", served.process, served.stderr, tokens)


@asynccontextmanager
async def client_of(url: str, token: str | None, **options: Any) -> AsyncIterator[Client]:
    """An MCP client session over streamable HTTP sending `Authorization: Bearer <token>`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    mode = options.pop("mode", current_era())
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **options) as client,
    ):
        yield client


def notifications_into(found: list[types.ServerNotification | Exception]) -> dict[str, Any]:
    async def on_message(message: types.ServerNotification | Exception) -> None:
        found.append(message)

    return {"message_handler": on_message}
