"""Replicas through an operator's worst day (issue 25): a replica killed mid-batch, a create answered while the
database was out of reach, a cancel on the replica that is not polling. Real `veo-mcp serve` processes on one fresh
PostgreSQL schema, a simulator process that outlives them, and a TCP forwarder between one replica and the
database where its link must fail."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from tests.helpers import SimulatorProcess, text_of
from tests.mcp.task_client import TaskExtension, create_task, task_request
from tests.mcp.team_server import client_of
from tests.network import Forwarder
from tests.replicas.cluster import KEY, Replica, replica, replica_env, saved
from veo_mcp.storage import Store


async def _until(probe: Any, what: str, timeout_s: float = 30.0) -> Any:
    """`probe()` (sync) until it answers something true; fails the test after `timeout_s`."""
    with anyio.fail_after(timeout_s):
        while not (found := probe()):  # noqa: ASYNC110 - the simulator's ledger has no event to wait on
            await anyio.sleep(0.1)
    assert found, what
    return found


def _creates(simulator: SimulatorProcess) -> int:
    return int(simulator.ledger()["requests"]["create"])


async def test_a_killed_replicas_batch_queue_is_taken_over_unasked(
    database: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """Replica A runs a 12-item batch and its create-rate brake (5 a minute) holds it at 5/12; A is SIGKILLed.
    Nobody asks replica B anything, yet B takes the queue over and sends on until its own brake (8 a minute, A's
    five included) holds it. A third replica started then is told who runs the queue."""
    env = {
        # Slots for all twelve: only the create-rate brakes hold the queue, however slowly renders end here.
        name: replica_env(
            database,
            simulator.base_url,
            tmp_path,
            name,
            VEO_MCP_MAX_CREATES_PER_MINUTE=limit,
            VEO_MCP_MAX_CONCURRENT="12",
        )
        for name, limit in (("a", "5"), ("b", "8"), ("c", "8"))
    }
    items = {"items": [{"prompt": f"shot {n} of twelve", "duration": 4} for n in range(12)]}
    with replica(env["b"], "b") as b:
        with replica(env["a"], "a") as a:
            async with client_of(a.url, None, mode="legacy") as on_a:
                batch_id = ((await on_a.call_tool("generate_batch", items)).structured_content or {})["batch_id"]
                with anyio.fail_after(30):
                    while "MAX_CREATES_PER_MINUTE" not in str(  # noqa: ASYNC110 - until A's own brake holds it
                        (await on_a.call_tool("get_batch", {"batch_id": batch_id})).structured_content
                    ):
                        await anyio.sleep(0.1)
            assert _creates(simulator) == 5
            a.kill()
        await _until(lambda: _creates(simulator) == 8, "replica B to send the dead replica's queued items")
        async with client_of(b.url, None, mode="legacy") as on_b:
            with anyio.fail_after(30):  # until B's own brake holds it (an item being tried shows meanwhile)
                while "MAX_CREATES_PER_MINUTE" not in str(  # noqa: ASYNC110 - the batch has no event here
                    on_b_state := (await on_b.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
                ):
                    await anyio.sleep(0.1)
        with replica(env["c"], "c") as c:
            async with client_of(c.url, None, mode="legacy") as on_c:
                on_c_state = (await on_c.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
    created = [item["task_id"] for item in on_b_state["items"] if item["task_id"]]
    assert len(created) == len(set(created)) == 8 == _creates(simulator)  # nothing sent twice
    assert [item["status"] for item in on_b_state["items"]].count("queued") == 4
    assert "8 generations were started in the last 60 seconds" in on_b_state["queue"]  # B's own word: it runs it
    assert on_c_state["queue"].startswith("another veo-mcp replica runs this batch's queue")


async def test_a_create_answered_while_the_database_is_out_of_reach_keeps_its_record_on_every_replica(
    database: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """Replica A reaches PostgreSQL through a forwarder the test cuts while A's create is on the wire: EvoLink's
    answer comes, A cannot record it. Replica B is asked about the task first: it is the create's (prompt,
    request_id), never "(created outside this server)"; once A's link is back both replicas show that record and the
    video is saved once, under the prompt's name."""
    forwarder = Forwarder.to(database)
    env_a = replica_env(forwarder.url_for(database), simulator.base_url, tmp_path, "a")
    env_b = replica_env(database, simulator.base_url, tmp_path, "b")
    simulator.fault(kind="delay", endpoint="create", seconds=3600, after_accept=True, on_clock=True)
    asked = {"prompt": "a harbour crane at dawn", "duration": 4, "request_id": "harbour-7"}
    try:
        with replica(env_a, "a") as a, replica(env_b, "b") as b:
            async with client_of(a.url, None, mode="legacy") as on_a, client_of(b.url, None, mode="legacy") as on_b:
                answered: list[Any] = []
                async with anyio.create_task_group() as group:
                    group.start_soon(lambda: _answer_into(answered, on_a.call_tool("generate_video", asked)))
                    await _until(lambda: simulator.ledger()["tasks"], "EvoLink to make the task (its answer held)")
                    forwarder.cut()
                    simulator.advance(3600)  # the answer goes out; A cannot record it
                task_id = (answered[0].structured_content or {})["task_id"]
                first_on_b = (await on_b.call_tool("get_generation", {"task_id": task_id})).structured_content or {}
                forwarder.restore()
                on_b_saved = await saved(on_b, task_id)
                on_a_saved = await saved(on_a, task_id)
                listed = (await on_b.call_tool("list_generations", {})).structured_content or {}
    finally:
        forwarder.close()
    assert "could not record it" in text_of(answered[0])
    for state in (first_on_b, on_b_saved, on_a_saved):
        assert (state["prompt"], state["request_id"]) == (asked["prompt"], "harbour-7"), state
    assert [g["prompt"] for g in listed["generations"]] == [asked["prompt"]]
    assert [f["path"] for f in on_a_saved["files"]] == [f["path"] for f in on_b_saved["files"]]
    assert "harbour-crane" in Path(on_b_saved["files"][0]["path"]).name
    ledger = simulator.ledger()
    assert ledger["requests"]["create"] == 1 and ledger["requests"]["download"] == 1


