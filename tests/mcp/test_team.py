"""A server a team shares, through real HTTP client sessions: users with their own tokens, budgets and generations,
and OAuth access tokens of an issuer whose keys a loopback server of the test publishes.

One `veo-mcp serve --transport streamable-http --simulate` serves the whole module (it is a child process; every
client is the SDK's streamable-HTTP client sending `Authorization: Bearer <token>`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from tests.helpers import current_era, finish, make_image, text_of
from tests.mcp.task_client import TaskExtension, create_task, task_request
from tests.mcp.team_server import (
    LOCAL_TOKEN,
    Issuer,
    SigningKey,
    TeamServer,
    add_user,
    client_of,
    notifications_into,
    serving_jwks,
    serving_team,
)
from veo_mcp.context import principal_folder
from veo_mcp.evolink import estimate_cost, parse_video_request
from veo_mcp.local.posters import poster_path
from veo_mcp.users import new_token, read_users, token_hash, write_users

ONE_VIDEO_USD = estimate_cost(parse_video_request({"prompt": "x"})).usd or 0.0
NOWHERE = "task-unified-1700000000-nothere1"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with serving_jwks() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def signing_key(issuer: Issuer) -> SigningKey:
    key = SigningKey("key-1")
    issuer.keys.append(key.jwk)
    issuer.cache_control = "no-store"  # the server reads the key set at each token: a test's key change counts at once
    return key


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer, signing_key: SigningKey) -> Iterator[TeamServer]:
    with serving_team(tmp_path_factory.mktemp("team"), issuer, {"alice": {}}) as server:
        yield server


@pytest.fixture
def person(team: TeamServer, request: pytest.FixtureRequest) -> Callable[..., tuple[str, str]]:
    """A new user of the running server for this test alone (added to its users file): (name, token)."""

    def new(role: str, **limits: float) -> tuple[str, str]:
        name = f"{role}-{request.node.name.rsplit('[', 1)[-1].rstrip(']')}-{time.monotonic_ns() % 10**9}"
        return name, add_user(team.users_file, name, **limits)

    return new


def _same_shape(text: str, task_id: str) -> str:
    return text.replace(task_id, "<id>")


async def _generate(client: Client, prompt: str, **arguments: Any) -> dict[str, Any]:
    created = await client.call_tool("generate_video", {"prompt": prompt, **arguments})
    assert not created.is_error, text_of(created)
    return created.structured_content or {}


async def _refusal(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """A tool's refusal, whole (text, structured content, flags) as JSON: compared, two must be identical."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, (tool, text_of(result))
    return json.dumps(result.model_dump(mode="json"), sort_keys=True)


async def _resource_error(client: Client, uri: str) -> tuple[int, str]:
    with pytest.raises(MCPError) as refused:
        await client.read_resource(uri)
    return refused.value.error.code, refused.value.error.message


