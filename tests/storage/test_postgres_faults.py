"""The PostgreSQL store when the network or the server misbehaves: a dropped connection (a restart, a failover, a
proxy cut) is reopened on the next call, a transaction that lost its connection fails typed and is never finished on
another, an unreachable server says so with advice and without the URL's password, and the heartbeat that decides
whether a replica lives is judged by the database's clock, not by each replica's own.

The network is cut with a small TCP forwarder between the store and the test cluster (the shared cluster itself is
never restarted)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from tests.network import Forwarder
from tests.postgres import fresh_schema
from veo_mcp.storage import DatabaseWriteError, Store, StoreError, replicas
from veo_mcp.storage.changes import ChangeFeed
from veo_mcp.storage.database import transaction
from veo_mcp.storage.owners import LAPSE_S

PASSWORD = "hunter2-not-for-logs"
OTHER = "another-machine|4242|token"


@pytest.fixture
def forwarded() -> Iterator[tuple[str, Forwarder]]:
    """A fresh schema's URL (with a password the trust-auth test cluster ignores) through a `Forwarder`."""
    with fresh_schema() as url:
        forwarder = Forwarder.to(url)
        try:
            yield forwarder.url_for(url, PASSWORD), forwarder
        finally:
            forwarder.close()


@pytest.fixture
async def store(forwarded: tuple[str, Forwarder]) -> AsyncIterator[Store]:
    opened = await Store.open(forwarded[0])
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_a_dropped_connection_is_reopened_on_the_next_call(
    store: Store, forwarded: tuple[str, Forwarder]
) -> None:
    await store.heartbeat()
    forwarded[1].cut()
    forwarded[1].restore()
    assert await store.generations() == []  # a read right after the drop
    await store.heartbeat()  # and a write
    assert await store.poll_claims() == {}


async def test_an_unreachable_database_is_a_typed_error_with_advice_and_no_password(
    store: Store, forwarded: tuple[str, Forwarder]
) -> None:
    forwarded[1].cut()
    with pytest.raises(DatabaseWriteError) as raised:
        await store.generations()
    text = str(raised.value)
    assert PASSWORD not in text and "***" in text, text
    assert "PostgreSQL" in raised.value.advice and "disk" not in raised.value.advice, raised.value.advice
    forwarded[1].restore()
    assert await store.generations() == []  # recovered once the server is back


async def test_a_transaction_that_lost_its_connection_fails_and_is_not_finished_on_a_new_one(
    store: Store, forwarded: tuple[str, Forwarder]
) -> None:
    def work(db: object) -> None:
        with transaction(db):  # type: ignore[arg-type]
            db.execute("INSERT INTO processes (owner, seen_at) VALUES (?, ?)", ("first", 1.0))  # type: ignore[attr-defined]
            forwarded[1].cut()
            forwarded[1].restore()
            db.execute("INSERT INTO processes (owner, seen_at) VALUES (?, ?)", ("second", 2.0))  # type: ignore[attr-defined]

    with pytest.raises(DatabaseWriteError):
        await store._run(work)  # type: ignore[arg-type]
    rows = await store._rows("SELECT owner FROM processes")
    assert rows == []  # neither half was committed


async def test_a_server_that_refuses_at_start_is_a_store_error_without_the_password(
    forwarded: tuple[str, Forwarder],
) -> None:
    forwarded[1].cut()
    with pytest.raises(StoreError) as raised:
        await Store.open(forwarded[0])
    assert PASSWORD not in str(raised.value) and "VEO_MCP_DATABASE_URL" in str(raised.value)


