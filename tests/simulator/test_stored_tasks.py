"""A simulated account in a state folder, through the HTTP face: what one process's simulator records (the address a
task came in on, its status reads, its callback URL and delivery, its file mode) another one reads back whole."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.helpers import TEST_KEY
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport


def _account(tmp_path: Path) -> Simulator:
    config = SimulatorConfig(speed=1e-6, state_dir=tmp_path / "account", allow_private_callbacks=True)
    return Simulator(config)


async def test_another_process_reads_a_task_back_whole(tmp_path: Path) -> None:
    first = _account(tmp_path)
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(first),
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ) as http:
        body = {"prompt": "a heron", "callback_url": "http://127.0.0.1:9/done", "generate_audio": False}
        created = await http.post("/v1/videos/generations", json=body)
        assert created.status_code == 200, created.text
        task_id = created.json()["id"]
        for _ in range(2):
            assert (await http.get(f"/v1/tasks/{task_id}")).status_code == 200
    first.service.count_callback(first.task(task_id))
    first.service.count_callback(first.task(task_id), delivered=True)

    second = _account(tmp_path)
    seen = second.task(task_id)
    assert seen.request.callback_url == "http://127.0.0.1:9/done"
    assert seen.request.to_api_payload() == first.task(task_id).request.to_api_payload()
    assert (seen.base_url, seen.gets, seen.callback_attempts, seen.callback_delivered) == (
        IN_PROCESS_BASE_URL + "/",
        2,
        1,
        True,
    )
    [row] = second.service.ledger()["tasks"]
    assert (row["gets"], row["callback_attempts"], row["callback_delivered"]) == (2, 1, True)
    assert second.service.ledger()["requests"]["callback"] == 1
    assert stat.S_IMODE((tmp_path / "account" / "simulator.sqlite3").stat().st_mode) == 0o600
