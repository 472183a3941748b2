"""The users file and the keys of an OAuth issuer, on their own: how tokens are stored and matched, what a broken file
does to a running server, and when the issuer's key set is read again."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import service_settings
from tests.mcp.team_server import AUDIENCE, SigningKey, serving_jwks
from veo_mcp.cli import users as users_cli
from veo_mcp.context import LOCAL_PRINCIPAL, acting_as, principal_folder
from veo_mcp.mcp.auth import JWKS_LIFETIME_S, JwksKeys, JwtChecker, key_set_lifetime
from veo_mcp.money.ledger import CreateLedger
from veo_mcp.storage import Store
from veo_mcp.users import User, UsersFile, UsersFileError, new_token, read_users, token_hash, write_users


def test_users_add_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(tmp_path: Path) -> None:
    users = tmp_path / "team.toml"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    command = [sys.executable, "-m", "veo_mcp", "users"]
    added = subprocess.run(
        [*command, "add", "alice", "--file", str(users), "--daily-budget", "5", "--confirm-above", "1.5"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    token = lines[-1]
    assert lines == [token] and token == token.strip() and len(token) >= 40  # alone, and nothing else on stdout
    assert "alice" in added.stderr and token not in added.stderr
    text = users.read_text()
    assert token not in text and token_hash(token) in text
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert read_users(users) == {
        "alice": User(name="alice", token_sha256=token_hash(token), daily_budget_usd=5.0, confirm_threshold_usd=1.5)
    }
    listed = subprocess.run(
        [*command, "list", "--json"],
        env={**environment, "VEO_MCP_USERS_FILE": str(users)},  # --file defaults to VEO_MCP_USERS_FILE
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0 and '"name": "alice"' in listed.stdout and token_hash(token) not in listed.stdout
    again = subprocess.run(
        [*command, "add", "alice", "--file", str(users)], env=environment, capture_output=True, text=True, check=False
    )
    assert again.returncode == 2 and "already has a user 'alice'" in again.stderr and again.stdout == ""
    removed = subprocess.run(
        [*command, "remove", "alice", "--file", str(users)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert removed.returncode == 0 and read_users(users) == {}


@pytest.mark.parametrize(
    "name", ["local", "oauth:carol", "", "-dash", "a b", "../up", "x" * 65, "alice\\n", "alice\\r\\n", "bob\\u2028"]
)
def test_names_that_could_collide_or_escape_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "team.toml"
    write_users(path, {})
    path.write_text(f'[[users]]\nname = "{name}"\ntoken_sha256 = "{"0" * 64}"\n')
    with pytest.raises(UsersFileError):
        read_users(path)


def test_a_token_matches_only_its_own_user(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    alice, bob = new_token(), new_token()
    write_users(
        path,
        {
            "alice": User(name="alice", token_sha256=token_hash(alice)),
            "bob": User(name="bob", token_sha256=token_hash(bob)),
        },
    )
    users = UsersFile(path)
    assert users.lookup(alice) == User(name="alice", token_sha256=token_hash(alice))
    assert users.lookup(bob) is not None and users.lookup(bob).name == "bob"  # type: ignore[union-attr]
    for wrong in (alice[:-1], alice + "=", token_hash(alice), "", bob.upper()):
        assert users.lookup(wrong) is None


class Clock:
    """The users file's clock, moved by the test (the grace is measured on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_file_caught_empty_mid_edit_keeps_its_users_and_an_emptied_one_lets_nobody_in_after_the_grace(
    tmp_path: Path,
) -> None:
    """An editor (or `>`) truncates the file before writing it again: a server reading in between must not drop
    everyone. `veo-mcp users` never writes an empty file (removing the last user leaves `users = []`)."""
    path = tmp_path / "team.toml"
    alice = new_token()
    write_users(path, {"alice": User(name="alice", token_sha256=token_hash(alice))})
    clock = Clock()
    users = UsersFile(path, grace_s=30, clock=clock)
    assert users.lookup(alice) is not None
    text = path.read_text()
    path.write_text("")  # the edit has begun
    assert users.lookup(alice) is not None
    path.write_text(text + "\n")  # and ended
    assert users.lookup(alice) is not None
    path.write_text("")  # left empty
    assert users.lookup(alice) is not None  # for the grace
    clock.now += 30.1
    assert users.lookup(alice) is None  # past the grace: fail closed, as for any unusable file
    write_users(path, {})  # the last user removed: a file with no users, read as such at once
    assert path.read_text().strip() and read_users(path) == {}


