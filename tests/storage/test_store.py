"""The store: migrations, round trips, create records, download claims - and several processes at once, on SQLite
and (where the test is not about the SQLite file itself) on PostgreSQL too."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.postgres import database_location, store_on
from veo_mcp.context import RESERVED_FOLDERS, folder_candidates, principal_folder
from veo_mcp.core.generation import OUTSIDE_PROMPT, Generation, SavedFile
from veo_mcp.evolink import estimate_cost, parse_video_request
from veo_mcp.money.guards import LimitExceededError
from veo_mcp.storage import (
    MIGRATIONS,
    SCHEMA_VERSION,
    BatchItemRecord,
    BatchRecord,
    McpTaskRecord,
    SpendingWindows,
    Store,
    StoreError,
)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    with database_location(request.param, tmp_path) as where:
        yield where


# begin_create with no duplicate guard and no limits: the record alone.
OPEN: dict[str, Any] = {
    "duplicate_since": None,
    "windows": SpendingWindows(day=0, hour=0, minute=0),
    "check": lambda spending: None,
}


def _generation(task_id: str = "task-unified-1-abc", **changes: object) -> Generation:
    request = parse_video_request({"prompt": "a heron at dawn", "duration": 6})
    generation = Generation(
        task_id=task_id,
        model=request.model,
        prompt=request.prompt,
        request=request.to_api_payload(),
        simulated=True,
        estimate=estimate_cost(request),
        notes=["a note"],
        request_id="r-1",
        fingerprint="f" * 64,
    )
    for name, value in changes.items():
        setattr(generation, name, value)
    return generation


async def test_generation_round_trip(location: Path | str) -> None:
    store = await Store.open(location)
    original = _generation(
        status="completed",
        progress=100,
        result_urls=["https://cdn.example/v.mp4"],
        files=[SavedFile(path="/v/a.mp4", bytes=123, index=0)],
        completed_at=1_700_000_000.0,
        download_state="saved",
    )
    await store.save_generation(original)
    original.progress = 100
    await store.save_generation(original)  # an update, not a second row
    loaded = await store.generation(original.task_id)
    everything = await store.generations()
    await store.aclose()
    assert loaded is not None and len(everything) == 1
    assert loaded.state().model_dump(exclude={"eta_seconds"}) == original.state().model_dump(exclude={"eta_seconds"})
    assert loaded.estimate == original.estimate and loaded.request == original.request


async def test_mcp_tasks_round_trip_page_cancel_and_expire(location: Path | str) -> None:
    store = await Store.open(location)
    now = time.time()
    for number in range(3):
        await store.save_mcp_task(
            McpTaskRecord(
                task_id=f"t{number}",
                generation_task_id="g-shared" if number else "g-0",
                tool="generate_video",
                call_result={"task_id": "g", "reused": bool(number)},
                created_at=now - 10 + number,
                ttl_ms=60_000,
            )
        )
    await store.save_mcp_task(
        McpTaskRecord(
            task_id="old",
            generation_task_id="g-0",
            tool="generate_video",
            call_result={},
            created_at=now - 120,
            ttl_ms=60_000,
        )
    )
    await store.save_generation(_generation(followed=False))
    page, total = await store.mcp_tasks(0, 2)
    await store.cancel_mcp_task("t1", "Cancelled. Said why.")
    cancelled = await store.mcp_task("t1")
    of_shared = [r.task_id for r in await store.mcp_tasks_of("g-shared")]
    expired = await store.mcp_task("old")
    await store.forget_expired_mcp_tasks()
    remaining = await store.dump_text()
    unfollowed = await store.generation("task-unified-1-abc")
    await store.aclose()
    assert [r.task_id for r in page] == ["t2", "t1"] and total == 3  # newest first; the expired one is not live
    assert (
        cancelled is not None
        and cancelled.cancelled_at is not None
        and cancelled.cancel_message == "Cancelled. Said why."
    )
    assert of_shared == ["t1", "t2"] and expired is None and "'old'" not in remaining
    assert cancelled.call_result == {"task_id": "g", "reused": True}
    assert unfollowed is not None and unfollowed.followed is False


async def test_fresh_database_is_at_the_latest_schema_with_wal(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3")
    await store.aclose()
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_an_old_database_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    # Write a row through the current code, then take the database back to version 1.
    store = await Store.open(path)
    await store.save_generation(_generation())
    await store.aclose()
    db = sqlite3.connect(path)
    later = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in set(later) - {"generations", "creates"}:  # back to version 1: drop what later migrations add
        db.execute(f"DROP TABLE {table}")
    db.execute("ALTER TABLE generations DROP COLUMN followed")  # and the column migration 4 adds
    db.execute("DROP INDEX generations_by_principal")  # and migration 6's column
    db.execute("ALTER TABLE generations DROP COLUMN principal")
    db.execute("ALTER TABLE generations DROP COLUMN followed_at")  # and migration 11's
    db.execute("DROP TABLE creates")  # rebuilt by migration 6 (it holds no row here): back to version 1's
    for statement in MIGRATIONS[0].split(";"):
        if "creates" in statement:
            db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = await Store.open(path)
    kept = await store.generation("task-unified-1-abc")
    assert await store.upload("0" * 64, valid_after=0) is None  # the table migration 2 adds exists again
    assert await store.mcp_tasks(0, 10) == ([], 0)  # and migration 4's
    assert await store.batches_with_unsent_items() == []  # and migration 5's
    await store.aclose()
    assert kept is not None and kept.prompt == "a heron at dawn" and kept.followed  # old rows stay followed
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_newer_or_broken_databases_are_refused_with_a_fix(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer veo-mcp"):
        await Store.open(newer)
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="VEO_MCP_NEW_DATABASE"):
        await Store.open(broken)


async def test_request_ids_are_unique_and_interrupted_creates_become_unknown(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3")
    common = {"fingerprint": "f", "model": "m", "prompt": "p", "payload": {"prompt": "p"}, "estimate_usd": 0.5}
    first, earlier = await store.begin_create(request_id="same", **OPEN, **common)  # type: ignore[arg-type]
    second, earlier_again = await store.begin_create(request_id="same", **OPEN, **common)  # type: ignore[arg-type]
    assert earlier is None and earlier_again == "request_id" and second.key == first.key
    assert await store.recover_interrupted_creates() == []  # our own, live: left alone
    dead_pid = _dead_pid()
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    db.execute("UPDATE creates SET owner = ? WHERE key = ?", (f"{os.uname().nodename}|{dead_pid}|gone", first.key))
    db.commit()
    db.close()
    recovered = await store.recover_interrupted_creates()
    record = await store.create_record(first.key)
    spent = await store.committed_usd_since(0)
    await store.aclose()
    stopped = "veo-mcp stopped while this create was being sent, so nobody knows whether EvoLink accepted it."
    assert [(r.key, r.state, r.message) for r in recovered] == [(first.key, "outcome_unknown", stopped)]
    assert record is not None and (record.state, record.message) == ("outcome_unknown", stopped)
    assert spent == pytest.approx(0.5)  # an unknown outcome may be billed: it counts against the budget


async def test_download_claims_respect_live_processes_only(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3")
    await store.save_generation(_generation())
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    host = os.uname().nodename
    db.execute(
        "UPDATE generations SET download_owner = ?, download_claimed_at = strftime('%s','now')",
        (f"{host}|{os.getppid()}|other",),
    )
    db.commit()
    held_by_live_process = (await store.claim_download("task-unified-1-abc", lease_s=600)).ours
    db.execute("UPDATE generations SET download_owner = ?", (f"{host}|{_dead_pid()}|other",))
    db.commit()
    db.close()
    taken_from_dead_process = (await store.claim_download("task-unified-1-abc", lease_s=600)).ours
    await store.release_download("task-unified-1-abc")
    await store.aclose()
    assert not held_by_live_process and taken_from_dead_process


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_many_processes_racing_for_the_same_request_ids(location: Path | str) -> None:
    """Four processes each try to record the same 50 request ids: exactly one record per id, no corruption."""
    script = textwrap.dedent(
        f"""
        import anyio, sys
        from pathlib import Path
        from veo_mcp.storage import SpendingWindows, Store

        async def main():
            where = {str(location)!r}
            store = await Store.open(where if where.startswith("postgresql:") else Path(where))
            won = 0
            for i in range(50):
                _, earlier = await store.begin_create(
                    request_id=f"id-{{i}}", fingerprint="f", model="m", prompt="p", payload={{}}, estimate_usd=0.1,
                    duplicate_since=None, windows=SpendingWindows(day=0, hour=0, minute=0), check=lambda spent: None,
                )
                won += earlier is None
            await store.aclose()
            print(won)

        anyio.run(main)
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    wins = [int(p.communicate(timeout=120)[0]) for p in processes]
    assert sum(wins) == 50
    counted = anyio.run(_rows, location, "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM creates")
    assert [tuple(row) for row in counted] == [(50, 50)]
    if isinstance(location, Path):
        assert sqlite3.connect(location).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def _rows(location: Path | str, sql: str) -> list[Any]:
    store = await Store.open(location)
    try:
        return await store._rows(sql)
    finally:
        await store.aclose()


