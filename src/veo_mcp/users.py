"""The users file (`VEO_MCP_USERS_FILE`): who may use the HTTP server, each with a token of their own and limits.

A TOML file, one `[[users]]` table per person:

    [[users]]
    name = "alice"
    token_sha256 = "9f86d0…"        # SHA-256 of the token, hex; the token itself is never stored
    daily_budget_usd = 5.0          # optional: this user's own daily budget (else VEO_MCP_DAILY_BUDGET)
    confirm_threshold_usd = 1.0     # optional: asks above this (else VEO_MCP_CONFIRM_ABOVE)

Why SHA-256 and not a slow password hash: the tokens are made by `veo-mcp users add` from 32 random bytes
(`secrets`), 256 bits of entropy. Slow KDFs (bcrypt, scrypt, argon2) exist to stop guessing of low-entropy human
passwords; nobody can enumerate 2**256 candidates, so a plain SHA-256 already makes a stolen file useless, and it
keeps every HTTP request's check cheap. The presented token's hash is compared with each user's in constant time
(`hmac.compare_digest`, no early exit), so timing tells nothing about which part matched.

The server re-reads the file when it changes (checked on each lookup and every second: its inode, change time,
modification time and size, so a replacement that keeps the size and the modification time, as `cp -p` or `rsync -t`
do, is seen too), so users added or removed while it runs take effect at once, and a removed user's (or a changed
token's) open streams and sessions are cut at that reload (`revoked` listeners). The server fails closed: a file that
disappears, does not parse or is writable by group or others keeps the last good users only for a short grace
(`VEO_MCP_USERS_FILE_GRACE`, said in the log), then lets nobody from it in until it is fixed.

`veo-mcp users add/remove` change the file under a lock (`locked`), reading and writing it inside, so concurrent
commands lose nothing; `write_users` replaces the file atomically and owner-only (0600).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.errors import VeoError

__all__ = ["User", "UsersFile", "UsersFileError", "new_token", "read_users", "token_hash", "write_users"]

logger = logging.getLogger(__name__)

# `\Z`, not `$`: `$` also matches before a final newline, so "alice\n" would pass.
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_HASH_RULE = re.compile(r"[0-9a-f]{64}\Z")
LOCK_TIMEOUT_S = 30.0
DEFAULT_GRACE_S = 30.0
TOKEN_PREFIX = "veo_"  # noqa: S105 - a label that makes tokens recognisable, not a secret


class UsersFileError(VeoError):
    """The users file cannot be read or does not follow its format."""

    default_advice = "Fix the file (see `veo-mcp users --help`), or manage it only with `veo-mcp users add/remove`."
    action = "fix_settings"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    token_sha256: str
    daily_budget_usd: float | None = None
    confirm_threshold_usd: float | None = None


def token_hash(token: str) -> str:
    """The stored form of a token: SHA-256, hex (enough for a random token; see the module docstring)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token: 32 random bytes from `secrets`, URL-safe, with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    if not NAME_RULE.match(name):
        raise UsersFileError(
            f"User name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names the user's output folder too).",
            advice="Pick a name such as 'alice' or 'design.team-1'.",
        )
    if name == LOCAL_PRINCIPAL:
        raise UsersFileError(
            f"User name {name!r} is reserved for the server's own user (stdio, VEO_MCP_HTTP_TOKEN).",
            advice="Pick another name, such as 'alice'.",
        )
    return name


