"""The simulator refuses and fails what EvoLink refuses and fails (issue 22): image URLs EvoLink's servers cannot
fetch fail the task with `resource_not_found` (a 404, a host that does not resolve), and a callback URL on this
machine is refused unless the simulator was started to allow it (see tests/test_callbacks.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import TEST_KEY
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _fake_internet(request: httpx.Request) -> httpx.Response:
    """What EvoLink's servers would find: one image, a missing one; any other host does not resolve."""
    if request.url.host != "img.example.com":
        raise httpx.ConnectError(f"[Errno -2] Name or service not known: {request.url.host}")
    if request.url.path == "/kite.png":
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    return httpx.Response(404, text="Not Found")


async def _status_after_render(simulator: Simulator, image_urls: list[str]) -> tuple[str, str | None]:
    async with httpx.AsyncClient(
        base_url=IN_PROCESS_BASE_URL,
        transport=SimulatorTransport(simulator),
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ) as http:
        created = await http.post("/v1/videos/generations", json={"prompt": "a kite", "image_urls": image_urls})
        assert created.status_code == 200, created.text  # EvoLink accepts the task, then fails it
        simulator.service.clock.advance(3600)
        task = (await http.get(f"/v1/tasks/{created.json()['id']}")).json()
    return task["status"], (task.get("error") or {}).get("code")


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (["https://img.example.com/kite.png"], ("completed", None)),
        (["https://img.example.com/gone.png"], ("failed", "resource_not_found")),
        (["https://img.example.com/kite.png", "https://nowhere.example.net/b.png"], ("failed", "resource_not_found")),
    ],
    ids=["fetchable", "404", "host-does-not-resolve"],
)
async def test_an_image_evolink_cannot_fetch_fails_the_task(urls: list[str], expected: tuple[str, str | None]) -> None:
    simulator = Simulator(SimulatorConfig(speed=1), internet=httpx.MockTransport(_fake_internet))
    assert await _status_after_render(simulator, urls) == expected


async def test_without_a_fake_internet_a_name_that_cannot_resolve_fails_too() -> None:
    """The real network, as `veo-mcp simulator` uses it: `.invalid` never resolves (RFC 2606)."""
    simulator = Simulator(SimulatorConfig(speed=1))
    assert await _status_after_render(simulator, ["https://images.invalid/a.png"]) == ("failed", "resource_not_found")


async def test_the_file_service_s_own_uploads_are_fetched_and_an_unknown_one_is_not() -> None:
    simulator = Simulator(SimulatorConfig(speed=1), internet=httpx.MockTransport(_fake_internet))
    upload = simulator.service.store_upload(PNG, "kite.png", "image/png")
    live = simulator.service.upload_object(upload)["file_url"]
    unknown = live.replace(upload.file_id, "file_0000000000000000")
    assert await _status_after_render(simulator, [live]) == ("completed", None)
    assert await _status_after_render(simulator, [unknown]) == ("failed", "resource_not_found")
