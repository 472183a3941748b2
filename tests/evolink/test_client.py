"""The EvoLink client against the in-process simulator: lifecycle, error classes, faults, money safety, downloads."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from tests.helpers import TEST_KEY, make_client
from veo_mcp.background.downloads import probe_video
from veo_mcp.evolink import (
    AuthenticationError,
    DownloadError,
    EvoLinkClient,
    InsufficientCreditError,
    InvalidRequestError,
    LinkExpiredError,
    NotFoundError,
    OutcomeUnknownError,
    TemporaryError,
    parse_video_request,
)
from veo_mcp.evolink.catalog import RETRYABLE_TASK_ERROR_CODES, TASK_ERROR_CODES
from veo_mcp.evolink.responses import parse_retry_after
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Fault, Simulator, SimulatorConfig, SimulatorTransport

REQUEST = parse_video_request({"prompt": "a lighthouse in a storm", "duration": 8, "n": 2})


def ledger(simulator: Simulator) -> dict[str, object]:
    return simulator.service.ledger()


def requests_of(simulator: Simulator) -> dict[str, int]:
    counts = ledger(simulator)["requests"]
    assert isinstance(counts, dict)
    return counts


async def test_task_goes_pending_processing_completed(simulator: Simulator, client: EvoLinkClient) -> None:
    task = await client.create_generation(REQUEST)
    assert task.status == "pending"
    assert task.task_info is not None and task.task_info.estimated_time is not None
    single = await client.create_generation(parse_video_request({"prompt": "x", "duration": 8}))
    assert single.estimated_time is not None and 60 <= single.estimated_time <= 90  # 8 s 720p at speed 1
    assert task.usage is not None and task.usage.credits_reserved == pytest.approx(0.96 * 2 * 72)
    seen = []
    for _ in range(40):
        simulator.service.clock.advance(3)
        current = await client.get_task(task.id)
        seen.append((current.status, current.progress))
        if current.finished:
            break
    statuses = [status for status, _ in seen]
    assert "processing" in statuses
    assert statuses[-1] == "completed"
    progress = [p for s, p in seen if s == "processing"]
    assert progress == sorted(progress) and progress[0] < progress[-1]
    final = await client.get_task(task.id)
    assert len(final.results) == 2 and final.progress == 100
    charged = next(t for t in ledger(simulator)["tasks"] if t["id"] == task.id)["charged_usd"]  # type: ignore[index]
    assert charged == pytest.approx(0.12 * 8 * 2)


async def test_longer_and_sharper_videos_take_longer(client: EvoLinkClient) -> None:
    short = await client.create_generation(parse_video_request({"prompt": "x", "duration": 4}))
    big = await client.create_generation(parse_video_request({"prompt": "x", "duration": 8, "quality": "4k", "n": 4}))
    assert short.estimated_time is not None and big.estimated_time is not None
    assert big.estimated_time > 2 * short.estimated_time


@pytest.mark.parametrize("code", TASK_ERROR_CODES)
async def test_failed_task_carries_code_and_is_not_billed(
    simulator: Simulator, client: EvoLinkClient, code: str
) -> None:
    simulator.faults.add(Fault(kind="fail_task", error_code=code, fraction=0.4))
    task = await client.create_generation(REQUEST)
    simulator.service.clock.advance(1000)
    failed = await client.get_task(task.id)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == code
    assert failed.results == []
    assert ledger(simulator)["total_charged_usd"] == 0
    assert (code in RETRYABLE_TASK_ERROR_CODES) == (
        code
        not in {
            "content_policy_violation",
            "invalid_parameters",
            "image_dimension_mismatch",
            "image_processing_error",
            "request_cancelled",
            "resource_not_found",
        }
    )


async def test_missing_key_is_refused_before_sending(simulator: Simulator) -> None:
    async with make_client(simulator, api_key=None) as client:
        with pytest.raises(AuthenticationError, match="EVOLINK_API_KEY"):
            await client.create_generation(REQUEST)
    assert requests_of(simulator)["create"] == 0


async def test_wrong_key_maps_to_authentication_error_without_leaking_it() -> None:
    simulator = Simulator(SimulatorConfig(api_key="the-right-key"))
    async with make_client(simulator, api_key="sk-wrong-secret-key") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get_task("task-unified-1-abc")
    assert caught.value.status_code == 401
    assert "sk-wrong-secret-key" not in str(caught.value) and "sk-wrong-secret-key" not in repr(caught.value)
    assert requests_of(simulator)["get"] == 1  # not retried


async def test_insufficient_credit_maps_to_add_credit() -> None:
    simulator = Simulator(SimulatorConfig(balance_usd=1.0))
    async with make_client(simulator) as client:
        await client.create_generation(parse_video_request({"prompt": "x", "duration": 4}))  # $0.48
        with pytest.raises(InsufficientCreditError) as caught:
            await client.create_generation(REQUEST)  # $1.92
    assert caught.value.status_code == 402 and caught.value.action == "add_credit"
    assert len(simulator.service.tasks) == 1


async def test_unknown_task_is_not_found(simulator: Simulator, client: EvoLinkClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.get_task("task-unified-0-nothere")
    assert caught.value.status_code == 404
    assert requests_of(simulator)["get"] == 1


async def test_server_side_400_names_param() -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"error": {"code": 400, "message": "bad seed", "type": "invalid_request_error", "param": "seed"}}
        )

    async with EvoLinkClient(api_key=TEST_KEY, transport=httpx.MockTransport(reject)) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.create_generation(REQUEST)
    assert caught.value.field == "seed" and caught.value.status_code == 400


@pytest.mark.parametrize(("status", "error_type"), [(403, InvalidRequestError), (413, InvalidRequestError)])
async def test_other_client_errors_mean_fix_the_request(
    simulator: Simulator, client: EvoLinkClient, status: int, error_type: type[Exception]
) -> None:
    simulator.faults.add(Fault(kind="status", status=status, endpoint="create"))
    with pytest.raises(error_type):
        await client.create_generation(REQUEST)
    assert requests_of(simulator)["create"] == 1


async def test_get_retries_through_429_honouring_retry_after(simulator: Simulator, client: EvoLinkClient) -> None:
    task = await client.create_generation(REQUEST)
    simulator.faults.add(Fault(kind="status", status=429, endpoint="get", count=3, retry_after=0))
    current = await client.get_task(task.id)
    assert current.id == task.id
    assert requests_of(simulator)["get"] == 4


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_get_retries_through_5xx(simulator: Simulator, client: EvoLinkClient, status: int) -> None:
    task = await client.create_generation(REQUEST)
    simulator.faults.add(Fault(kind="status", status=status, endpoint="get", count=2))
    assert (await client.get_task(task.id)).id == task.id
    assert requests_of(simulator)["get"] == 3


async def test_get_gives_up_with_retry_later(simulator: Simulator, client: EvoLinkClient) -> None:
    task = await client.create_generation(REQUEST)
    simulator.faults.add(Fault(kind="status", status=503, endpoint="get", count=50))
    with pytest.raises(TemporaryError) as caught:
        await client.get_task(task.id)
    assert caught.value.action == "retry_later"
    assert requests_of(simulator)["get"] == 5


async def test_get_retries_malformed_json_and_timeouts(simulator: Simulator) -> None:
    # The held-back answer would come after an hour; the 1 s timeout leaves good answers a wide margin on a busy
    # machine, so exactly the two faults are retried.
    async with make_client(simulator, request_timeout_s=1.0) as client:
        task = await client.create_generation(REQUEST)
        simulator.faults.add(Fault(kind="malformed_json", endpoint="get"))
        simulator.faults.add(Fault(kind="delay", endpoint="get", seconds=3600))
        with anyio.fail_after(60):
            assert (await client.get_task(task.id)).id == task.id
    assert requests_of(simulator)["get"] == 3


def test_retry_after_parses_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_create_retries_429_without_duplicating(simulator: Simulator, client: EvoLinkClient) -> None:
    simulator.faults.add(Fault(kind="status", status=429, endpoint="create", count=2, retry_after=0))
    task = await client.create_generation(REQUEST)
    assert requests_of(simulator)["create"] == 3
    assert [t["id"] for t in ledger(simulator)["tasks"]] == [task.id]  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_create_5xx_is_outcome_unknown_and_never_resent(
    simulator: Simulator, client: EvoLinkClient, status: int
) -> None:
    simulator.faults.add(Fault(kind="status", status=status, endpoint="create"))
    with pytest.raises(OutcomeUnknownError) as caught:
        await client.create_generation(REQUEST)
    assert caught.value.sent == REQUEST.to_api_payload()
    assert requests_of(simulator)["create"] == 1


async def test_accept_then_drop_is_outcome_unknown_with_one_task(simulator: Simulator, client: EvoLinkClient) -> None:
    simulator.faults.add(Fault(kind="drop_after_accept"))
    with pytest.raises(OutcomeUnknownError) as caught:
        await client.create_generation(REQUEST)
    assert caught.value.sent["prompt"] == REQUEST.prompt
    assert caught.value.action == "check_dashboard"
    assert requests_of(simulator)["create"] == 1
    assert len(ledger(simulator)["tasks"]) == 1  # type: ignore[arg-type]


async def test_create_timeout_after_accept_is_outcome_unknown(simulator: Simulator) -> None:
    simulator.faults.add(Fault(kind="delay", endpoint="create", seconds=3600, after_accept=True))
    async with make_client(simulator, request_timeout_s=1.0) as client:
        with anyio.fail_after(60), pytest.raises(OutcomeUnknownError, match="ReadTimeout"):
            await client.create_generation(REQUEST)
    assert requests_of(simulator)["create"] == 1
    assert len(simulator.service.tasks) == 1


async def test_create_with_unreadable_answer_is_outcome_unknown(simulator: Simulator, client: EvoLinkClient) -> None:
    simulator.faults.add(Fault(kind="malformed_json", endpoint="create"))
    with pytest.raises(OutcomeUnknownError, match="could not be read"):
        await client.create_generation(REQUEST)
    assert requests_of(simulator)["create"] == 1 and len(simulator.service.tasks) == 1


async def test_create_connect_failure_is_retried_because_nothing_was_sent(simulator: Simulator) -> None:
    inner = SimulatorTransport(simulator)
    failures = {"left": 2}

    class FlakyConnect(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if failures["left"]:
                failures["left"] -= 1
                raise httpx.ConnectError("connection refused", request=request)
            return await inner.handle_async_request(request)

    async with EvoLinkClient(
        api_key=TEST_KEY, base_url=IN_PROCESS_BASE_URL, transport=FlakyConnect(), max_backoff_s=0.01
    ) as client:
        task = await client.create_generation(REQUEST)
    assert requests_of(simulator)["create"] == 1
    assert list(simulator.service.tasks) == [task.id]


async def _completed(simulator: Simulator, client: EvoLinkClient) -> list[str]:
    task = await client.create_generation(REQUEST)
    simulator.service.clock.advance(500)
    return (await client.get_task(task.id)).results


async def test_download_streams_a_real_mp4(simulator: Simulator, client: EvoLinkClient, tmp_path: Path) -> None:
    urls = await _completed(simulator, client)
    target = tmp_path / "out" / "video.mp4"
    progress: list[int] = []
    saved = await client.download(urls[0], target, on_progress=lambda done, total: progress.append(done))
    assert saved.path == target and target.stat().st_size == saved.bytes > 1000
    assert target.read_bytes()[4:8] == b"ftyp"
    assert progress[-1] == saved.bytes
    assert [p.name for p in target.parent.iterdir()] == ["video.mp4"]


async def test_padded_results_stream_as_valid_mp4s(tmp_path: Path) -> None:
    """The benchmark's large results: a real MP4 plus a trailing 'free' box, streamed, still a playable file."""
    simulator = Simulator(SimulatorConfig(result_bytes=3_000_000))
    async with make_client(simulator) as client:
        urls = await _completed(simulator, client)
        saved = await client.download(urls[0], tmp_path / "big.mp4")
    assert saved.bytes == (tmp_path / "big.mp4").stat().st_size == 3_000_000
    duration, width, height, audio = probe_video(tmp_path / "big.mp4")
    assert duration == pytest.approx(REQUEST.effective_duration, abs=0.2) and (width, height) == (256, 144) and audio


