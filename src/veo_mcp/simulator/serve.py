"""`veo-mcp simulator`: the simulator on a loopback port, its base URL on the first line of stdout."""

from __future__ import annotations

import socket
import sys

import anyio
import uvicorn
from pydantic import ValidationError

from veo_mcp.simulator.app import Simulator
from veo_mcp.simulator.engine import SimulatorConfig


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
    # The lifespan runs the callback deliveries. uvicorn stops on Ctrl-C and then raises it again: it reaches the
    # command line, which says "stopped" and exits 130 like every command.
    server = uvicorn.Server(uvicorn.Config(simulator.app, log_level="warning", lifespan="on"))
    anyio.run(lambda: server.serve(sockets=[sock]))
