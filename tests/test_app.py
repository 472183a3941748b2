"""What `App` builds from the settings alone, in this process: the embedded simulator (`--simulate`) with its account
in the data folder, a `veo-mcp simulator` elsewhere, or EvoLink with the user's key (the other tests hand `App` a
ready client, so this is where the choice itself is tested)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from mcp.client import Client
from pydantic import SecretStr

from tests.helpers import call_ok, current_era, service_settings
from veo_mcp.app import App, simulated_folder
from veo_mcp.errors import NotConfiguredError
from veo_mcp.evolink import catalog
from veo_mcp.mcp.server import create_server
from veo_mcp.simulator import Fault


async def _generate(app: App, prompt: str, *, wait: bool = True) -> dict[str, Any]:
    async with app.running(), Client(create_server(app), mode=current_era()) as client:
        created = await call_ok(client, "generate_video", prompt=prompt)
        if not wait:
            return created
        return await call_ok(client, "wait_for_generation", task_id=created["task_id"], timeout_seconds=40)


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_simulate_runs_the_embedded_simulator_at_its_speed_with_its_account_in_the_data_folder(
    tmp_path: Path,
) -> None:
    settings = service_settings(tmp_path, simulate=True, simulator_speed=400)
    first = App(settings)
    assert first.simulated and first.database_path == settings.data_dir / "simulated" / "veo-mcp.sqlite3"
    assert simulated_folder(settings) == settings.data_dir / "simulated"
    done = await _generate(first, "a lighthouse at dusk")
    assert done["status"] == "completed" and done["download_status"] == "saved", done
    assert Path(done["files"][0]["path"]).read_bytes()[4:8] == b"ftyp"
    # Another process on the same data folder: the same simulated account, so the same task is known upstream.
    second = App(settings)
    async with second.running():
        task = await second.client.get_task(done["task_id"])
    assert task.status == "completed"


async def test_an_embedded_simulator_accepts_this_servers_own_loopback_callback_address(tmp_path: Path) -> None:
    """Over HTTP with a loopback VEO_MCP_PUBLIC_URL, creates carry a callback to this machine: EvoLink would refuse
    it, the embedded simulator takes it (this server is the only one it can call back)."""
    port = _free_loopback_port()
    settings = service_settings(tmp_path, simulate=True, simulator_speed=400, public_url=f"http://127.0.0.1:{port}")
    app = App(settings, serves_http=True)
    assert app.callback_base == f"http://127.0.0.1:{port}"
    created = await _generate(app, "a paper plane", wait=False)  # refused, were the address taken for EvoLink's
    assert created["task_id"].startswith("task-")


def test_simulate_with_a_simulator_elsewhere_uses_its_address_and_any_key(tmp_path: Path) -> None:
    elsewhere = "http://127.0.0.1:9"
    settings = service_settings(tmp_path, simulate=True, base_url=elsewhere, files_base_url=elsewhere)
    app = App(settings)
    assert app.simulated and app.configured and app.database_path == settings.database
    client = app.client
    assert str(client._api.base_url).rstrip("/") == elsewhere
    assert client._api.headers["authorization"] == "Bearer simulated"  # that simulator takes any non-empty key
    keyed = App(service_settings(tmp_path, simulate=True, base_url=elsewhere, api_key=SecretStr("sk-own-key-1234")))
    assert keyed.client._api.headers["authorization"] == "Bearer sk-own-key-1234"


def test_evolink_gets_the_users_key_and_settings_and_no_key_means_no_upstream(tmp_path: Path) -> None:
    settings = service_settings(
        tmp_path,
        api_key=SecretStr("sk-real-key-5678"),
        connect_timeout_s=3.5,
        request_timeout_s=12.0,
        get_retry_attempts=7,
        download_timeout_s=45.0,
    )
    app = App(settings)
    assert not app.simulated and app.database_path == settings.database
    client = app.client
    assert str(client._api.base_url).rstrip("/") == catalog.DEFAULT_BASE_URL.rstrip("/")
    assert client._api.headers["authorization"] == "Bearer sk-real-key-5678"
    assert client._api.timeout.connect == 3.5 and client._api.timeout.read == 12.0
    assert client._get_attempts == 7
    assert client._results._timeouts == (3.5, 45.0)  # type: ignore[union-attr]  # result links: their own read timeout
    keyless = App(service_settings(tmp_path))
    assert not keyless.configured
    with pytest.raises(NotConfiguredError):  # a server without a key says so (a store-only reader is asked for)
        _ = keyless.parts


async def test_every_request_to_the_embedded_simulator_is_told_to_the_upstream_observers(tmp_path: Path) -> None:
    """What the metrics count: each request by its operation, and the kind of each failure."""
    app = App(service_settings(tmp_path, simulate=True, simulator_speed=400))
    seen: list[tuple[str, str | None]] = []
    app.upstream_observers.append(lambda operation, kind: seen.append((operation, kind)))
    _ = app.client  # builds the embedded simulator, which the app keeps
    [simulator] = app._upstream.simulators  # type: ignore[union-attr]
    simulator.faults.add(Fault(kind="status", endpoint="get", status=503, count=1))
    done = await _generate(app, "a counted kite")
    assert done["status"] == "completed"
    assert seen[0] == ("create", None)
    assert ("get", "temporary") in seen and ("get", None) in seen and ("download", None) in seen


async def test_the_embedded_simulator_calls_back_a_server_reached_over_http_and_not_one_on_stdio(
    tmp_path: Path,
) -> None:
    """Over HTTP with a public URL, the embedded simulator calls the server back as EvoLink would (its callback
    sender runs with the app); a server on stdio (the default) gives no callback address, whatever the settings say."""
    calls: list[tuple[bytes, dict[str, Any]]] = []
    called = anyio.Event()

    async def answer(stream: SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: (\d+)", head)
        while length is not None and len(body) < int(length[1]):
            body += await stream.receive()
        calls.append((head.split(b" ")[1], json.loads(body)))
        await stream.send(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await stream.aclose()
        called.set()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    public_url = f"http://127.0.0.1:{listener.extra(SocketAttribute.local_port)}"  # noqa: S610 - anyio, not Django
    settings = service_settings(tmp_path, simulate=True, simulator_speed=400, public_url=public_url)
    assert App(settings).callback_base is None  # stdio: nothing to call back
    app = App(settings, serves_http=True)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, answer)
        async with app.running(), Client(create_server(app), mode=current_era()) as client:
            created = await call_ok(client, "generate_video", prompt="a kite called back")
            with anyio.fail_after(30):
                await called.wait()
        group.cancel_scope.cancel()
    [(path, body)] = calls
    assert path.startswith(b"/callbacks/evolink/") and (body["id"], body["status"]) == (created["task_id"], "completed")


def test_the_users_file_keeps_its_last_good_users_for_the_grace_the_settings_give(tmp_path: Path) -> None:
    """VEO_MCP_USERS_FILE_GRACE: how long a broken users file still lets its last good users in (then nobody)."""
    from tests.mcp.team_server import add_user

    users = tmp_path / "team.toml"
    add_user(users, "alice")
    app = App(service_settings(tmp_path, users_file=users, users_file_grace_s=7.5))
    assert app.users is not None and app.users.grace_s == 7.5