async def _answer_into(found: list[Any], call: Any) -> None:
    found.append(await call)


async def test_a_cancel_on_the_replica_that_is_not_polling_binds_the_one_that_is(database: str, tmp_path: Path) -> None:
    """Replica A makes two generations and polls both (replica B starts once A holds both polls); one was made as an
    MCP task, which B cancels. A stops polling it at once, while it goes on polling the other (the positive
    control), and when both have rendered only the other is saved; the cancelled one stays unfollowed."""
    slow = SimulatorProcess(speed=1, api_key=KEY)  # renders wait for the test to move the clock
    try:
        env = {name: replica_env(database, slow.base_url, tmp_path, name) for name in ("a", "b")}
        with replica(env["a"], "a") as a:
            async with (
                client_of(a.url, None, mode="auto", extensions=[TaskExtension()]) as tasks_on_a,
                client_of(a.url, None, mode="legacy") as on_a,
            ):
                task = await create_task(tasks_on_a, {"prompt": "a lighthouse nobody wants any more", "duration": 4})
                kept = (await on_a.call_tool("generate_video", {"prompt": "a lighthouse"})).structured_content or {}
                await _until_async(lambda: _polled_by(database, a, 2), "replica A to poll both")
                with replica(env["b"], "b") as b:
                    async with client_of(b.url, None, mode="auto", extensions=[TaskExtension()]) as on_b:
                        before = await task_request(on_b, "tasks/get", {"taskId": task.task_id})
                        await task_request(on_b, "tasks/cancel", {"taskId": task.task_id})
                    at_cancel = _gets(slow)
                    dropped = next(t for t in at_cancel if t != kept["task_id"])
                    after = await _until(
                        lambda: (now := _gets(slow))[kept["task_id"]] >= at_cancel[kept["task_id"]] + 3 and now,
                        "replica A to go on polling the generation still followed",
                    )
                    slow.advance(3600)
                    saved_state = await saved(on_a, kept["task_id"])
        rows = await _followed(database)
        ledger = slow.ledger()
    finally:
        slow.stop()
    assert before["status"] == "working"
    assert after[dropped] <= at_cancel[dropped] + 1  # at most the poll already under way
    assert saved_state["download_status"] == "saved" and ledger["requests"]["download"] == 1
    assert rows == {kept["task_id"]: (1, "saved"), dropped: (0, "none")}