async def test_a_budget_holds_across_connections_racing(location: Path | str) -> None:
    """Two store connections (as two server processes have) race to record $0.96 creates under a $1.00 budget."""
    path = location
    stores = [await Store.open(path), await Store.open(path)]
    outcomes: list[str] = []

    def within_one_dollar(spent: float) -> None:
        if spent + 0.96 > 1.0:
            raise LimitExceededError(f"${spent:.2f} already committed")

    async def attempt(store: Store, index: int) -> None:
        try:
            await store.begin_create(
                request_id=None,
                fingerprint=f"f{index}",
                model="m",
                prompt=f"p{index}",
                payload={},
                estimate_usd=0.96,
                duplicate_since=None,
                windows=SpendingWindows(day=0, hour=0, minute=0),
                check=lambda spending: within_one_dollar(spending.today_usd),
            )
            outcomes.append("recorded")
        except LimitExceededError:
            outcomes.append("refused")

    async with anyio.create_task_group() as group:
        for index in range(6):
            group.start_soon(attempt, stores[index % 2], index)
    spent = await stores[0].committed_usd_since(0)
    for store in stores:
        await store.aclose()
    assert sorted(outcomes) == ["recorded"] + ["refused"] * 5 and spent == pytest.approx(0.96)


async def test_a_stale_write_from_another_process_never_takes_back_a_save(tmp_path: Path, location: Path | str) -> None:
    """Process A saved the video; process B, still holding its older copy, writes after it: the save stands."""
    path = location
    saved_video = tmp_path / "videos" / "heron.mp4"
    saved_video.parent.mkdir()
    saved_video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    one, two = await Store.open(path), await Store.open(path)
    stale = _generation()
    stale.status, stale.progress = "processing", 60
    await two.save_generation(stale)  # B knew it while it was rendering
    done = _generation()
    done.status, done.progress, done.download_state = "completed", 100, "saved"
    done.files = [SavedFile(path=str(saved_video), bytes=12, index=0)]
    await one.save_generation(done)  # A finished and saved it
    kept = await two.save_generation(stale)  # B writes its old copy afterwards
    stored = await one.generation(done.task_id)
    saved_video.unlink()  # the file is gone: a save that is no longer true gives way
    gone = await two.save_generation(stale)
    await one.aclose()
    await two.aclose()
    assert stored is not None and kept.status == stored.status == "completed" and stored.progress == 100
    assert stored.download_state == "saved" and [f.path for f in stored.files] == [str(saved_video)]
    assert gone.download_state == "none" and gone.files == [] and gone.status == "completed"


