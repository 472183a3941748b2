"""`veo-mcp users add|list|remove`: the HTTP server's users file (see `veo_mcp.users` for its format and why SHA-256).

`add` prints the new token once, alone on the last line of stdout (so `veo-mcp users add bob | tail -n 1` captures
it); everything else a person reads goes to stderr. The file is rewritten atomically and owner-only each time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from veo_mcp.cli.output import USAGE_ERROR, CommandFailed, emit_json
from veo_mcp.users import User, UsersFileError, check_name, locked, new_token, read_users, token_hash, write_users


def _file(args: argparse.Namespace) -> Path:
    if args.file:
        return Path(args.file).expanduser().resolve()
    from veo_mcp.settings import load_settings

    configured = load_settings().users_file
    if configured is None:
        raise CommandFailed(
            "Name the users file with --file FILE, or set VEO_MCP_USERS_FILE (the server reads the same file).",
            exit_code=USAGE_ERROR,
        )
    return configured.expanduser().resolve()


def _money(value: float | None, flag: str) -> float | None:
    if value is not None and value < 0:
        raise CommandFailed(f"{flag} {value} is not allowed; use 0 or more US dollars.", exit_code=USAGE_ERROR)
    return value


def _limits(user: User) -> str:
    daily = "default" if user.daily_budget_usd is None else f"${user.daily_budget_usd:.2f}"
    confirm = "default" if user.confirm_threshold_usd is None else f"${user.confirm_threshold_usd:.2f}"
    return f"daily budget {daily}, asks above {confirm}"


def _add(path: Path, args: argparse.Namespace) -> int:
    name = check_name(args.name)
    daily, confirm = _money(args.daily_budget, "--daily-budget"), _money(args.confirm_above, "--confirm-above")
    token = new_token()
    with locked(path):  # read, change and write as one step: a concurrent add or remove is never lost
        users = read_users(path)
        if name in users:
            raise CommandFailed(
                f"{path} already has a user {name!r}; remove it first to give them a new token.", exit_code=USAGE_ERROR
            )
        users[name] = User(
            name=name, token_sha256=token_hash(token), daily_budget_usd=daily, confirm_threshold_usd=confirm
        )
        write_users(path, users)
    print(
        f"veo-mcp: added {name} to {path} ({_limits(users[name])}). Their token follows; it is shown only now. "
        "Clients send it as 'Authorization: Bearer <token>'.",
        file=sys.stderr,
        flush=True,
    )
    print(token, flush=True)
    return 0


def _list(path: Path, as_json: bool) -> int:
    users = read_users(path)
    if as_json:
        emit_json(
            {
                "file": str(path),
                "users": [
                    {
                        "name": u.name,
                        "daily_budget_usd": u.daily_budget_usd,
                        "confirm_threshold_usd": u.confirm_threshold_usd,
                    }
                    for u in users.values()
                ],
            }
        )
        return 0
    print(f"{len(users)} user(s) in {path}", flush=True)
    for user in users.values():
        print(f"- {user.name}: {_limits(user)}", flush=True)
    return 0


def _remove(path: Path, name: str) -> int:
    with locked(path):
        users = read_users(path)
        if users.pop(name, None) is None:
            raise CommandFailed(
                f"{path} has no user {name!r} (`veo-mcp users list` shows who is there).", exit_code=USAGE_ERROR
            )
        write_users(path, users)
    print(f"veo-mcp: removed {name} from {path}; their token stops working at their next request.", file=sys.stderr)
    return 0


def _existing(path: Path) -> Path:
    """`list` and `remove` read a file that must exist: a mistyped path is not an empty team."""
    if not path.exists():
        raise CommandFailed(
            f"{path} does not exist. Check the path (`veo-mcp users add NAME --file {path}` creates the file).",
            exit_code=USAGE_ERROR,
        )
    return path


def users_command(args: argparse.Namespace) -> int:
    path = _file(args)
    try:
        if args.users_command == "add":
            check_name(args.name)
        if not path.parent.is_dir():
            raise CommandFailed(
                f"{path.parent} is not a folder, so {path.name} cannot be there. Check the path.", exit_code=USAGE_ERROR
            )
    except UsersFileError as error:
        raise CommandFailed(str(error), exit_code=USAGE_ERROR) from None  # what was typed cannot be used
    try:
        if args.users_command == "add":
            return _add(path, args)
        if args.users_command == "list":
            return _list(_existing(path), bool(getattr(args, "json", False)))
        return _remove(_existing(path), args.name)
    except UsersFileError as error:
        raise CommandFailed(str(error)) from None
