"""`veo-mcp simulator`: the simulator on a loopback port, its base URL on the first line of stdout."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import Iterator
from types import FrameType

import anyio
import uvicorn
from pydantic import ValidationError

from veo_mcp.simulator.app import Simulator
from veo_mcp.simulator.engine import SimulatorConfig


class _StopsOnSignals(uvicorn.Server):
    """uvicorn that stops on SIGINT/SIGTERM without raising the signal again once shut down: uvicorn re-raises it
    wherever the interpreter happens to be then (once, inside a lock's release: "cannot release un-acquired lock",
    exit 1). The command raises Ctrl-C's KeyboardInterrupt itself, at a clean point (exit 130; SIGTERM exits 0)."""

    received: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {stop: signal.signal(stop, self._on_signal) for stop in stops}
        try:
            yield
        finally:
            for stop, handler in previous.items():
                signal.signal(stop, handler)

    def _on_signal(self, received: int, frame: FrameType | None) -> None:
        self.received = self.received or received
        self.handle_exit(received, frame)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, a keep-alive client waits ~40 ms (Nagle + delayed ACK) for
    # every answer whose head and body go out in separate writes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def base_url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float = 1.0,
    api_key: str | None = None,
    link_ttl_s: float | None = None,
    balance_usd: float | None = None,
    result_bytes: int | None = None,
    max_active_tasks: int | None = None,
    allow_private_callbacks: bool = False,
) -> None:
    try:
        config = SimulatorConfig(
            speed=speed,
            allow_private_callbacks=allow_private_callbacks,
            api_key=api_key,
            balance_usd=balance_usd,
            result_bytes=result_bytes,
            max_active_tasks=max_active_tasks,
        )
    except ValidationError as error:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in error.errors())
        print(f"veo-mcp simulator: {problems}.", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    if link_ttl_s is not None:
        config = config.model_copy(update={"link_ttl_s": link_ttl_s})
    simulator = Simulator(config)
    try:
        sock = bind_socket(host, port)
    except OSError as error:
        print(
            f"veo-mcp simulator: cannot listen on {host}:{port}: {error.strerror or error}; use another --port.",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1) from None
    print(base_url_of(sock, host), flush=True)
    print(
        f"EvoLink simulator: speed ×{speed:g}"
        + (f", at most {max_active_tasks} active tasks" if max_active_tasks else "")
        + ", ledger at /_sim/ledger, faults at /_sim/faults. Ctrl-C to stop.",
        file=sys.stderr,
        flush=True,
    )
    # The lifespan runs the callback deliveries. Ctrl-C reaches the command line as KeyboardInterrupt, which says
    # "stopped" and exits 130 like every command.
    server = _StopsOnSignals(uvicorn.Config(simulator.app, log_level="warning", lifespan="on"))
    anyio.run(lambda: server.serve(sockets=[sock]))
    if server.received == signal.SIGINT:
        raise KeyboardInterrupt