async def test_a_record_of_the_request_is_never_replaced_by_one_made_from_upstreams_answer_alone(
    location: Path | str,
) -> None:
    """A replica that knew only the task id wrote "(created outside this server)"; the replica that made it writes
    after (and the first writes again): the prompt, request, estimate and request_id stand, either way round."""
    outside = _generation(prompt=OUTSIDE_PROMPT, request={}, estimate=None, request_id=None, fingerprint=None)
    outside.status, outside.progress = "processing", 40
    real = _generation()
    store = await Store.open(location)
    try:
        await store.save_generation(outside)
        first = await store.save_generation(real)  # the real record, written once its database was back
        again = await store.save_generation(outside)  # the other replica's next poll
        outside.absorb(again)  # what that replica then holds
    finally:
        await store.aclose()
    for kept in (first, again, outside):
        assert (kept.prompt, kept.request_id, kept.request) == (real.prompt, "r-1", real.request)
        assert kept.estimate == real.estimate and not kept.outside
    assert again.status == "processing" and again.progress == 40  # its progress is still taken


async def test_a_cancel_stands_against_a_later_write_of_an_older_copy_until_someone_follows_again(
    location: Path | str,
) -> None:
    """Replica B stopped following the generation (its MCP task was cancelled); replica A, which polls it, writes its
    own copy afterwards: the cancel stands, and A takes it in. Asking about it again (a later decision) follows it."""
    polled = _generation()
    cancelled = _generation()
    cancelled.set_followed(False)
    store = await Store.open(location)
    try:
        await store.save_generation(cancelled)
        polled.progress = 70
        after_poll = await store.save_generation(polled)
        polled.absorb(after_poll)
        again = _generation()
        again.set_followed(True)
        resumed = await store.save_generation(again)
    finally:
        await store.aclose()
    assert (after_poll.followed, after_poll.progress, polled.followed) == (False, 70, False)
    assert resumed.followed is True