async def _until_async(probe: Any, what: str, timeout_s: float = 30.0) -> Any:
    with anyio.fail_after(timeout_s):
        while not (found := await probe()):  # noqa: ASYNC110 - polling the database, nothing to wait on
            await anyio.sleep(0.1)
    assert found, what
    return found


async def _polled_by(database: str, holder: Replica, count: int) -> bool:
    store = await Store.open(database)
    try:
        claims = await store.poll_claims()
    finally:
        await store.aclose()
    return sum(1 for owner in claims.values() if f"|{holder.process.pid}|" in owner) == count


def _gets(simulator: SimulatorProcess) -> dict[str, int]:
    return {task["id"]: task["gets"] for task in simulator.ledger()["tasks"]}


async def _followed(database: str) -> dict[str, tuple[int, str]]:
    store = await Store.open(database)
    try:
        rows = await store._rows("SELECT task_id, followed, download_state FROM generations")
    finally:
        await store.aclose()
    return {row["task_id"]: (int(row["followed"]), row["download_state"]) for row in rows}


async def test_sigterm_marks_the_replica_stopped_so_its_claims_pass_on_at_once(
    database: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """A replica asked to stop by its orchestrator (SIGTERM) exits 0 through its clean stop: its heartbeat is marked
    stopped, so the others take its polls, downloads and queues at once instead of `LAPSE_S` later."""
    with replica(replica_env(database, simulator.base_url, tmp_path, "a"), "a") as a:
        async with client_of(a.url, None, mode="legacy") as on_a:
            await on_a.call_tool("list_generations", {})
        beating = await _heartbeats(database)
        a.process.send_signal(signal.SIGTERM)
        code = a.process.wait(timeout=30)
    mine = f"|{a.process.pid}|"
    assert code == 0
    assert next(seen for owner, seen in beating.items() if mine in owner) > 0
    assert [seen for owner, seen in (await _heartbeats(database)).items() if mine in owner] == [0.0]


async def _heartbeats(database: str) -> dict[str, float]:
    store = await Store.open(database)
    try:
        return {
            row["owner"]: float(row["seen_at"]) for row in await store._rows("SELECT owner, seen_at FROM processes")
        }
    finally:
        await store.aclose()


async def test_a_blackholed_database_link_ends_each_call_with_a_clear_error_and_readyz_says_not_ready(
    database: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """The link to PostgreSQL goes silent (connections stay up, nothing answers: a hung proxy). Each call ends at its
    deadline (VEO_MCP_DATABASE_TIMEOUT, 1 s here) with an error that says so, nothing is sent to EvoLink, and
    /readyz says not ready; once the link answers again, so does the server."""
    forwarder = Forwarder.to(database)
    env = replica_env(forwarder.url_for(database), simulator.base_url, tmp_path, "a", VEO_MCP_DATABASE_TIMEOUT="1")
    try:
        with replica(env, "a") as a:
            health = a.url.removesuffix("/mcp") + "/readyz"
            async with client_of(a.url, None, mode="legacy") as on_a, httpx.AsyncClient(timeout=30) as http:
                assert (await http.get(health)).status_code == 200
                forwarder.blackhole()
                with anyio.fail_after(20):  # a hung call would end here, failing the test
                    listed = await on_a.call_tool("list_generations", {})
                    created = await on_a.call_tool("generate_video", {"prompt": "a lighthouse", "duration": 4})
                    unready = await http.get(health)
                forwarder.restore()
                with anyio.fail_after(30):
                    while (await http.get(health)).status_code != 200:  # noqa: ASYNC110 - until it answers again
                        await anyio.sleep(0.2)
                    again = await on_a.call_tool("list_generations", {})
    finally:
        forwarder.close()
    for failed in (listed, created):
        assert failed.is_error and "did not answer within 1 s (VEO_MCP_DATABASE_TIMEOUT)" in text_of(failed)
    assert unready.status_code == 503 and unready.json()["checks"]["database"] == "unavailable"
    assert not again.is_error
    assert simulator.ledger()["requests"]["create"] == 0


async def test_a_paused_replicas_download_is_neither_fetched_again_nor_its_partial_file_deleted(
    database: str, simulator: SimulatorProcess, tmp_path: Path
) -> None:
    """Two replicas on machines of their own (host names of their own: each judges the other by its heartbeat). The
    one saving a video is paused (SIGSTOP) mid-download and its heartbeat lapses; asked to save the video, the other
    says it waits for the paused one's claim (renewed while it downloads) instead of fetching the video again and
    deleting its partial file; resumed (SIGCONT), the paused one finishes, and the video is saved once."""
    simulator.fault(kind="slow_body", endpoint="download", bytes_per_s=20_000)
    env = {name: replica_env(database, simulator.base_url, tmp_path, name) for name in ("a", "b")}
    videos = tmp_path / "videos"
    with replica(env["a"], "a", hostname="replica-a") as a, replica(env["b"], "b", hostname="replica-b") as b:
        async with client_of(a.url, None, mode="legacy") as on_a, client_of(b.url, None, mode="legacy") as on_b:
            task_id = ((await on_a.call_tool("generate_video", {"prompt": "a paused crane"})).structured_content or {})[
                "task_id"
            ]
            part = await _until(
                lambda: simulator.ledger()["requests"]["download"] and next(videos.rglob(".*.part"), None),
                "a download under way",
            )
            paused, other = (a, b) if _holds_open(a, part) else (b, a)
            paused.process.send_signal(signal.SIGSTOP)
            asked: list[Any] = []
            async with anyio.create_task_group() as group:
                try:
                    await _lapse(database, paused)
                    on_other = on_b if other is b else on_a
                    group.start_soon(_answer_into, asked, on_other.call_tool("download_video", {"task_id": task_id}))
                    said = await anyio.to_thread.run_sync(_waits_or_takes_over, other, simulator, part)
                    kept = part.exists()
                    downloads_while_paused = simulator.ledger()["requests"]["download"]
                finally:
                    paused.process.send_signal(signal.SIGCONT)
            states = [await saved(client, task_id) for client in (on_b, on_a)]
    assert task_id in said and kept and downloads_while_paused == 1
    paths = [[f["path"] for f in state["files"]] for state in states]
    assert paths[0] == paths[1] and len(paths[0]) == 1 and Path(paths[0][0]).is_file()
    assert not asked[0].is_error and paths[0][0] in text_of(asked[0])  # the other's save answers with the file

    assert simulator.ledger()["requests"]["download"] == 1 and not list(videos.rglob(".*.part"))


def _holds_open(holder: Replica, path: Path) -> bool:
    """Whether `holder`'s process has `path` open (Linux: /proc/PID/fd)."""
    folder = Path(f"/proc/{holder.process.pid}/fd")
    return any(os.path.realpath(fd) == str(path.resolve()) for fd in folder.iterdir())


async def _lapse(database: str, replica: Replica) -> None:
    """`replica`'s last heartbeat, moved a minute back: its peers see it as silent (as after a long pause)."""
    store = await Store.open(database)
    try:
        await store._write(
            "UPDATE processes SET seen_at = seen_at - 60 WHERE owner LIKE ?", (f"%|{replica.process.pid}|%",)
        )
    finally:
        await store.aclose()


def _waits_or_takes_over(replica: Replica, simulator: SimulatorProcess, part: Path, timeout_s: float = 30.0) -> str:
    """What `replica` does about the paused one's download: the line saying it waits, or "took over" as soon as the
    video is fetched again or the paused one's partial file is gone."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if simulator.ledger()["requests"]["download"] > 1 or not part.exists():
            return "took over"
        try:
            line = replica.stderr.next_line(min(deadline, time.monotonic() + 0.2))
        except TimeoutError:
            continue
        if line is None:
            return "ended"
        if "is being saved by a replica not heard from" in line:
            return str(line)
    raise AssertionError(f"{replica.name} neither waited nor fetched the video within {timeout_s:g} s")