def test_a_running_server_rereads_the_file_and_keeps_the_last_good_users_for_the_grace_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "team.toml"
    alice, bob = new_token(), new_token()
    write_users(path, {"alice": User(name="alice", token_sha256=token_hash(alice))})
    clock = Clock()
    users = UsersFile(path, grace_s=30, clock=clock)
    assert users.lookup(bob) is None
    write_users(path, {**read_users(path), "bob": User(name="bob", token_sha256=token_hash(bob))})
    assert users.lookup(bob) is not None  # picked up without a restart
    with caplog.at_level(logging.WARNING, logger="veo_mcp.users"):
        path.write_text(path.read_text() + "\n[[users]\n")
        assert users.lookup(alice) is not None and users.lookup(bob) is not None
        clock.now += 29.9  # within the grace
        assert users.lookup(alice) is not None
        clock.now += 0.2  # past it: fail closed
        assert users.lookup(alice) is None and users.lookup(bob) is None
        assert users.lookup(alice) is None
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages  # once when it broke, once when the grace ended; not one per request
    assert "not valid TOML" in messages[0] and "for at most 30 s (VEO_MCP_USERS_FILE_GRACE)" in messages[0]
    assert "nobody from the users file is let in until it is fixed" in messages[1]
    write_users(path, {"bob": User(name="bob", token_sha256=token_hash(bob))})
    assert users.lookup(alice) is None and users.lookup(bob) is not None  # fixed: in again at once
    path.unlink()  # deleted: the same grace, then nobody
    assert users.lookup(bob) is not None
    clock.now += 31
    assert users.lookup(bob) is None
    write_users(path, {"bob": User(name="bob", token_sha256=token_hash(bob))})
    assert users.lookup(bob) is not None


def test_a_users_file_writable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    alice = new_token()
    write_users(path, {"alice": User(name="alice", token_sha256=token_hash(alice))})
    clock = Clock()
    users = UsersFile(path, grace_s=0, clock=clock)
    assert users.lookup(alice) is not None
    for mode in (0o620, 0o602, 0o666):
        path.chmod(mode)
        with pytest.raises(UsersFileError, match="chmod 600"):
            read_users(path)
        with pytest.raises(UsersFileError, match="anyone who can write it can let themselves in"):
            UsersFile(path)  # the server does not start with it
        assert users.lookup(alice) is None  # a running server lets nobody from it in (no grace here)
    path.chmod(0o600)
    assert users.lookup(alice) is not None


