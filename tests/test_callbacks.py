"""Callbacks instead of polling: the simulator calls back as the API doc §6 says, the server takes a callback only
as a hint, and with a public URL over HTTP generations finish with at most two status GETs each."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from mcp.client import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers import (
    TEST_KEY,
    SimulatorProcess,
    current_era,
    finish,
    make_client,
    no_dns,
    service_settings,
    text_of,
)
from veo_mcp.app import App
from veo_mcp.background.callbacks import CALLBACK_PATH, SAFETY_INTERVAL_S
from veo_mcp.evolink import EvoLinkClient, catalog, parse_video_request
from veo_mcp.mcp.callbacks import MAX_BODY_BYTES, with_callbacks
from veo_mcp.mcp.server import create_server
from veo_mcp.settings import SettingsError, load_settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Fault, Simulator, SimulatorConfig, SimulatorTransport
from veo_mcp.simulator.callbacks import CallbackSender

HOOK = "https://hooks.example/video-done"


class Receiver:
    """A webhook receiver (an ASGI app the simulator reaches through the transport seam) that fails `failures`
    times before answering 200, and keeps every body it was sent."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/video-done", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        self.bodies.append(await request.json())
        if len(self.bodies) <= self.failures:
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"ok": True})


@asynccontextmanager
async def calling_back(receiver: Receiver, **config: Any) -> AsyncIterator[Simulator]:
    simulator = Simulator(SimulatorConfig(speed=100, allow_private_callbacks=True, **config))
    simulator.callbacks = CallbackSender(simulator.service, transport=httpx.ASGITransport(app=receiver.app))
    async with anyio.create_task_group() as group:
        group.start_soon(simulator.callbacks.run)
        yield simulator
        group.cancel_scope.cancel()


async def _create(simulator: Simulator, **extra: Any) -> str:
    async with make_client(simulator) as client:
        task = await client.create_generation(parse_video_request({"prompt": "a kite", "callback_url": HOOK, **extra}))
    return task.id


async def _until(condition: Any, timeout_s: float = 10.0) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110 - the simulator delivers in its own task
            await anyio.sleep(0.01)


async def test_the_simulator_posts_the_task_object_and_retries_after_1_2_and_4_seconds() -> None:
    receiver = Receiver(failures=2)
    async with calling_back(receiver) as simulator:
        task_id = await _create(simulator)
        simulator.service.clock.advance(3600)  # the render ends now, in simulated time
        await _until(lambda: simulator.service.tasks[task_id].callback_delivered)
        started = simulator.service.clock.now()
    assert len(receiver.bodies) == 3 and simulator.service.requests["callback"] == 3
    body = receiver.bodies[-1]
    assert body["id"] == task_id and body["status"] == "completed" and body["object"] == "video.generation.task"
    assert body["results"][0].startswith(IN_PROCESS_BASE_URL)  # the same task object GET /v1/tasks/{id} gives
    assert started >= 3600 + 1 + 2  # the retries waited 1 s and 2 s of simulated time
    ledger = simulator.service.ledger()["tasks"][0]
    assert ledger["callback_attempts"] == 3 and ledger["callback_delivered"]


async def test_a_failed_task_is_called_back_and_delivery_gives_up_after_three_retries() -> None:
    receiver = Receiver(failures=100)
    fault = Fault(kind="fail_task", endpoint="create", error_code="content_policy_violation")
    async with calling_back(receiver, faults=[fault]) as simulator:
        task_id = await _create(simulator)
        simulator.service.clock.advance(3600)
        await _until(lambda: simulator.service.requests["callback"] and task_id not in simulator.callbacks.delivering)
    assert len(receiver.bodies) == 4 and {body["status"] for body in receiver.bodies} == {"failed"}
    assert receiver.bodies[0]["error"]["code"] == "content_policy_violation"
    assert not simulator.service.tasks[task_id].callback_delivered