async def test_each_user_sees_only_their_own_generations_through_every_tool_and_resource(
    team: TeamServer, person: Callable[..., tuple[str, str]]
) -> None:
    (alice_name, alice_token), (erin_name, erin_token) = person("alice"), person("erin")
    async with client_of(team.url, alice_token) as alice, client_of(team.url, erin_token) as erin:
        created = await _generate(alice, "alice's heron at dawn", request_id="shared-id-1")
        task_id, uri = created["task_id"], created["uri"]
        assert (await finish(alice, task_id))["status"] == "completed"
        saved = await alice.call_tool("download_video", {"task_id": task_id})
        assert not saved.is_error, text_of(saved)
        shown = (saved.structured_content or {})["files"][0]["path"]
        assert not Path(shown).is_absolute()  # a name inside her own folder, no server path
        assert (team.output_dir / alice_name / shown).is_file()  # her own folder

        # Erin: nothing of Alice's is listed, and each id of Alice's reads exactly like an id nobody knows.
        listed = (await erin.call_tool("list_generations", {})).structured_content or {}
        assert listed["generations"] == [] and listed["total"] == 0
        assert (await erin.list_resources()).resources == []
        for tool, arguments in [
            ("get_generation", {}),
            ("wait_for_generation", {"timeout_seconds": 1}),
            ("download_video", {"subfolder": "stolen"}),
        ]:
            theirs = await _refusal(erin, tool, {"task_id": task_id, **arguments})
            unknown = await _refusal(erin, tool, {"task_id": NOWHERE, **arguments})
            assert _same_shape(theirs, task_id) == _same_shape(unknown, NOWHERE), tool
        theirs = await _refusal(erin, "combine_videos", {"task_ids": [task_id, task_id]})
        unknown = await _refusal(erin, "combine_videos", {"task_ids": [NOWHERE, NOWHERE]})
        assert _same_shape(theirs, task_id) == _same_shape(unknown, NOWHERE)
        for suffix in ("", "/poster"):
            code, message = await _resource_error(erin, uri + suffix)
            assert (code, _same_shape(message, task_id)) == (
                (await _resource_error(erin, f"veo://generations/{NOWHERE}{suffix}"))[0],
                _same_shape((await _resource_error(erin, f"veo://generations/{NOWHERE}{suffix}"))[1], NOWHERE),
            )
        assert not (team.output_dir / erin_name).exists()  # nothing was saved for her
        template = types.ResourceTemplateReference(type="ref/resource", uri="veo://generations/{task_id}")
        prefix = {"name": "task_id", "value": task_id[:12]}
        assert (await erin.complete(template, prefix)).completion.values == []
        assert (await alice.complete(template, prefix)).completion.values == [task_id]

        # The same request_id is Erin's own: a new generation of hers, not Alice's.
        own = await _generate(erin, "erin's fox in snow", request_id="shared-id-1")
        assert own["task_id"] != task_id and own.get("reused") is not True
        mine = (await erin.call_tool("list_generations", {})).structured_content or {}
        assert [g["task_id"] for g in mine["generations"]] == [own["task_id"]]
        hers = (await alice.call_tool("list_generations", {})).structured_content or {}
        assert own["task_id"] not in [g["task_id"] for g in hers["generations"]]
        assert task_id in [g["task_id"] for g in hers["generations"]]
        assert [r.uri for r in (await alice.list_resources()).resources] == [uri]  # hers only, not Erin's


async def test_batches_are_their_owners_alone(team: TeamServer, person: Callable[..., tuple[str, str]]) -> None:
    (_, alice_token), (_, erin_token) = person("alice"), person("erin")
    async with client_of(team.url, alice_token) as alice, client_of(team.url, erin_token) as erin:
        batch = await alice.call_tool(
            "generate_batch", {"items": [{"prompt": "shot one"}, {"prompt": "shot two"}], "request_id": "batch-x"}
        )
        assert not batch.is_error, text_of(batch)
        batch_id = (batch.structured_content or {})["batch_id"]
        theirs = await _refusal(erin, "get_batch", {"batch_id": batch_id})
        unknown = await _refusal(erin, "get_batch", {"batch_id": "batch-00000000000000000000"})
        assert _same_shape(theirs, batch_id) == _same_shape(unknown, "batch-00000000000000000000")
        listed = (await erin.call_tool("list_generations", {"batch_id": batch_id})).structured_content
        assert listed is None or listed.get("total", 0) == 0
        with pytest.raises(MCPError):
            await erin.read_resource(f"veo://batches/{batch_id}")
        # The same request_id and items are a batch of Erin's own, not Alice's.
        again = await erin.call_tool(
            "generate_batch", {"items": [{"prompt": "shot one"}, {"prompt": "shot two"}], "request_id": "batch-x"}
        )
        assert not again.is_error and (again.structured_content or {})["batch_id"] != batch_id
        state = (
            await alice.call_tool("wait_for_batch", {"batch_id": batch_id, "timeout_seconds": 20})
        ).structured_content
        assert state is not None and state["finished"], state