def test_a_removed_user_or_a_new_token_is_told_to_the_revoked_listeners(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    tokens = {name: new_token() for name in ("alice", "bob", "carol")}
    write_users(path, {n: User(name=n, token_sha256=token_hash(t)) for n, t in tokens.items()})
    users = UsersFile(path)
    told: list[set[str]] = []
    users.revoked.append(told.append)
    current = read_users(path)
    del current["alice"]
    current["bob"] = User(name="bob", token_sha256=token_hash(new_token()))  # rotated
    current["carol"] = User(name="carol", token_sha256=current["carol"].token_sha256, daily_budget_usd=2.0)
    write_users(path, current)
    users.refresh()
    assert told == [{"alice", "bob"}]  # carol's new budget is not a revocation


def test_concurrent_adds_and_a_racing_remove_lose_nothing(tmp_path: Path) -> None:
    """Twenty `users add` and one `users remove` at the same instant (each on its own lock file handle, as separate
    processes would be): every added user is there, and the removed one is gone."""
    path = tmp_path / "team.toml"
    write_users(path, {"leaver": User(name="leaver", token_sha256=token_hash(new_token()))})
    names = [f"user-{n}" for n in range(20)]
    start = threading.Barrier(len(names) + 1)
    failures: list[BaseException] = []

    def run(work: Callable[[], object]) -> None:
        start.wait()
        try:
            work()
        except BaseException as error:  # collected: a thread's exception would vanish
            failures.append(error)

    arguments = {"daily_budget": None, "confirm_above": None}
    threads = [
        threading.Thread(
            target=run, args=(lambda n=name: users_cli._add(path, argparse.Namespace(name=n, **arguments)),)
        )
        for name in names
    ]
    threads.append(threading.Thread(target=run, args=(lambda: users_cli._remove(path, "leaver"),)))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert sorted(read_users(path)) == sorted(names)


def test_every_principal_gets_a_folder_of_its_own_and_the_local_user_none() -> None:
    assert principal_folder(LOCAL_PRINCIPAL) is None
    assert principal_folder("alice") == "alice"
    folders = {principal_folder(p) for p in ("oauth:carol@example.org", "oauth_carol_example.org", "oauth:../etc")}
    assert len(folders) == 3
    for folder in folders:
        assert folder is not None and "/" not in folder and ":" not in folder and not folder.startswith(".")


async def test_the_issuers_keys_are_cached_and_read_again_for_an_unknown_key_id_at_most_so_often() -> None:
    with serving_jwks() as issuer:
        first, second = SigningKey("k1"), SigningKey("k2")
        issuer.keys.append(first.jwk)
        keys = JwksKeys(issuer.url + "/.well-known/jwks.json", refetch_after_s=3600)
        checker = JwtChecker(issuer.url, AUDIENCE, keys)
        accepted = await checker.principal(first.token(issuer.url, sub="carol"))
        assert accepted is not None and accepted[0] == "oauth:carol"
        assert await checker.principal(first.token(issuer.url, sub="dan")) is not None
        assert issuer.reads == 1  # cached
        issuer.keys.append(second.jwk)  # a rotation: a new key id
        assert await checker.principal(second.token(issuer.url)) is None  # not read again so soon
        assert issuer.reads == 1
        fresh = JwtChecker(issuer.url, AUDIENCE, JwksKeys(issuer.url + "/.well-known/jwks.json", refetch_after_s=0))
        assert await fresh.principal(first.token(issuer.url)) is not None
        assert await fresh.principal(second.token(issuer.url)) is not None  # cached since that read
        assert await fresh.principal(SigningKey("k3").token(issuer.url)) is None  # read again, still unknown
        assert issuer.reads == 3


async def test_a_users_own_limits_apply_to_them_alone(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    write_users(
        path,
        {
            "bob": User(
                name="bob", token_sha256=token_hash(new_token()), daily_budget_usd=2.0, confirm_threshold_usd=0.5
            ),
            "eve": User(name="eve", token_sha256=token_hash(new_token())),
        },
    )
    settings = service_settings(tmp_path, daily_budget_usd=20.0, confirm_above_usd=3.0)
    store = await Store.open(None)
    try:
        ledger = CreateLedger(store, settings, UsersFile(path))
        with acting_as("bob"):
            assert (ledger.settings().daily_budget_usd, ledger.settings().confirm_above_usd) == (2.0, 0.5)
        with acting_as("eve"):  # no limits of her own: the server's
            assert (ledger.settings().daily_budget_usd, ledger.settings().confirm_above_usd) == (20.0, 3.0)
        assert ledger.settings() is settings  # the local user
    finally:
        await store.aclose()


async def test_a_key_the_issuer_dropped_stops_working_when_the_key_sets_lifetime_ends() -> None:
    with serving_jwks() as issuer:
        kept, dropped = SigningKey("k1"), SigningKey("k2")
        issuer.keys.extend([kept.jwk, dropped.jwk])
        clock = Clock()
        checker = JwtChecker(issuer.url, AUDIENCE, JwksKeys(issuer.url + "/.well-known/jwks.json", clock=clock))
        assert await checker.principal(dropped.token(issuer.url)) is not None
        issuer.keys.remove(dropped.jwk)  # the issuer stops publishing it (a leaked key, say)
        clock.now += JWKS_LIFETIME_S - 1
        assert await checker.principal(dropped.token(issuer.url)) is not None  # within the key set's lifetime
        assert issuer.reads == 1
        clock.now += 1  # ten minutes after the read: the set is read again, and the dropped key is gone
        assert await checker.principal(dropped.token(issuer.url)) is None
        assert await checker.principal(kept.token(issuer.url)) is not None and issuer.reads == 2
        issuer.cache_control = "public, max-age=60"  # the issuer's own lifetime wins
        clock.now += JWKS_LIFETIME_S
        assert await checker.principal(kept.token(issuer.url)) is not None and issuer.reads == 3
        issuer.keys.remove(kept.jwk)
        clock.now += 60
        assert await checker.principal(kept.token(issuer.url)) is None and issuer.reads == 4


async def test_keys_read_last_are_kept_one_lifetime_at_most_while_the_issuer_is_unreachable() -> None:
    with serving_jwks() as issuer:
        key = SigningKey("k1")
        issuer.keys.append(key.jwk)
        clock = Clock()
        url = issuer.url + "/.well-known/jwks.json"
        checker = JwtChecker(issuer.url, AUDIENCE, JwksKeys(url, clock=clock))
        assert await checker.principal(key.token(issuer.url)) is not None
    # The issuer is gone now: its keys serve for one more lifetime, then nothing is trusted.
    clock.now += JWKS_LIFETIME_S + 1
    assert await checker.principal(key.token(issuer.url)) is not None
    clock.now += JWKS_LIFETIME_S
    assert await checker.principal(key.token(issuer.url)) is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 600.0),
        ("max-age=120", 120.0),
        ("public, max-age=30, must-revalidate", 30.0),
        ('max-age="45"', 45.0),
        ("no-store", 0.0),
        ("max-age=60, no-cache", 0.0),
        ("max-age=99999999", 86400.0),
        ("max-age=soon", 600.0),
    ],
)
def test_the_key_sets_lifetime_comes_from_cache_control(header: str | None, seconds: float) -> None:
    assert key_set_lifetime(header) == seconds


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


