"""The real `veo-mcp serve --transport streamable-http --simulate` in a subprocess, for the team features."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
from mcp.client import Client

from tests.helpers import LineReader, serving_http

LINK_SECRET = "link-secret-for-tests-" + "k" * 40
FAST = {
    "VEO_MCP_SIMULATOR_SPEED": "600",
    "VEO_MCP_POLL_MIN": "0.1",
    "VEO_MCP_POLL_MAX": "0.3",
    "VEO_MCP_CONFIRM_ABOVE": "100",
}


@dataclass
class Served:
    mcp_url: str
    base: str
    output_dir: Path
    process: subprocess.Popen[str]
    stderr: LineReader
    lines: list[str] = field(default_factory=list)

    def drain(self, timeout_s: float = 10.0) -> list[str]:
        """Every stderr line up to the end of the stream (call after stopping the process)."""
        deadline = time.monotonic() + timeout_s
        while (line := self.stderr.next_line(deadline)) is not None:
            self.lines.append(line)
        return self.lines


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(tmp_path: Path, port: int = 0, **env: str) -> Iterator[Served]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_", "AWS_"))}
    output_dir = tmp_path / "out"
    environment.update({"VEO_MCP_DATA_DIR": str(tmp_path / "data"), "VEO_MCP_OUTPUT_DIR": str(output_dir), **env})
    with serving_http(environment, simulate=True, port=port) as served:
        base = served.url.removesuffix("/mcp")
        yield Served(served.url, base, output_dir, served.process, served.stderr, served.lines)


async def generate_and_wait(mcp_url: str, prompt: str) -> tuple[str, dict[str, Any]]:
    """A generation made through a real streamable-HTTP MCP session, waited for until its video is saved."""
    async with Client(mcp_url) as client:
        created = await client.call_tool("generate_video", {"prompt": prompt, "duration": 4, "quality": "720p"})
        assert not created.is_error, created
        task_id = str((created.structured_content or {})["task_id"])
        for _ in range(60):
            waited = await client.call_tool("wait_for_generation", {"task_id": task_id, "timeout_seconds": 20})
            state = waited.structured_content or {}
            if state.get("files"):
                return task_id, state
            if state.get("finished"):
                await anyio.sleep(0.1)  # finished; the automatic save follows in a moment
        raise AssertionError(f"{task_id} was never saved: {state}")


async def call(mcp_url: str, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    async with Client(mcp_url) as client:
        return await client.call_tool(tool, arguments)


async def read_json_resource(mcp_url: str, uri: str) -> dict[str, Any]:
    async with Client(mcp_url) as client:
        read = await client.read_resource(uri)
    content = read.contents[0]
    assert isinstance(content, types.TextResourceContents)
    data: dict[str, Any] = json.loads(content.text)
    return data


def metric(text: str, name: str) -> float:
    """One sample's value from a Prometheus exposition (`name` with its labels, as printed); 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def http() -> httpx.Client:
    return httpx.Client(timeout=10)


@dataclass
class CountingUpstream:
    url: str
    reads: int = 0


@contextmanager
def counting_upstream() -> Iterator[CountingUpstream]:
    """A loopback HTTP server standing in for EvoLink's base URL that counts the requests it answers (200)."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    upstream = CountingUpstream(url=f"http://127.0.0.1:{listener.getsockname()[1]}")

    async def answer(request: Request) -> JSONResponse:
        upstream.reads += 1
        return JSONResponse({"status": "up"})

    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", answer)]), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
