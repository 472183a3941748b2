"""Serving MCP over stdio with a stdin that Ctrl-C can interrupt.

Why: the SDK's stdio transport reads stdin in a worker thread that cannot be abandoned, so on Ctrl-C in a terminal
the server waits for that read to return - until Enter is pressed. Here stdin is read only when the event loop says
it is readable (a pipe or a terminal), so cancelling the server cancels the read at once and the server shuts down
cleanly (the store closed, the exit code 130). While serving, fd 0 points at the null device, as the SDK does, so
nothing the server starts can read the protocol's bytes. Where the loop cannot watch stdin (a regular file, Windows),
the SDK's own reader is used.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

from veo_mcp.mcp.sdk_seams import run_on_streams

_CHUNK = 65536


class _Lines:
    """The lines of a file descriptor, read when it is readable (never blocking the loop or a thread)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self._ended = False

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        while b"\n" not in self._pending:
            if self._ended:
                if not self._pending:
                    raise StopAsyncIteration
                line, self._pending = self._pending, b""
                return line.decode("utf-8", errors="replace")
            await anyio.wait_readable(self._fd)
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                continue
            self._ended = not chunk
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode("utf-8", errors="replace") + "\n"


def _watchable(fd: int) -> bool:
    """Whether the event loop can wait for `fd` to be readable (pipes, sockets and terminals on POSIX)."""
    if sys.platform == "win32":
        return False
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


@asynccontextmanager
async def _claimed_stdin() -> AsyncIterator[_Lines]:
    """The protocol's stdin on a private descriptor; fd 0 points at the null device until the server ends."""
    private = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        yield _Lines(private)
    finally:
        os.dup2(private, 0)
        os.close(private)


async def serve_stdio(server: MCPServer) -> None:
    """Serve `server` over this process's stdin and stdout until stdin ends or the server is cancelled (Ctrl-C)."""
    if not _watchable(0):
        await server.run_stdio_async()
        return
    async with _claimed_stdin() as lines, stdio_server(stdin=cast(Any, lines)) as (read_stream, write_stream):
        await run_on_streams(server, read_stream, write_stream)