_ALICE = f'[[users]]\nname = "alice"\ntoken_sha256 = "{"a" * 64}"\n'


@pytest.mark.parametrize(
    ("text", "message", "advice"),
    [
        ("users = 3\n", "In {path}, 'users' must be an array of tables ([[users]]).", None),
        ("users = [1]\n", "{path}, user #1 is not a table.", None),
        (_ALICE + "[[users]]\ntoken_sha256 = 'x'\n", "{path}, user #2 has no name.", None),
        (
            '[[users]]\nname = "-x"\ntoken_sha256 = "x"\n',
            "User name '-x' is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            " (it names the user's output folder too).",
            "Pick a name such as 'alice' or 'design.team-1'.",
        ),
        (
            '[[users]]\nname = "local"\ntoken_sha256 = "x"\n',
            "User name 'local' is reserved for the server's own user (stdio, VEO_MCP_HTTP_TOKEN).",
            "Pick another name, such as 'alice'.",
        ),
        (
            '[[users]]\nname = "bob"\ntoken_sha256 = "ABC"\n',
            "{path}, user #1 (bob): token_sha256 must be 64 lowercase hex digits.",
            None,
        ),
        (
            _ALICE + "colour = 'red'\nsize = 2\n",
            "{path}, user #1 (alice) has unknown keys: colour, size.",
            None,
        ),
        (
            _ALICE + "daily_budget_usd = -1\n",
            "{path}, user #1: daily_budget_usd must be a number of US dollars, 0 or more (given: -1).",
            None,
        ),
        (
            _ALICE + "confirm_threshold_usd = true\n",
            "{path}, user #1: confirm_threshold_usd must be a number of US dollars, 0 or more (given: True).",
            None,
        ),
        (_ALICE + _ALICE, "{path} names the user 'alice' twice.", None),
    ],
)
def test_every_mistake_in_the_users_file_is_named_with_its_place_and_its_remedy(
    tmp_path: Path, text: str, message: str, advice: str | None
) -> None:
    path = _write(tmp_path / "team.toml", text)
    with pytest.raises(UsersFileError) as raised:
        read_users(path)
    assert raised.value.message == message.format(path=path)
    assert raised.value.advice == (advice or UsersFileError.default_advice)


def test_limits_of_zero_and_a_file_of_comments_alone_are_valid(tmp_path: Path) -> None:
    path = _write(tmp_path / "team.toml", _ALICE + "daily_budget_usd = 0\nconfirm_threshold_usd = 0\n")
    assert read_users(path)["alice"] == User(
        name="alice", token_sha256="a" * 64, daily_budget_usd=0.0, confirm_threshold_usd=0.0
    )
    assert read_users(_write(path, "# nobody yet\n")) == {}


def test_the_file_is_named_when_it_cannot_be_read_or_is_writable_by_group_or_others(tmp_path: Path) -> None:
    folder = tmp_path / "team.toml"
    folder.mkdir()
    with pytest.raises(UsersFileError) as raised:
        read_users(folder)
    assert raised.value.message == f"Cannot read the users file {folder}: Is a directory."
    path = _write(tmp_path / "other.toml", _ALICE)
    for mode, who in ((0o620, "its group"), (0o602, "others"), (0o622, "others")):
        path.chmod(mode)
        with pytest.raises(UsersFileError) as raised:
            read_users(path)
        assert raised.value.message == (
            f"The users file {path} is writable by {who} (mode {mode:04o}): anyone who can write it can let "
            "themselves in."
        )
        assert raised.value.advice == f"chmod 600 {path} (veo-mcp users add/remove write it owner-only)."


def test_the_file_is_written_whole_owner_only_beside_itself_and_in_a_folder_made_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new" / "deeper" / "team.toml"
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def replace(source: str, target: str | Path) -> None:
        replaced.append((str(source), str(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    write_users(path, {"alice": User(name="alice", token_sha256="a" * 64, daily_budget_usd=2.5)})
    assert path.read_text().splitlines()[0] == (
        "# veo-mcp users: managed with `veo-mcp users add/list/remove`. Tokens are stored as SHA-256 only."
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [(temporary, target)] = replaced
    # Written beside the file (the same filesystem, so the rename is atomic), under a hidden name of its own.
    assert Path(temporary).parent == path.parent and Path(temporary).name.startswith(".team.toml.")
    assert target == str(path) and sorted(p.name for p in path.parent.iterdir()) == ["team.toml"]
    assert read_users(path)["alice"].daily_budget_usd == 2.5


def test_tokens_are_32_random_bytes_with_the_prefix() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(token.startswith("veo_") and len(token) == len("veo_") + 43 for token in tokens)  # 32 bytes, base64


def test_a_reload_that_ends_nobodys_access_tells_no_listener_and_each_new_breakage_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "team.toml"
    alice = new_token()
    write_users(path, {"alice": User(name="alice", token_sha256=token_hash(alice))})
    clock = Clock()
    users = UsersFile(path, grace_s=30, clock=clock)
    told: list[set[str]] = []
    users.revoked.append(told.append)
    write_users(path, {**read_users(path), "bob": User(name="bob", token_sha256=token_hash(new_token()))})
    users.refresh()
    assert told == []  # someone added: nobody's access ended
    with caplog.at_level(logging.ERROR, logger="veo_mcp.users"):
        _write(path, "users = [1]\n")
        users.refresh()
        users.refresh()
        _write(path, "users = 3\n")  # broken another way: said again
        users.refresh()
        clock.now += 30
        users.refresh()
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"{path}, user #1 is not a table. Fix the file (see `veo-mcp users --help`), or manage it only with "
        "`veo-mcp users add/remove`. Keeping the 2 user(s) read before for at most 30 s (VEO_MCP_USERS_FILE_GRACE); "
        "after that nobody from the users file is let in until it is fixed.",
        f"In {path}, 'users' must be an array of tables ([[users]]). Fix the file (see `veo-mcp users --help`), or "
        "manage it only with `veo-mcp users add/remove`. Keeping the 2 user(s) read before for at most 30 s "
        "(VEO_MCP_USERS_FILE_GRACE); after that nobody from the users file is let in until it is fixed.",
        f"In {path}, 'users' must be an array of tables ([[users]]). Fix the file (see `veo-mcp users --help`), or "
        "manage it only with `veo-mcp users add/remove`. Its grace of 30 s has passed: nobody from the users file "
        "is let in until it is fixed.",
    ]
    assert told == [{"alice", "bob"}]


def test_the_file_is_read_again_only_when_it_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each HTTP request looks its token up: an unchanged file (good or broken) is not parsed again for it."""
    path = tmp_path / "team.toml"
    alice = new_token()
    write_users(path, {"alice": User(name="alice", token_sha256=token_hash(alice))})
    users = UsersFile(path, grace_s=30, clock=Clock())
    reads: list[Path] = []
    real_read = read_users

    def counted(where: Path) -> dict[str, User]:
        reads.append(where)
        return real_read(where)

    monkeypatch.setattr("veo_mcp.users.read_users", counted)
    for _ in range(3):
        assert users.lookup(alice) is not None
    assert reads == []
    _write(path, "users = 3\n")
    for _ in range(3):
        assert users.lookup(alice) is not None  # the grace
    assert reads == [path]
