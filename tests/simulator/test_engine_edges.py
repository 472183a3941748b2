"""The simulator at its edges, where a product test would pass on a wrong answer: the concurrency limit at exactly the
limit, the progress a task shows on its first moment of processing and when it stalls at the very end, what a
processing task says it can do, the pace of a throttled download, a read timeout that names its request, and the
methods each of its routes answers.

The simulator runs at a crawl (speed 1e-6): simulated time moves only when a test advances it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import anyio
import httpx
import pytest

from tests.simulator.test_http_face import _http, _simulator
from veo_mcp.evolink import catalog
from veo_mcp.evolink.schemas import parse_video_request
from veo_mcp.simulator import IN_PROCESS_BASE_URL
from veo_mcp.simulator import app as simulator_app

CREATE = {"prompt": "a kite", "generate_audio": False}


async def test_the_concurrency_limit_admits_exactly_the_limit() -> None:
    simulator = _simulator(max_active_tasks=2)
    async with _http(simulator) as http:
        answers = [await http.post("/v1/videos/generations", json=CREATE) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["message"] == "Concurrency limit of 2 active tasks reached"
    assert answers[2].headers["retry-after"] == "10"


async def test_a_task_shows_one_percent_on_its_first_moment_of_processing_and_can_still_be_cancelled() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        created = (await http.post("/v1/videos/generations", json=CREATE)).json()
        task = simulator.service.task(created["id"])
        assert task is not None
        pending = (await http.get(f"/v1/tasks/{task.id}")).json()
        assert (pending["status"], pending["progress"], pending["task_info"]["can_cancel"]) == ("pending", 0, True)
        # Just past the pending phase: less than 1 % of the run is done, and it shows as 1 (never 0 while processing).
        run = task.total_s - task.pending_s
        simulator.service.clock.advance(
            task.pending_s + run * 0.001 - (simulator.service.clock.now() - task.started_at)
        )
        started = (await http.get(f"/v1/tasks/{task.id}")).json()
        assert (started["status"], started["progress"], started["task_info"]["can_cancel"]) == ("processing", 1, True)
        simulator.service.clock.advance(run * 0.5)
        halfway = (await http.get(f"/v1/tasks/{task.id}")).json()
        assert (halfway["status"], halfway["progress"]) == ("processing", 50)
        simulator.service.clock.advance(3600)
        done = (await http.get(f"/v1/tasks/{task.id}")).json()
        assert (done["status"], done["progress"], done["task_info"]["can_cancel"]) == ("completed", 100, False)


async def test_a_task_that_stalls_at_the_very_end_shows_99_and_never_completes() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        await http.post("/_sim/faults", json={"kind": "stall", "fraction": 1.0})
        created = (await http.post("/v1/videos/generations", json=CREATE)).json()
        simulator.service.clock.advance(36_000)
        stalled = (await http.get(f"/v1/tasks/{created['id']}")).json()
    assert (stalled["status"], stalled["progress"]) == ("processing", 99)
    assert "results" not in stalled


async def test_a_throttled_download_is_paced_from_its_first_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """100 bytes a second in tenth-of-a-second slices: each slice waits until its last byte is due, no earlier."""
    now = [1000.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 9))
        now[0] += seconds

    # The simulator module's own view of anyio, not anyio itself: nothing else in this process is affected.
    monkeypatch.setattr(simulator_app, "anyio", SimpleNamespace(current_time=lambda: now[0], sleep=sleep))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * 25
        yield b"y" * 5

    pieces = [piece async for piece in simulator_app._throttled(chunks(), 100)]
    assert pieces == [b"x" * 10, b"x" * 10, b"x" * 5, b"y" * 5]
    assert waits == [0.1, 0.1, 0.05, 0.05]
    assert now[0] == pytest.approx(1000.3)


async def test_a_read_timeout_names_the_request_it_ended() -> None:
    simulator = _simulator()
    async with _http(simulator) as http:
        await http.post("/_sim/faults", json={"kind": "delay", "endpoint": "get", "seconds": 30})
        with anyio.fail_after(10), pytest.raises(httpx.ReadTimeout, match="did not answer in time") as raised:
            await http.get("/v1/tasks/task-unknown", timeout=httpx.Timeout(5.0, read=0.05))
    assert str(raised.value.request.url) == f"{IN_PROCESS_BASE_URL}/v1/tasks/task-unknown"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/u/file-1/kite.png", "GET, HEAD"),
        ("DELETE", "/u/file-1/kite.png", "GET, HEAD"),
        ("POST", "/_sim/ledger", "GET, HEAD"),
        ("PUT", "/_sim/faults", "DELETE, GET, HEAD, POST"),
    ],
)
async def test_each_route_answers_only_its_methods(method: str, path: str, allowed: str) -> None:
    async with _http(_simulator()) as http:
        answer = await http.request(method, path)
    assert answer.status_code == 405
    assert ", ".join(sorted(answer.headers["allow"].split(", "))) == allowed


def test_the_simulated_pending_phase_is_the_catalogs_fraction_of_the_run() -> None:
    simulator = _simulator()
    task = simulator.service.create(parse_video_request({"prompt": "a kite"}))
    assert task.pending_s == pytest.approx(task.total_s * catalog.SIM_PENDING_FRACTION)
