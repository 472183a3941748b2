"""The moment EvoLink's answer to a create arrives: from there on the task is recorded and followed, whoever stopped
waiting for it, and a warning about recording it comes before every other note."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.helpers import running_harness
from veo_mcp.core.generation import Generation
from veo_mcp.evolink import parse_video_request
from veo_mcp.money.ledger import CreateLedger
from veo_mcp.storage.creates import CreateRecord


async def test_a_caller_who_stops_waiting_while_the_answer_is_recorded_still_leaves_it_recorded_and_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording, go_on = anyio.Event(), anyio.Event()
    real_accept = CreateLedger.accept

    async def slow_accept(ledger: CreateLedger, record: CreateRecord, generation: Generation) -> str | None:
        recording.set()
        await go_on.wait()  # the caller gives up here
        return await real_accept(ledger, record, generation)

    monkeypatch.setattr(CreateLedger, "accept", slow_accept)
    async with running_harness(tmp_path) as harness:
        parts = harness.app.parts
        with anyio.CancelScope() as caller:

            async def give_up() -> None:
                await recording.wait()
                caller.cancel()
                go_on.set()

            with anyio.fail_after(20):  # only guards a hang: each step waits on the one before
                async with anyio.create_task_group() as group:
                    group.start_soon(give_up)
                    await parts.pipeline.generate(parse_video_request({"prompt": "a caller who hung up"}))
        [task] = harness.simulator.service.tasks.values()
        assert task.id in parts.registry.generations and parts.poller.tracks(task.id)
        assert (await parts.store.generation(task.id)) is not None


async def test_a_warning_about_recording_the_task_comes_before_every_other_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def accepted_but_not_written(ledger: CreateLedger, record: CreateRecord, generation: Generation) -> str:
        return "The task could not be recorded on disk."

    monkeypatch.setattr(CreateLedger, "accept", accepted_but_not_written)
    async with running_harness(tmp_path) as harness:
        request = parse_video_request({"prompt": "a text-only request", "resize_mode": "crop"})
        outcome = await harness.app.parts.pipeline.generate(request)
    assert outcome.generation.notes == [
        "The task could not be recorded on disk.",
        "resize_mode only applies to image-to-video; it was ignored for this text-to-video request.",
    ]