async def test_a_schema_it_cannot_create_tables_in_is_a_store_error_with_advice() -> None:
    with fresh_schema() as url:
        missing = url.rsplit("%3D", 1)[0] + "%3Dno_such_schema_here"
        parts = urlsplit(missing)
        with_password = urlunsplit(parts._replace(netloc=f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}"))
        with pytest.raises(StoreError) as raised:
            await Store.open(with_password)
    text = str(raised.value)
    assert PASSWORD not in text and "no_such_schema_here" in text and "VEO_MCP_DATABASE_URL" in text, text


async def test_a_literal_percent_in_a_statement_with_parameters_is_kept(store: Store) -> None:
    rows = await store._rows("SELECT '100% sure?' AS said, ? AS n", (7,))
    assert (rows[0]["said"], rows[0]["n"]) == ("100% sure?", 7)
    assert (await store._rows("SELECT 'a%b' AS said"))[0]["said"] == "a%b"


async def test_a_replica_whose_clock_runs_behind_keeps_its_claims(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica OTHER's clock is 30 s behind: its fresh heartbeat must not read as lapsed (nor a dead one as alive
    when its clock runs ahead)."""
    await store._write(
        "INSERT INTO poll_claims (task_id, owner, claimed_at) VALUES (?, ?, ?)", ("task-1", OTHER, time.time())
    )
    real_time = time.time
    with monkeypatch.context() as other:  # what OTHER runs, on its machine
        other.setattr(replicas, "process_owner", lambda: OTHER)
        other.setattr(replicas.time, "time", lambda: real_time() - 3 * LAPSE_S)
        await store.heartbeat()
    assert await store.owner_alive(OTHER) is True
    assert await store.claim_poll("task-1") is False
    with monkeypatch.context() as other:  # its clock now runs ahead; then it dies
        other.setattr(replicas, "process_owner", lambda: OTHER)
        other.setattr(replicas.time, "time", lambda: real_time() + 3 * LAPSE_S)
        await store.heartbeat()
    await store._write("UPDATE processes SET seen_at = seen_at - ? WHERE owner = ?", (LAPSE_S + 1, OTHER))
    assert await store.owner_alive(OTHER) is False


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://veo:SECRET@db.internal:5432/veo",
        "postgresql://veo:SE@CRET@db.internal/veo",  # an unencoded @ in the password
        "postgresql://veo:SE/CRET@db.internal/veo",
        "postgresql://veo@db.internal/veo?sslmode=require&password=SECRET",
        "postgres://db.internal/veo?password=SECRET&options=-csearch_path%3Dx",
        "postgres://db.internal/veo?sslmode=require&Password=SECRET",  # the parameter in any case
    ],
)
def test_no_form_of_password_in_a_url_survives_redaction(url: str) -> None:
    from veo_mcp.storage.postgres import redact_url

    redacted = redact_url(url)
    assert "SE" not in redacted and "CRET" not in redacted and "db.internal" in redacted, redacted


async def test_a_refused_password_in_the_query_never_reaches_the_error() -> None:
    with fresh_schema() as url:
        parts = urlsplit(url)
        refused = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:1", query=f"password={PASSWORD}"))
    with pytest.raises(StoreError) as raised:
        await Store.open(refused)
    said = str(raised.value)
    assert PASSWORD not in said, said
    # Where it looked and what to check: the URL (password hidden) and the server behind it.
    assert said.startswith("veo-mcp cannot reach its database at postgresql://"), said
    assert said.endswith("Check VEO_MCP_DATABASE_URL and that the server is running."), said


async def test_the_change_feed_hears_again_after_its_link_drops_and_rereads_what_it_missed() -> None:
    """Replicas hear each other's changes over LISTEN. When the listening link drops (a restart, a proxy cut), the
    feed reconnects by itself and asks for a re-read of everything changed meanwhile (a notification sent while it
    was away is lost for good), then hears new changes again."""
    with fresh_schema() as direct:
        forwarder = Forwarder.to(direct)
        listener, other = ChangeFeed(forwarder.url_for(direct), 5.0), ChangeFeed(direct, 5.0)
        heard: list[str] = []
        news, back = anyio.Event(), anyio.Event()
        rereads = 0

        async def on_heard(task_id: str) -> None:
            nonlocal news
            heard.append(task_id)
            news.set()
            news = anyio.Event()

        async def on_reconnected() -> None:
            nonlocal rereads
            rereads += 1
            back.set()

        try:
            async with anyio.create_task_group() as group:
                await group.start(listener.run, on_heard, on_reconnected)
                waiting = news
                await other.notify("task-before")
                with anyio.fail_after(10):
                    await waiting.wait()
                assert (heard, rereads) == (["task-before"], 0)  # the first connection is no reconnect
                forwarder.cut()
                await other.notify("task-while-away")  # nobody listening: only a re-read can find it
                forwarder.restore()
                with anyio.fail_after(20):
                    await back.wait()
                waiting = news
                await other.notify("task-after")
                with anyio.fail_after(10):
                    await waiting.wait()
                group.cancel_scope.cancel()
        finally:
            await listener.aclose()
            await other.aclose()
            forwarder.close()
    assert rereads == 1 and heard == ["task-before", "task-after"]


async def test_a_notify_whose_link_dropped_reconnects_once_and_one_that_cannot_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NOTIFY after a change: a sending link that dropped since the last change is replaced at once (the other
    replicas still hear it, nothing is logged); a database that cannot be reached is logged once, without the
    password, and the change stands (they read the database on their own schedule)."""
    heard: list[str] = []
    arrived = anyio.Event()

    async def on_heard(task_id: str) -> None:
        heard.append(task_id)
        if task_id == "task-after-the-drop":
            arrived.set()

    async def on_reconnected() -> None:
        return None

    caplog.set_level("WARNING", logger="veo_mcp.storage.changes")
    with fresh_schema() as direct:
        forwarder = Forwarder.to(direct)
        feed, listener = ChangeFeed(forwarder.url_for(direct, PASSWORD), 5.0), ChangeFeed(direct, 5.0)
        try:
            async with anyio.create_task_group() as group:
                await group.start(listener.run, on_heard, on_reconnected)
                await feed.notify("task-first")  # opens the sending link
                forwarder.cut()
                forwarder.restore()  # the sending link is dead; the next notify must notice and open another
                with anyio.fail_after(20):
                    await feed.notify("task-after-the-drop")
                    await arrived.wait()
                assert [r.getMessage() for r in caplog.records if r.name == "veo_mcp.storage.changes"] == []
                forwarder.cut()
                with anyio.fail_after(20):
                    await feed.notify("task-unheard")
                group.cancel_scope.cancel()
        finally:
            await feed.aclose()
            await listener.aclose()
            forwarder.close()
    said = [r.getMessage() for r in caplog.records if r.name == "veo_mcp.storage.changes"]
    assert len(said) == 1 and said[0].startswith("could not tell other replicas about task-unheard: "), said
    assert PASSWORD not in said[0] and heard == ["task-first", "task-after-the-drop"]