@pytest.mark.parametrize("allowed", [False, True], ids=["like-evolink", "allow-private-callbacks"])
async def test_the_simulator_refuses_callbacks_real_evolink_refuses_unless_allowed_to_call_this_machine(
    allowed: bool,
) -> None:
    """Like EvoLink, internal addresses are refused; `--allow-private-callbacks` (what this project's own callback
    tests use) lets a loopback receiver on this machine be called back."""
    simulator = Simulator(SimulatorConfig(allow_private_callbacks=allowed))
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(simulator),
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ) as raw_http:
        internal = await raw_http.post(
            "/v1/videos/generations", json={"prompt": "x", "callback_url": "https://10.0.0.8/h"}
        )
        plain = await raw_http.post(
            "/v1/videos/generations", json={"prompt": "x", "callback_url": "http://hooks.example/h"}
        )
        local = await raw_http.post(
            "/v1/videos/generations", json={"prompt": "x", "callback_url": "http://127.0.0.1:9/h"}
        )
        loopback_https = await raw_http.post(
            "/v1/videos/generations", json={"prompt": "x", "callback_url": "https://127.0.0.1/hook"}
        )
    assert internal.status_code == 400 and internal.json()["error"]["param"] == "callback_url"
    assert plain.status_code == 400 and "https" in plain.json()["error"]["message"]
    if allowed:
        assert local.status_code == 200 and loopback_https.status_code == 200
        assert simulator.task(local.json()["id"]).request.callback_url == "http://127.0.0.1:9/h"
    else:
        for refused in (local, loopback_https):
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "callback_url"
        assert simulator.service.tasks == {}


def test_a_loopback_public_url_needs_the_simulator() -> None:
    with pytest.raises(SettingsError, match=r"VEO_MCP_PUBLIC_URL.*simulator"):
        load_settings(public_url="http://127.0.0.1:8000", simulate=None)
    with pytest.raises(SettingsError, match="internal"):
        load_settings(public_url="https://192.168.1.20", simulate=True)
    assert load_settings(public_url="http://127.0.0.1:8000/", simulate=True).public_url == "http://127.0.0.1:8000"
    assert load_settings(public_url="https://veo.example.com").public_url == "https://veo.example.com"


# --- the server's side ---------------------------------------------------------------------------------------------


