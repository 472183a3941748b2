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

The server re-reads the file when it changes (checked on each lookup: its inode, change time, modification time and
size, so a replacement that keeps the size and the modification time, as `cp -p` or `rsync -t` do, is seen too),
so users added or removed while it runs take effect at the next request; a file that cannot be read keeps the last good users and
logs one warning. `write_users` replaces the file atomically and owner-only (0600).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.errors import VeoError

__all__ = ["User", "UsersFile", "UsersFileError", "new_token", "read_users", "token_hash", "write_users"]

logger = logging.getLogger(__name__)

NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HASH_RULE = re.compile(r"^[0-9a-f]{64}$")
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


def read_users(path: Path) -> dict[str, User]:
    """Every user of the file by name (an absent file has none); raises `UsersFileError` when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
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


class UsersFile:
    """The users file as the server sees it: re-read when it changes, the last good version kept when it breaks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._users: dict[str, User] = {}
        self._seen: tuple[int, ...] | None = None
        self._warned: tuple[int, ...] | None = None
        self.load()

    def load(self) -> None:
        """Read the file now; raises `UsersFileError` when it is unusable (the server refuses to start then)."""
        self._users = read_users(self.path)
        self._seen = self._signature()

    def _signature(self) -> tuple[int, ...] | None:
        """What changes whenever the file does. The change time cannot be set back by anyone (unlike the
        modification time), and `write_users` replaces the file, so its inode changes too."""
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_ino, status.st_ctime_ns, status.st_mtime_ns, status.st_size

    def _refresh(self) -> None:
        signature = self._signature()
        if signature == self._seen or signature is None:
            return  # unchanged, or gone for a moment (an editor replacing it): keep what we have
        try:
            self._users = read_users(self.path)
        except UsersFileError as error:
            if self._warned != signature:
                self._warned = signature
                logger.warning("%s Keeping the %d user(s) read before.", error.message, len(self._users))
            return
        self._seen = signature

    def users(self) -> dict[str, User]:
        self._refresh()
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