async def test_a_batch_is_keyed_by_its_principal_so_one_id_never_reaches_another_principals_batch(
    location: Path | str,
) -> None:
    """Two principals with the same batch id (ids are derived from what users send): two batches, each its owner's."""
    store = await Store.open(location)
    try:
        for principal, label in (("alice", "alice's promo"), ("oauth:alice\nweekly", "the attacker's")):
            record = BatchRecord(
                batch_id="batch-same",
                request_id="weekly",
                fingerprint="fp",
                label=label,
                estimate_usd=0.4,
                created_at=time.time(),
                updated_at=time.time(),
                principal=principal,
            )
            item = BatchItemRecord(
                batch_id="batch-same",
                principal=principal,
                position=0,
                arguments={},
                payload={},
                notes=[],
                request_id="weekly:fp:0",
                estimate_usd=0.4,
                duration=4,
            )
            stored, items, reused = await store.add_batch(record, [item], same_since=None)
            assert not reused and stored.label == label and [i.principal for i in items] == [principal]
        alices = await store.batch("batch-same", "alice")
        assert alices is not None and alices[0].label == "alice's promo"
        await store.update_batch_item(alices[1][0].model_copy(update={"state": "created", "task_id": "task-a"}))
        await store.cancel_batch("batch-same", "oauth:alice\nweekly", "cancelled by its owner")
        assert await store.batch_task_ids("batch-same", "alice") == ["task-a"]
        assert await store.batch_task_ids("batch-same", "oauth:alice\nweekly") == []
        attackers = await store.batch("batch-same", "oauth:alice\nweekly")
        assert attackers is not None and attackers[0].cancelled_at is not None and attackers[1][0].state == "cancelled"
        assert (await store.batch("batch-same", "alice") or alices)[0].cancelled_at is None
        assert await store.batch("batch-same", "local") is None
        assert await store.claim_batch("batch-same", "alice") and not await store.claim_batch("batch-same", "bob")
    finally:
        await store.aclose()


async def test_no_two_principals_ever_share_an_output_folder(location: Path | str) -> None:
    """A users-file name chosen to look like an OAuth subject's folder, names that differ in case only, and a user
    named after a reserved folder: each principal gets a folder of its own, recorded once."""
    store = await Store.open(location)
    try:
        lookalike = principal_folder("oauth:carol")  # what carol's folder would be: "oauth_carol-<hash>"
        assert lookalike is not None
        order = [lookalike, "oauth:carol", "Dave", "dave", "simulated", "SIMULATED"]
        folders = {principal: await store.assign_folder(principal, folder_candidates(principal)) for principal in order}
        assert len({folder.casefold() for folder in folders.values()}) == len(order), folders
        assert folders[lookalike] == lookalike and folders["Dave"] == "Dave"  # the first keeps the plain name
        assert not {folder.casefold() for folder in folders.values()} & RESERVED_FOLDERS
        again = Store.open(location)
        reopened = await again
        try:
            assert await reopened.principal_folders() == folders  # recorded: the same after a restart
            assert await reopened.assign_folder("oauth:carol", ["anything-else"]) == folders["oauth:carol"]
        finally:
            await reopened.aclose()
    finally:
        await store.aclose()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_a_nul_in_text_round_trips_as_itself_on_sqlite_and_as_a_replacement_character_on_postgres(
    engine: str, tmp_path: Path
) -> None:
    """PostgreSQL text cannot hold NUL (a hostile argument may carry one into a prompt or an error message): the
    store writes U+FFFD there instead of failing the write. SQLite keeps the text as it is."""
    prompt, message = "a heron\x00 at dawn", "upstream said \x00no"
    async with store_on(engine, tmp_path) as store:
        await store.save_generation(_generation(prompt=prompt, status="failed", error_message=message))
        loaded = await store.generation("task-unified-1-abc")
    kept = {"sqlite": lambda text: text, "postgres": lambda text: text.replace("\x00", "\ufffd")}[engine]
    assert loaded is not None
    assert (loaded.prompt, loaded.error_message) == (kept(prompt), kept(message))