async def test_a_callback_is_only_a_hint_the_task_is_fetched_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = Simulator(
        SimulatorConfig(speed=1, allow_private_callbacks=True)
    )  # renders outlast the test unless the clock moves
    settings = service_settings(tmp_path, simulate=True, public_url="http://127.0.0.1:8765")
    app = App(settings, client=make_client(simulator), simulated=True, resolver=no_dns, serves_http=True)
    async with app.running():
        outcome = await app.parts.pipeline.generate(parse_video_request({"prompt": "hinted"}))
        task = simulator.task(outcome.generation.task_id)
        callback_url = task.request.callback_url or ""
        secret = callback_url.rsplit("/", 1)[-1]
        receiver = with_callbacks(_not_found, app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://s") as http:
            forged = await http.post(f"{CALLBACK_PATH}{secret}", json={"id": task.id, "status": "completed"})
            await _until(lambda: task.gets == 1)
            still = app.parts.registry.generations[task.id].status
            simulator.service.clock.advance(3600)
            real = await http.post(f"{CALLBACK_PATH}{secret}", json={})
            await _until(lambda: app.parts.registry.generations[task.id].status == "completed")
            caplog.set_level(logging.INFO, logger="veo_mcp")
            repeated = await http.post(f"{CALLBACK_PATH}{secret}", json={})  # EvoLink delivering it once more
            unknown = await http.post(f"{CALLBACK_PATH}{'x' * 43}", json={})
            wrong_method = await http.get(f"{CALLBACK_PATH}{secret}")
            other = await http.get("/mcp")
    assert callback_url == f"http://127.0.0.1:8765{CALLBACK_PATH}{secret}" and len(secret) >= 40
    assert outcome.generation.request.get("callback_url") is None  # ours: not the caller's request
    assert forged.status_code == 200 and still in ("pending", "processing")  # the body was not believed
    assert real.status_code == 200 and task.gets == 2  # one GET per callback, none in between
    # Once finished, a repeated delivery is acknowledged (EvoLink stops) but fetches nothing, and the log says so.
    assert repeated.status_code == 200
    assert f"callback for {task.id}, which is not being followed; ignored" in caplog.messages
    assert unknown.status_code == 404 and wrong_method.status_code == 405 and other.status_code == 404
    assert SAFETY_INTERVAL_S >= 60


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    await Response("not found", status_code=404)(scope, receive, send)


class HeldCreates(httpx.AsyncBaseTransport):
    """The simulator's transport, holding each create's answer until `release` is set: EvoLink has made the task
    (its callback URL is known there, and could be called) while this server is still sending the create."""

    def __init__(self, simulator: Simulator) -> None:
        self._inner = SimulatorTransport(simulator)
        self.made = anyio.Event()
        self.release = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == "POST" and request.url.path == catalog.CREATE_PATH:
            self.made.set()
            await self.release.wait()
        return response


def _callback_app(simulator: Simulator, tmp_path: Path, transport: httpx.AsyncBaseTransport | None = None) -> App:
    settings = service_settings(tmp_path, simulate=True, public_url="http://127.0.0.1:8765")
    client = (
        EvoLinkClient(
            api_key=TEST_KEY, base_url=IN_PROCESS_BASE_URL, files_base_url=IN_PROCESS_BASE_URL, transport=transport
        )
        if transport is not None
        else make_client(simulator)
    )
    return App(settings, client=client, simulated=True, resolver=no_dns, serves_http=True)


async def test_a_callback_for_a_create_still_being_sent_is_refused_so_evolink_retries(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=1, allow_private_callbacks=True))
    held = HeldCreates(simulator)
    app = _callback_app(simulator, tmp_path, held)
    sent = anyio.Event()

    async def generate() -> None:
        await app.parts.pipeline.generate(parse_video_request({"prompt": "called back too soon"}))
        sent.set()

    async with app.running(), anyio.create_task_group() as group:
        group.start_soon(generate)
        with anyio.fail_after(10):
            await held.made.wait()
        (task,) = simulator.service.tasks.values()
        path = urlsplit(task.request.callback_url or "").path
        receiver = with_callbacks(_not_found, app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://s") as http:
            early = await http.post(path, json={"id": task.id, "status": "processing"})
            held.release.set()
            with anyio.fail_after(10):
                await sent.wait()  # the create's answer is recorded
            late = await http.post(path, json={"id": task.id, "status": "processing"})
            await _until(lambda: task.gets == 1)  # the accepted callback makes the server ask EvoLink, once
    # Not 2xx: EvoLink retries a callback that was not taken (after 1, 2 and 4 s), and by then the task is known.
    assert early.status_code == 503 and early.json()["message"] == "early"
    assert late.status_code == 200 and task.gets == 1


async def test_a_callback_body_over_the_size_cap_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(speed=1, allow_private_callbacks=True))
    app = _callback_app(simulator, tmp_path)
    async with app.running():
        outcome = await app.parts.pipeline.generate(parse_video_request({"prompt": "a large callback"}))
        task = simulator.task(outcome.generation.task_id)
        path = urlsplit(task.request.callback_url or "").path
        pulled: list[int] = []

        async def body(size: int) -> AsyncIterator[bytes]:
            """`size` bytes in 64 KiB pieces, counting what the receiver pulled."""
            for start in range(0, size, 64 * 1024):
                pulled.append(start)
                yield b"x" * min(64 * 1024, size - start)

        receiver = with_callbacks(_not_found, app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://s") as http:
            at_the_cap = await http.post(path, content=body(MAX_BODY_BYTES))
            await _until(lambda: task.gets == 1)  # taken: the server asks EvoLink about the task
            pulled.clear()
            over = await http.post(path, content=body(MAX_BODY_BYTES + 1))
            over_pulled = len(pulled)
            pulled.clear()
            huge = await http.post(path, content=body(64 * MAX_BODY_BYTES))
    assert at_the_cap.status_code == 200
    assert over.status_code == 413 and "too large" in over.json()["message"] and over_pulled == 5
    assert huge.status_code == 413 and len(pulled) <= MAX_BODY_BYTES // (64 * 1024) + 1  # never read to the end


# --- end to end: processes ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving_with_callbacks(
    tmp_path: Path, simulator: SimulatorProcess, port: int | None = None, **settings: str
) -> Iterator[str]:
    """`veo-mcp serve --transport streamable-http` whose public URL is its own loopback address (`port`: the same
    one again, as a restarted server behind one address has); its MCP URL. Ended with SIGKILL."""
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "EVOLINK_API_KEY": TEST_KEY,
            "EVOLINK_BASE_URL": simulator.base_url,
            "VEO_MCP_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "VEO_MCP_DATA_DIR": str(tmp_path / "data"),
            "VEO_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
            "VEO_MCP_POLL_MIN": "0.1",  # without callbacks, these tasks would be asked about every 0.1-0.5 s
            "VEO_MCP_POLL_MAX": "0.5",
            **settings,
        }
    )
    command = [sys.executable, "-m", "veo_mcp", "serve", "--transport", "streamable-http", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.poll() is None, "the server exited"
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.kill()
        server.wait(timeout=10)


async def test_with_a_public_url_three_generations_finish_with_at_most_two_gets_each(tmp_path: Path) -> None:
    simulator = SimulatorProcess(speed=40, api_key=TEST_KEY, allow_private_callbacks=True)
    try:
        with serving_with_callbacks(tmp_path, simulator) as url:
            async with Client(url, mode="legacy") as client:
                created = [
                    (await client.call_tool("generate_video", {"prompt": f"called back {n}"})).structured_content or {}
                    for n in range(3)
                ]
                states = [await finish(client, c["task_id"], timeout_s=20, rounds=3) for c in created]
        ledger = simulator.ledger()
    finally:
        simulator.stop()
    assert [state["status"] for state in states] == ["completed"] * 3
    tasks = {task["id"]: task for task in ledger["tasks"]}
    assert len(tasks) == 3 and all(task["callback_delivered"] for task in tasks.values())
    assert all(1 <= task["gets"] <= 2 for task in tasks.values()), [t["gets"] for t in tasks.values()]
    assert ledger["requests"]["callback"] == 3 and ledger["requests"]["get"] <= 6


async def _batch_until(client: Client, batch_id: str, done: Any, simulator: SimulatorProcess | None = None) -> Any:
    """get_batch until `done(state)`; with `simulator`, its clock is moved on while an item renders (bounded)."""
    with anyio.fail_after(30):
        while True:
            state = (await client.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
            if done(state):
                return state
            if simulator is not None and any(i["status"] in ("pending", "processing") for i in state["items"]):
                simulator.advance(3600)
            await anyio.sleep(0.05)


async def test_a_batch_create_in_flight_at_sigkill_counts_as_running_until_its_callback_joins_it(
    tmp_path: Path,
) -> None:
    """A server is SIGKILLed while EvoLink holds back the answer to its batch's first create (the task exists and is
    billed). Restarted at the same address with two slots, it counts that unknown create as running: one more item
    is sent, the third waits. When the task ends, EvoLink's callback - carrying that create's own secret - joins the
    create to its task: the item is created, its video saved under its prompt, and nothing was sent twice."""
    simulator = SimulatorProcess(speed=1, api_key=TEST_KEY, allow_private_callbacks=True)  # renders wait for the clock
    simulator.fault(kind="delay", endpoint="create", seconds=3600, after_accept=True, on_clock=True)
    port, slots = _free_port(), {"VEO_MCP_MAX_CONCURRENT": "2"}
    items = {"items": [{"prompt": f"take {n} of three", "duration": 4} for n in range(3)], "confirm_cost": True}
    try:
        with serving_with_callbacks(tmp_path, simulator, port, **slots) as url:
            async with Client(url, mode="legacy") as client:
                batch_id = ((await client.call_tool("generate_batch", items)).structured_content or {})["batch_id"]
            with anyio.fail_after(30):
                while not simulator.ledger()["tasks"]:  # noqa: ASYNC110 - accepted upstream, its answer held
                    await anyio.sleep(0.05)
        with serving_with_callbacks(tmp_path, simulator, port, **slots) as url:
            async with Client(url, mode="legacy") as client:
                # The second create reached EvoLink and the third waits (nothing ends before the clock moves).
                waiting = await _batch_until(
                    client,
                    batch_id,
                    lambda s: "free slot" in (s["queue"] or "") and simulator.ledger()["requests"]["create"] >= 2,
                )
                sent_while_waiting = simulator.ledger()["requests"]["create"]
                final = await _batch_until(client, batch_id, lambda s: s["finished"], simulator)
                first = final["items"][0]["task_id"]
                joined = (await client.call_tool("get_generation", {"task_id": first})).structured_content or {}
        ledger = simulator.ledger()
    finally:
        simulator.stop()
    assert [item["status"] for item in waiting["items"]][::2] == ["outcome_unknown", "queued"]
    assert sent_while_waiting == 2  # the unknown one and one more: never three at once on two slots
    assert [item["status"] for item in final["items"]] == ["completed"] * 3
    assert first == ledger["tasks"][0]["id"]  # the task of the create in flight at the kill, not a new one
    assert (joined["prompt"], joined["download_status"]) == ("take 0 of three", "saved") and joined["request_id"]
    assert "take-0-of-three" in Path(joined["files"][0]["path"]).name
    assert ledger["requests"]["create"] == 3 and len(ledger["tasks"]) == 3


@pytest.mark.usefixtures("era")
async def test_a_callback_joins_the_task_of_a_create_whose_answer_was_lost_and_nothing_else(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A create whose answer never arrived (the connection dropped after EvoLink accepted it) is not resent; its
    callback names the task, which is asked about once and recorded as that create's, with a note saying so. A
    callback naming a task EvoLink does not give, or one the create could not have made, joins nothing."""
    simulator = Simulator(SimulatorConfig(speed=1, allow_private_callbacks=True))
    simulator.faults.add(Fault(kind="drop_after_accept", endpoint="create"))
    app = _callback_app(simulator, tmp_path)
    caplog.set_level(logging.INFO, logger="veo_mcp")
    async with app.running(), Client(create_server(app), mode=current_era()) as client:
        lost = await client.call_tool("generate_video", {"prompt": "a create whose answer was lost"})
        (task,) = simulator.service.tasks.values()
        async with make_client(simulator) as elsewhere:  # a task of the account this create could not have made
            other_task = await elsewhere.create_generation(
                parse_video_request({"prompt": "elsewhere", "model": "veo3.1-pro"})
            )
        path = urlsplit(task.request.callback_url or "").path
        receiver = with_callbacks(_not_found, app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://s") as http:
            unknown = await http.post(path, json={"id": "task-unified-1700000000-nosuchtk"})
            mismatched = await http.post(path, json={"id": other_task.id})  # another create's task
            joined = await http.post(path, json={"id": task.id, "status": "processing"})
        state = (await client.call_tool("get_generation", {"task_id": task.id})).structured_content or {}
    assert lost.is_error and "Do not resend it blindly" in text_of(lost)
    assert simulator.service.requests["create"] == 2  # the lost one was not resent
    assert (unknown.status_code, mismatched.status_code, joined.status_code) == (404, 404, 200)
    assert state["prompt"] == "a create whose answer was lost" and state["task_id"] == task.id
    assert state["notes"][0] == (
        "EvoLink's answer to this create was never recorded (veo-mcp stopped or could not write it); the task was "
        "matched to the create later, and its request_id answers with it."
    )
    assert (
        caplog.messages.count(f"a callback named task {other_task.id}, which its create could not have made; ignored")
        == 1
    )
    assert any(
        m.startswith("a callback named task task-unified-1700000000-nosuchtk, which EvoLink does not give: ")
        for m in caplog.messages
    )
    joined_lines = [m for m in caplog.messages if m.startswith(f"task {task.id} answers the create sent at ")]
    assert len(joined_lines) == 1 and joined_lines[0].endswith("; joined by its callback")
    assert task.gets == 1  # asked about once, by the callback that joined it