def _limit(entry: dict[str, object], key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsersFileError(f"{where}: {key} must be a number of US dollars, 0 or more (given: {value!r}).")
    return float(value)


def _user(entry: object, index: int, path: Path) -> User:
    where = f"{path}, user #{index + 1}"
    if not isinstance(entry, dict):
        raise UsersFileError(f"{where} is not a table.")
    name, digest = entry.get("name"), entry.get("token_sha256")
    if not isinstance(name, str):
        raise UsersFileError(f"{where} has no name.")
    check_name(name)
    if not isinstance(digest, str) or not _HASH_RULE.match(digest):
        raise UsersFileError(f"{where} ({name}): token_sha256 must be 64 lowercase hex digits.")
    unknown = set(entry) - {"name", "token_sha256", "daily_budget_usd", "confirm_threshold_usd"}
    if unknown:
        raise UsersFileError(f"{where} ({name}) has unknown keys: {', '.join(sorted(unknown))}.")
    return User(
        name=name,
        token_sha256=digest,
        daily_budget_usd=_limit(entry, "daily_budget_usd", where),
        confirm_threshold_usd=_limit(entry, "confirm_threshold_usd", where),
    )


def _check_mode(path: Path, status: os.stat_result) -> None:
    """Whoever can write the file can add a user of their own: it must be writable by its owner alone."""
    if os.name != "nt" and stat.S_IMODE(status.st_mode) & (stat.S_IWGRP | stat.S_IWOTH):
        raise UsersFileError(
            f"The users file {path} is writable by {'others' if status.st_mode & stat.S_IWOTH else 'its group'} "
            f"(mode {stat.S_IMODE(status.st_mode):04o}): anyone who can write it can let themselves in.",
            advice=f"chmod 600 {path} (veo-mcp users add/remove write it owner-only).",
        )


def read_users(path: Path) -> dict[str, User]:
    """Every user of the file by name (an absent file has none); raises `UsersFileError` when it is unusable or
    writable by group or others."""
    try:
        with path.open(encoding="utf-8") as file:
            _check_mode(path, os.fstat(file.fileno()))
            text = file.read()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise UsersFileError(f"Cannot read the users file {path}: {error.strerror or error}.") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsersFileError(f"The users file {path} is not valid TOML: {error}.") from None
    entries = document.get("users", [])
    if not isinstance(entries, list):
        raise UsersFileError(f"In {path}, 'users' must be an array of tables ([[users]]).")
    users: dict[str, User] = {}
    for index, entry in enumerate(entries):
        user = _user(entry, index, path)
        if user.name in users:
            raise UsersFileError(f"{path} names the user {user.name!r} twice.")
        users[user.name] = user
    return users


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the users file's lock (a `.<name>.lock` file beside it): a read-change-write inside cannot lose another
    command's change, in this process or another."""
    path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout  # only `veo-mcp users` changes the file

    lock = FileLock(path.parent / f".{path.name}.lock", timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            yield
    except Timeout:
        raise UsersFileError(
            f"Another `veo-mcp users` command has held the lock on {path} for {LOCK_TIMEOUT_S:g} s.",
            advice="Wait for it to finish and run the command again.",
        ) from None


def write_users(path: Path, users: dict[str, User]) -> None:
    """Replace the file with `users`, atomically (a reader sees the old file or the new one) and owner-only."""
    entries = []
    for user in users.values():
        entry: dict[str, object] = {"name": user.name, "token_sha256": user.token_sha256}
        if user.daily_budget_usd is not None:
            entry["daily_budget_usd"] = user.daily_budget_usd
        if user.confirm_threshold_usd is not None:
            entry["confirm_threshold_usd"] = user.confirm_threshold_usd
        entries.append(entry)
    text = "# veo-mcp users: managed with `veo-mcp users add/list/remove`. Tokens are stored as SHA-256 only.\n"
    import tomli_w  # only `veo-mcp users` writes the file

    text += tomli_w.dumps({"users": entries})
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


Revoked = Callable[[set[str]], None]


class UsersFile:
    """The users file as the server sees it: re-read when it changes; when it breaks or disappears, the last good
    users are kept for `grace_s` only, then nobody from it is let in until it is fixed (fail closed)."""

    def __init__(
        self, path: Path, grace_s: float = DEFAULT_GRACE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.grace_s = grace_s
        self._clock = clock
        self._users: dict[str, User] = {}
        self._good: dict[str, User] = {}  # the last good version of the file
        self._seen: tuple[int, ...] | None = None
        self._broken_since: float | None = None
        self._error: UsersFileError | None = None  # why the file seen last is unusable
        self._warned: tuple[object, ...] | None = None
        self.revoked: list[Revoked] = []  # told the names whose access ended at a reload
        self.load()

    def load(self) -> None:
        """Read the file now; raises `UsersFileError` when it is unusable (the server refuses to start then)."""
        self._users = self._good = read_users(self.path)
        self._seen = self._signature()

    def _signature(self) -> tuple[int, ...] | None:
        """What changes whenever the file does. The change time cannot be set back by anyone (unlike the
        modification time), and `write_users` replaces the file, so its inode changes too."""
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_ino, status.st_ctime_ns, status.st_mtime_ns, status.st_size, status.st_mode

    def refresh(self) -> None:
        """Re-read the file if it changed; start (or end) the grace when it became unusable (or usable again)."""
        signature = self._signature()
        if signature == self._seen:
            if self._error is not None:  # still the same broken file: not parsed again, only the grace checked
                self._broken(self._error, signature)
            return
        try:
            if signature is None:
                raise UsersFileError(f"The users file {self.path} has disappeared.")
            _, _, _, size, _ = signature
            if size == 0:  # `veo-mcp users` never writes an empty file: an edit in progress, or damage
                raise UsersFileError(f"The users file {self.path} is empty.")
            users = read_users(self.path)
        except UsersFileError as error:
            self._seen, self._error = signature, error
            self._broken(error, signature)
            return
        self._seen, self._broken_since, self._error = signature, None, None
        self._replace(users)
        self._good = users

    def _broken(self, error: UsersFileError, signature: tuple[int, ...] | None) -> None:
        now = self._clock()
        if self._broken_since is None:
            self._broken_since = now
        if now - self._broken_since < self.grace_s:
            if self._warned != (signature, "grace"):
                self._warned = (signature, "grace")
                logger.error(
                    "%s Keeping the %d user(s) read before for at most %g s (VEO_MCP_USERS_FILE_GRACE); after that "
                    "nobody from the users file is let in until it is fixed.",
                    error,
                    len(self._good),
                    self.grace_s,
                )
            return
        if self._warned != (signature, "closed"):
            self._warned = (signature, "closed")
            logger.error(
                "%s Its grace of %g s has passed: nobody from the users file is let in until it is fixed.",
                error,
                self.grace_s,
            )
        self._replace({})

    def _replace(self, users: dict[str, User]) -> None:
        """Take `users` in; tell the listeners whose access ended (removed, or given a new token)."""
        ended = {
            name
            for name, user in self._users.items()
            if name not in users or users[name].token_sha256 != user.token_sha256
        }
        self._users = users
        for listener in list(self.revoked) if ended else []:
            listener(ended)

    def users(self) -> dict[str, User]:
        self.refresh()
        return dict(self._users)

    def user(self, name: str) -> User | None:
        return self.users().get(name)

    def lookup(self, token: str) -> User | None:
        """The user whose token this is, compared in constant time with every user's hash."""
        presented = token_hash(token).encode()
        found: User | None = None
        for user in self.users().values():
            if hmac.compare_digest(presented, user.token_sha256.encode()):
                found = user
        return found