async def test_download_does_not_send_the_api_key(simulator: Simulator, client: EvoLinkClient, tmp_path: Path) -> None:
    urls = await _completed(simulator, client)
    seen: list[httpx.Request] = []
    inner = SimulatorTransport(simulator)

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await inner.handle_async_request(request)

    async with EvoLinkClient(api_key=TEST_KEY, base_url=IN_PROCESS_BASE_URL, transport=Spy()) as spied:
        await spied.download(urls[0], tmp_path / "v.mp4")
    assert seen and all("authorization" not in request.headers for request in seen)


async def test_truncated_download_leaves_no_final_file(
    simulator: Simulator, client: EvoLinkClient, tmp_path: Path
) -> None:
    urls = await _completed(simulator, client)
    simulator.faults.add(Fault(kind="truncate", fraction=0.5, count=3))
    target = tmp_path / "video.mp4"
    with pytest.raises(DownloadError, match="incomplete"):
        await client.download(urls[0], target)
    assert list(tmp_path.iterdir()) == []
    assert requests_of(simulator)["download"] == 3


async def test_truncated_download_is_retried_to_success(
    simulator: Simulator, client: EvoLinkClient, tmp_path: Path
) -> None:
    urls = await _completed(simulator, client)
    simulator.faults.add(Fault(kind="truncate", fraction=0.3))
    simulator.faults.add(Fault(kind="status", status=502, endpoint="download"))
    saved = await client.download(urls[1], tmp_path / "video.mp4")
    assert saved.bytes == len(simulator.service.video_bytes(simulator.task(urls[1].split("/")[-2]), 1))
    assert requests_of(simulator)["download"] == 3