async def _batch_until(client: Client, batch_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """get_batch until `done(state)` holds (bounded: a queue that never moves fails the test)."""
    with anyio.fail_after(30):
        while True:
            state = (await client.call_tool("get_batch", {"batch_id": batch_id})).structured_content or {}
            if done(state):
                return state
            await anyio.sleep(0.05)


def _statuses(state: dict[str, Any]) -> list[str]:
    return [item["status"] for item in state["items"]]


async def test_one_users_held_queue_never_holds_anothers_and_its_note_is_theirs_alone(
    team: TeamServer, person: Callable[..., tuple[str, str]], era: str
) -> None:
    """Alice's batch outruns her own create-rate brake (VEO_MCP_MAX_CREATES_PER_MINUTE, 10 by default), so her queue
    waits out her minute; Bob's batch, queued after hers, is sent at once, and nothing Bob is told about his queue
    mentions her creates."""
    if era != "legacy":
        pytest.skip("the queue, not the protocol: once is enough")
    (_, alice_token), (_, bob_token) = person("alice"), person("bob")
    hers = {"items": [{"prompt": f"her shot {n}", "duration": 4} for n in range(12)], "confirm_cost": True}
    his = {"items": [{"prompt": f"his shot {n}", "duration": 4} for n in range(2)], "confirm_cost": True}
    async with client_of(team.url, alice_token) as alice, client_of(team.url, bob_token) as bob:
        alice_batch = ((await alice.call_tool("generate_batch", hers)).structured_content or {})["batch_id"]
        held = await _batch_until(alice, alice_batch, lambda s: "MAX_CREATES_PER_MINUTE" in (s["queue"] or ""))
        bob_batch = ((await bob.call_tool("generate_batch", his)).structured_content or {})["batch_id"]
        told: list[str | None] = []
        sent = await _batch_until(
            bob, bob_batch, lambda s: bool(told.append(s["queue"]) or all(i["task_id"] for i in s["items"]))
        )
        still = (await alice.call_tool("get_batch", {"batch_id": alice_batch})).structured_content or {}
    assert _statuses(held).count("queued") == 2 and "10 generations were started in the last 60" in held["queue"]
    assert _statuses(still).count("queued") == 2  # her minute is not over: she still waits, he did not
    assert len({item["task_id"] for item in sent["items"]}) == 2
    assert not [note for note in told if note and ("60 seconds" in note or "MAX_CREATES_PER_MINUTE" in note)]


async def test_a_users_daily_budget_refuses_their_next_create_and_nobody_elses(
    team: TeamServer, person: Callable[..., tuple[str, str]]
) -> None:
    (_, bob_token) = person("bob", daily_budget_usd=ONE_VIDEO_USD * 1.5)  # one video a day, not two
    (_, alice_token) = person("alice")
    async with client_of(team.url, bob_token) as bob, client_of(team.url, alice_token) as alice:
        await _generate(bob, "bob's first video of the day")
        refused = await _refusal(bob, "generate_video", {"prompt": "bob's second video"})
        assert "daily budget" in refused and f"${ONE_VIDEO_USD * 1.5:.2f}" in refused and "Nothing was sent" in refused
        await _generate(alice, "alice is not limited by bob's budget")
        await _generate(alice, "nor twice")


async def _erins_own(team: TeamServer, token: str) -> dict[str, Any]:
    """A saved generation of Erin's, made in a session of its own (its list change stays there)."""
    async with client_of(team.url, token) as erin:
        own = await _generate(erin, "erin's own kite", request_id=f"own-{time.monotonic_ns()}")
        await finish(erin, own["task_id"])
    return own


async def _watch_alice(
    team: TeamServer, erin: Client, alice: Client, heard: list[Any], own: dict[str, Any]
) -> tuple[str, str]:
    """Alice makes a generation and waits for it while Erin, subscribed to it, listens; its task id and URI.

    The positive control is on Erin's own channel: Erin is subscribed to a saved generation of her own (`own`) too;
    once Alice is done, Erin saves hers again into a subfolder, and the test waits until Erin hears that update.
    The server sends each listener's notifications in order, so anything of Alice's misrouted to Erin would have
    arrived before it: no sleep decides when to stop listening."""
    created = await _generate(alice, "alice's private kite", request_id=f"private-{time.monotonic_ns()}")
    task_id, uri = created["task_id"], created["uri"]

    def control_arrived() -> bool:
        return any(own["uri"] in repr(event) for event in heard)

    async def resaved_own() -> None:
        await erin.call_tool("download_video", {"task_id": own["task_id"], "subfolder": "again"})
        with anyio.fail_after(30):
            while not control_arrived():  # noqa: ASYNC110 - waiting on the notification itself
                await anyio.sleep(0.02)

    if current_era() == "legacy":
        await erin.subscribe_resource(uri)
        await erin.subscribe_resource(own["uri"])
        await alice.subscribe_resource(uri)
        assert (await finish(alice, task_id))["status"] == "completed"
        await resaved_own()
        return task_id, uri
    async with anyio.create_task_group() as group:

        async def listen(ready: anyio.Event) -> None:
            async with erin.listen(resource_subscriptions=[uri, own["uri"]], resources_list_changed=True) as stream:
                ready.set()
                async for event in stream:
                    heard.append(event)

        ready = anyio.Event()
        group.start_soon(listen, ready)
        await ready.wait()
        assert (await finish(alice, task_id))["status"] == "completed"
        await resaved_own()
        group.cancel_scope.cancel()
    return task_id, uri


async def test_a_subscription_hears_only_its_own_users_generations(
    team: TeamServer, person: Callable[..., tuple[str, str]]
) -> None:
    erin_heard: list[Any] = []
    alice_heard: list[Any] = []
    (_, alice_token), (_, erin_token) = person("alice"), person("erin")
    own = await _erins_own(team, erin_token)
    async with (
        client_of(team.url, erin_token, **notifications_into(erin_heard)) as erin,
        client_of(team.url, alice_token, **notifications_into(alice_heard)) as alice,
    ):
        await erin.list_resources()
        _, uri = await _watch_alice(team, erin, alice, erin_heard, own)
    about_it = [n for n in erin_heard if uri in repr(n) or isinstance(n, types.ResourceListChangedNotification)]
    assert about_it == [], erin_heard
    assert not any("resources/list_changed" in repr(n) or "ResourcesListChanged" in repr(n) for n in erin_heard)
    if current_era() == "legacy":  # and Alice herself heard hers, on the same kind of channel
        assert any(isinstance(n, types.ResourceUpdatedNotification) and n.params.uri == uri for n in alice_heard)
        assert not any(isinstance(n, types.LoggingMessageNotification) for n in erin_heard)


def _initialize(url: str, token: str | None) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    return httpx.post(url, json=body, headers=headers, timeout=10)


async def test_an_oauth_access_token_is_a_user_of_its_own(
    team: TeamServer, issuer: Issuer, signing_key: SigningKey
) -> None:
    token = signing_key.token(issuer.url, sub=f"carol@example.org/{time.monotonic_ns()}")
    async with client_of(team.url, token) as carol, client_of(team.url, team.tokens["alice"]) as alice:
        created = await _generate(carol, "carol signs in with her company")
        listed = (await carol.call_tool("list_generations", {})).structured_content or {}
        assert [g["task_id"] for g in listed["generations"]] == [created["task_id"]]
        assert created["task_id"] not in text_of(await alice.call_tool("list_generations", {}))


@pytest.mark.parametrize(
    "case", ["expired", "wrongly signed", "wrong audience", "wrong issuer", "no token", "garbage", "unknown kid"]
)
def test_refused_access_tokens_get_401_with_where_to_authenticate(
    team: TeamServer, issuer: Issuer, signing_key: SigningKey, case: str, era: str
) -> None:
    if era != "legacy":
        pytest.skip("plain HTTP: once is enough")
    other = SigningKey("key-1")  # same kid, another key: a forged signature
    tokens = {
        "expired": signing_key.token(issuer.url, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        "wrongly signed": other.token(issuer.url),
        "wrong audience": signing_key.token(issuer.url, aud="https://somewhere.else/mcp"),
        "wrong issuer": signing_key.token("https://issuer.example"),
        "no token": None,
        "garbage": "not.a.jwt",
        "unknown kid": SigningKey("key-9").token(issuer.url),
    }
    answer = _initialize(team.url, tokens[case])
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    metadata = re.search(r'resource_metadata="([^"]+)"', challenge)
    assert metadata is not None
    published = httpx.get(metadata.group(1), timeout=10).json()
    assert published["authorization_servers"] == [issuer.url + "/"] or published["authorization_servers"] == [
        issuer.url
    ]
    assert _initialize(team.url, signing_key.token(issuer.url)).status_code == 200  # the control


async def test_users_added_and_removed_while_the_server_runs(team: TeamServer, era: str) -> None:
    if era != "legacy":
        pytest.skip("the users file, not the protocol: once is enough")
    assert _initialize(team.url, "veo_nobody-yet").status_code == 401
    token = add_user(team.users_file, "dave")
    assert _initialize(team.url, token).status_code == 200
    async with client_of(team.url, token) as dave:
        listed = (await dave.call_tool("list_generations", {})).structured_content or {}
        assert listed["generations"] == [] and listed["total"] == 0
    # A broken file (edited in place, as a person does) keeps the users read before, and says so once.
    text = team.users_file.read_text()
    try:
        team.users_file.write_text(text + "\n[[users]\nbroken")
        assert _initialize(team.url, token).status_code == 200
        assert _initialize(team.url, token).status_code == 200
        warnings = [line for line in team.stderr_lines() if "not valid TOML" in line]
        assert len(warnings) == 1, warnings
    finally:
        team.users_file.write_text(text)  # the module's other tests share this server and its file
    current = read_users(team.users_file)
    del current["dave"]
    write_users(team.users_file, current)
    assert _initialize(team.url, token).status_code == 401
    assert _initialize(team.url, team.tokens["alice"]).status_code == 200


async def test_an_mcp_task_is_its_creators_alone(
    team: TeamServer, person: Callable[..., tuple[str, str]], era: str
) -> None:
    if era == "legacy":
        pytest.skip("the SDK client creates tasks on 2026-07-28 only (reading them on 2025 is the same book)")
    (_, alice_token), (_, erin_token) = person("alice"), person("erin")
    tasks = {"extensions": [TaskExtension()]}
    heard: list[dict[str, Any]] = []
    erin_heard: list[dict[str, Any]] = []
    done = anyio.Event()

    async def on_status(params: dict[str, Any]) -> None:
        heard.append(params)
        if params["status"] in ("completed", "failed", "cancelled"):
            done.set()

    async def on_erins_status(params: dict[str, Any]) -> None:
        erin_heard.append(params)

    async with (
        client_of(team.url, alice_token, **tasks) as alice,
        client_of(team.url, erin_token, **tasks) as erin,
        client_of(team.url, alice_token, mode="legacy", extensions=[TaskExtension(on_status)]) as alice_listening,
        client_of(team.url, erin_token, mode="legacy", extensions=[TaskExtension(on_erins_status)]) as erin_2025,
    ):
        created = await create_task(alice, {"prompt": "alice's task"})
        own = await task_request(alice_listening, "tasks/get", {"taskId": created.task_id})  # she now hears it
        assert own["taskId"] == created.task_id
        # tasks/result (2025) on Alice's task: refused like an unknown id, and no watch is opened for Erin.
        refusals = []
        for task_id in (created.task_id, "no-such-task"):
            with pytest.raises(MCPError) as refused:
                await task_request(erin_2025, "tasks/result", {"taskId": task_id})
            refusals.append((refused.value.error.code, _same_shape(refused.value.error.message, task_id)))
        assert refusals[0] == refusals[1]
        for method in ("tasks/get", "tasks/cancel", "tasks/update"):
            answers = []
            for task_id in (created.task_id, "no-such-task"):
                with pytest.raises(MCPError) as refused:
                    await task_request(erin, method, {"taskId": task_id})
                answers.append((refused.value.error.code, _same_shape(refused.value.error.message, task_id)))
            assert answers[0] == answers[1], method
        with anyio.fail_after(20):  # Erin's questions took nothing from Alice: she still hears her task end
            await done.wait()
        assert {h["taskId"] for h in heard} == {created.task_id} and heard[-1]["status"] == "completed"
        await task_request(erin_2025, "tasks/list")  # a round trip after Alice's last notification
        assert erin_heard == []  # not one status of Alice's task, down to "Done: saved …"
    # tasks/list is a 2025-era method: each user lists only their own tasks.
    async with (
        client_of(team.url, alice_token, mode="legacy") as alice,
        client_of(team.url, erin_token, mode="legacy") as erin,
    ):
        assert (await task_request(erin, "tasks/list")).get("tasks") == []
        listed = await task_request(alice, "tasks/list")
        assert [t["taskId"] for t in listed["tasks"]] == [created.task_id]


async def test_a_remote_user_cannot_read_the_servers_files_as_images(
    team: TeamServer, person: Callable[..., tuple[str, str]]
) -> None:
    """image_files names files on the server's disk: a remote user must not send another user's poster frame or the
    operator's pictures to EvoLink, nor learn which files exist there (VEO_MCP_IMAGE_DIRS holds all of it here, as
    the default, the home folder, does)."""
    (_, alice_token), (_, erin_token) = person("alice"), person("erin")
    folder = team.output_dir.parent
    photo = make_image(folder / f"operator-photo-{time.monotonic_ns()}.png", (200, 40, 40))
    async with client_of(team.url, alice_token) as alice, client_of(team.url, erin_token) as erin:
        task_id = (await _generate(alice, "alice's secret storyboard frame"))["task_id"]
        assert (await finish(alice, task_id))["status"] == "completed"
        assert not (await alice.call_tool("download_video", {"task_id": task_id})).is_error
        await alice.read_resource(f"veo://generations/{task_id}/poster")
        poster = poster_path(folder / "data", task_id)
        assert poster.is_file()

        def calls(path: str) -> list[tuple[str, dict[str, Any]]]:
            return [
                ("estimate_cost", {"prompt": "x", "image_files": [path]}),
                ("generate_video", {"prompt": "x", "image_files": [path], "confirm_cost": True}),
                ("generate_batch", {"items": [{"prompt": "x", "image_files": [path]}], "confirm_cost": True}),
            ]

        absent = str(folder / "absent.png")
        for path in (str(poster), str(photo)):
            for (tool, arguments), (_, nowhere) in zip(calls(path), calls(absent), strict=True):
                refused = text_of(await erin.call_tool(tool, arguments))
                assert "image_urls" in refused and "image_files" in refused, (tool, refused)
                # The same refusal as for a file that does not exist: it says nothing of what is there.
                assert refused.replace(path, "<p>") == text_of(await erin.call_tool(tool, nowhere)).replace(
                    absent, "<p>"
                ), tool
        assert ((await erin.call_tool("list_generations", {})).structured_content or {})["total"] == 0


async def test_a_rotated_token_stops_working_even_when_the_file_keeps_its_size_and_time(
    team: TeamServer, era: str
) -> None:
    """The file is replaced the way `cp -p` or `rsync -t` would (or twice within one timestamp tick): same size,
    same modification time. The old token must stop working all the same."""
    if era != "legacy":
        pytest.skip("the users file, not the protocol: once is enough")
    old = add_user(team.users_file, "frank")
    assert _initialize(team.url, old).status_code == 200
    before = team.users_file.stat()
    users = read_users(team.users_file)
    new = new_token()
    users["frank"] = replace(users["frank"], token_sha256=token_hash(new))
    write_users(team.users_file, users)
    os.utime(team.users_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert team.users_file.stat().st_size == before.st_size
    assert _initialize(team.url, old).status_code == 401
    assert _initialize(team.url, new).status_code == 200


async def test_another_users_id_reads_like_an_unknown_one_to_the_local_user_too(
    team: TeamServer, person: Callable[..., tuple[str, str]]
) -> None:
    """The local user (VEO_MCP_HTTP_TOKEN) may look up ids upstream that this server does not know; an id of another
    user's must still read exactly like one nobody has, not like one that exists elsewhere on the server."""
    (_, alice_token) = person("alice")
    async with client_of(team.url, alice_token) as alice, client_of(team.url, LOCAL_TOKEN) as local:
        task_id = (await _generate(alice, "alice's heron, not the local user's"))["task_id"]
        assert (await finish(alice, task_id))["status"] == "completed"
        for tool, arguments in [
            ("get_generation", {}),
            ("wait_for_generation", {"timeout_seconds": 1}),
            ("download_video", {}),
        ]:
            theirs = await _refusal(local, tool, {"task_id": task_id, **arguments})
            unknown = await _refusal(local, tool, {"task_id": NOWHERE, **arguments})
            assert _same_shape(theirs, task_id) == _same_shape(unknown, NOWHERE), tool
        theirs = await _refusal(local, "combine_videos", {"task_ids": [task_id, task_id]})
        unknown = await _refusal(local, "combine_videos", {"task_ids": [NOWHERE, NOWHERE]})
        assert _same_shape(theirs, task_id) == _same_shape(unknown, NOWHERE)
        code, message = await _resource_error(local, f"veo://generations/{task_id}")
        assert (code, _same_shape(message, task_id)) == (
            (await _resource_error(local, f"veo://generations/{NOWHERE}"))[0],
            _same_shape((await _resource_error(local, f"veo://generations/{NOWHERE}"))[1], NOWHERE),
        )


async def test_a_request_id_with_a_newline_never_reaches_another_users_batch(
    team: TeamServer, person: Callable[..., tuple[str, str]], era: str
) -> None:
    """`request_id="alice\\nweekly-promo"` once derived Alice's batch id: it must be a batch of the caller's own,
    whichever of the two submits first, and the victim's retry must find only her own batch."""
    if era != "legacy":
        pytest.skip("batch ids, not the protocol: once is enough")
    (alice_name, alice_token), (erin_name, erin_token) = person("alice"), person("erin")
    items = {"items": [{"prompt": f"promo shot {n} {time.monotonic_ns()}"} for n in (1, 2)]}
    async with (
        client_of(team.url, alice_token) as alice,
        client_of(team.url, erin_token) as erin,
        client_of(team.url, LOCAL_TOKEN) as attacker,
    ):
        hers = await alice.call_tool("generate_batch", {**items, "request_id": "weekly-promo"})
        assert not hers.is_error, text_of(hers)
        stolen = await attacker.call_tool("generate_batch", {**items, "request_id": f"{alice_name}\nweekly-promo"})
        assert not stolen.is_error, text_of(stolen)
        her_batch, their_batch = hers.structured_content or {}, stolen.structured_content or {}
        assert their_batch["reused"] is False and their_batch["batch_id"] != her_batch["batch_id"]
        her_tasks = {item["task_id"] for item in her_batch["items"]} - {None}
        assert not her_tasks & {item["task_id"] for item in their_batch["items"]}
        # The attacker first: the victim's own call is still her own new batch.
        planted = await attacker.call_tool("generate_batch", {**items, "request_id": f"{erin_name}\nweekly-promo"})
        own = await erin.call_tool("generate_batch", {**items, "request_id": "weekly-promo"})
        assert not own.is_error and (own.structured_content or {})["reused"] is False
        assert (own.structured_content or {})["batch_id"] != (planted.structured_content or {})["batch_id"]


def test_a_signing_key_the_issuer_drops_stops_working(team: TeamServer, issuer: Issuer, era: str) -> None:
    """The issuer's answer says how long its key set may be kept (here: not at all); once it stops publishing a key,
    a token signed with it is refused, though its `kid` was trusted a moment before."""
    if era != "legacy":
        pytest.skip("plain HTTP: once is enough")
    leaked = SigningKey(f"key-leaked-{time.monotonic_ns()}")
    issuer.keys.append(leaked.jwk)
    try:
        token = leaked.token(issuer.url, sub=f"mallory-{time.monotonic_ns()}")
        assert _initialize(team.url, token).status_code == 200
        issuer.keys.remove(leaked.jwk)
        assert _initialize(team.url, token).status_code == 401
    finally:
        if leaked.jwk in issuer.keys:
            issuer.keys.remove(leaked.jwk)


async def test_principals_whose_names_look_alike_never_share_a_folder(
    team: TeamServer, issuer: Issuer, signing_key: SigningKey, era: str
) -> None:
    """A users-file name made to equal an OAuth subject's folder name, that subject, and a user named `simulated`
    (the local user's test-pattern folder): each one's videos land in a folder of their own."""
    if era != "legacy":
        pytest.skip("folders, not the protocol: once is enough")
    sub = f"carol-{time.monotonic_ns()}"
    lookalike = principal_folder(f"oauth:{sub}")
    assert lookalike is not None
    tokens = {
        "lookalike": add_user(team.users_file, lookalike),
        "simulated": add_user(team.users_file, "simulated") if "simulated" not in read_users(team.users_file) else "",
        "oauth": signing_key.token(issuer.url, sub=sub),
    }
    if not tokens["simulated"]:
        pytest.skip("the module's server already has a user named simulated")
    saved: dict[str, Path] = {}
    for who in ("lookalike", "oauth", "simulated"):  # the look-alike first: it takes the plain name
        async with client_of(team.url, tokens[who]) as client:
            task_id = (await _generate(client, "the same film, by three people"))["task_id"]
            await finish(client, task_id)
            downloaded = await client.call_tool("download_video", {"task_id": task_id})
            assert not downloaded.is_error, text_of(downloaded)
            name = (downloaded.structured_content or {})["files"][0]["path"]
            matches = list(team.output_dir.rglob(Path(name).name))
            assert len(matches) == 1, matches
            saved[who] = matches[0].relative_to(team.output_dir)
    owners = {path.parts[0] for path in saved.values()}
    assert len(owners) == 3, saved  # three folders, not two
    assert saved["simulated"].parts[0] != "simulated"  # not the local user's test patterns' folder


async def test_a_remote_user_is_shown_names_inside_their_folder_and_links_never_server_paths(
    team: TeamServer, person: Callable[..., tuple[str, str]], era: str
) -> None:
    """Every answer a users-file user gets about saved videos (tools, the generation resource, the batch, the joined
    film, an MCP task's final status) names files inside their own folder, with a link; no server path."""
    if era != "legacy":
        pytest.skip("the answers' words, once")
    name, token = person("remote")
    server_paths = {str(team.output_dir), str(team.output_dir.resolve()), str(team.output_dir.parent)}
    answers: list[str] = []

    def keep(result: types.CallToolResult) -> dict[str, Any]:
        assert not result.is_error, text_of(result)
        answers.append(json.dumps(result.model_dump(mode="json")))
        return result.structured_content or {}

    async with client_of(team.url, token) as client:
        queued = keep(
            await client.call_tool("generate_batch", {"items": [{"prompt": "first shot"}, {"prompt": "second shot"}]})
        )
        for _ in range(30):
            report = keep(
                await client.call_tool("wait_for_batch", {"batch_id": queued["batch_id"], "timeout_seconds": 20})
            )
            if report["finished"] and all(item["files"] for item in report["items"]):
                break
            await anyio.sleep(0.1)
        task_ids = [item["task_id"] for item in report["items"]]
        keep(await client.call_tool("get_batch", {"batch_id": queued["batch_id"]}))
        keep(await client.call_tool("get_generation", {"task_id": task_ids[0]}))
        keep(await client.call_tool("wait_for_generation", {"task_id": task_ids[0], "timeout_seconds": 5}))
        downloaded = keep(await client.call_tool("download_video", {"task_id": task_ids[0], "subfolder": "drafts"}))
        keep(await client.call_tool("list_generations", {}))
        film = keep(await client.call_tool("combine_videos", {"task_ids": task_ids}))
        resource = await client.read_resource(f"veo://generations/{task_ids[0]}")
        answers.append(json.dumps(resource.model_dump(mode="json")))
    async with client_of(team.url, token, mode="auto", extensions=[TaskExtension()]) as tasks:
        # The same request again, as a task: the duplicate guard answers with the saved video at once.
        finished = await tasks.call_tool("generate_video", {"prompt": "first shot"})
        answers.append(json.dumps(finished.model_dump(mode="json")))
    for answer in answers:
        assert not any(path in answer for path in server_paths), answer
    shown = downloaded["files"][0]["path"]
    assert downloaded["output_dir"] == "." and not Path(shown).is_absolute() and "drafts/" in shown, shown
    assert film["path"].endswith(".mp4") and "/" not in film["path"].removeprefix("simulated/")
    async with httpx.AsyncClient(timeout=10) as fetch:
        assert (await fetch.get(downloaded["files"][0]["url"])).status_code == 200  # the link reaches the file
        assert (await fetch.get(film["url"])).status_code == 200
    assert name