async def test_existing_file_is_replaced_only_when_complete(
    simulator: Simulator, client: EvoLinkClient, tmp_path: Path
) -> None:
    urls = await _completed(simulator, client)
    target = tmp_path / "video.mp4"
    target.write_bytes(b"previous")
    simulator.faults.add(Fault(kind="truncate", fraction=0.9, count=3))
    with pytest.raises(DownloadError):
        await client.download(urls[0], target)
    assert target.read_bytes() == b"previous"


async def test_expired_link_is_reported_as_such(simulator: Simulator, client: EvoLinkClient, tmp_path: Path) -> None:
    urls = await _completed(simulator, client)
    simulator.service.clock.advance(24 * 3600 + 1)
    with pytest.raises(LinkExpiredError, match="expired") as caught:
        await client.download(urls[0], tmp_path / "video.mp4")
    assert caught.value.status_code == 403
    assert requests_of(simulator)["download"] == 1  # not retried
    assert list(tmp_path.iterdir()) == []


async def test_non_mp4_body_is_refused(tmp_path: Path) -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>login required</html>", headers={"Content-Type": "text/html"})

    async with EvoLinkClient(api_key=TEST_KEY, transport=httpx.MockTransport(html), max_backoff_s=0.01) as client:
        with pytest.raises(DownloadError, match="not an MP4"):
            await client.download("https://cdn.example.com/v.mp4", tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


async def test_extra_and_missing_task_fields_are_tolerated() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "task-1", "status": "processing", "progress": "42.7", "brand_new": {}})

    async with EvoLinkClient(api_key=TEST_KEY, transport=httpx.MockTransport(answer)) as client:
        task = await client.get_task("task-1")
    assert task.progress == 42 and task.results == [] and task.task_info is None
    assert task.model_extra == {"brand_new": {}}
