"""`veo-mcp doctor`: is this machine ready? One line per check, each failure with the fix, and where every setting
that is not a default came from (a flag, the environment, a settings file).

The key is checked without being shown and without spending anything: a status request for a task id that cannot
exist must come back 404 (key accepted) rather than 401 (key refused). Nothing is created: a folder or database that
does not exist yet is reported as what veo-mcp will create (owner-only) at first use.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Literal

import anyio
import httpx
from pydantic import BaseModel, Field

from veo_mcp import __version__
from veo_mcp.cli.origins import SettingSource, setting_sources
from veo_mcp.cli.vocabulary import key_for_the_shell
from veo_mcp.evolink import catalog
from veo_mcp.evolink.client import EvoLinkClient
from veo_mcp.evolink.errors import AuthenticationError, EvoLinkError, NotFoundError
from veo_mcp.settings import Settings, SettingsError, load_settings, settings_files
from veo_mcp.storage import SCHEMA_VERSION, Store, StoreError

Outcome = Literal["ok", "warn", "fail"]
PROBE_TASK_ID = "task-veo-mcp-doctor-probe"
_MARK = {"ok": "[green]✓[/green]", "warn": "[yellow]![/yellow]", "fail": "[red]✗[/red]"}


class Check(BaseModel):
    name: str
    outcome: Outcome
    detail: str
    fix: str | None = None
    settings: list[SettingSource] | None = Field(None, description="The settings check: where each came from.")


def _versions() -> Check:
    names = ("mcp", "httpx", "pydantic", "av", "anyio")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    missing = [line for line in found if line.endswith("missing")]
    return Check(
        name="versions",
        outcome="fail" if missing else "ok",
        detail=f"veo-mcp {__version__}, Python {platform.python_version()}, " + ", ".join(found),
        fix="Reinstall veo-mcp (pip install --force-reinstall veo-mcp) so its dependencies come back."
        if missing
        else None,
    )


async def _key_and_api(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> list[Check]:
    if settings.api_key is None:
        # Not a failure: an MCP client passes the key to the server it starts, and list/status/download work
        # without one. Commands that send requests say how to give it when they need it.
        return [
            Check(
                name="api key",
                outcome="warn",
                detail="EVOLINK_API_KEY is not set here"
                + (" (fine while simulating)" if settings.simulate else "; list, status and download work without it"),
                fix="Create a key at https://evolink.ai (dashboard → API keys). For your MCP client: its server "
                f"config's env block. For this terminal: {key_for_the_shell().removeprefix('Give it to this shell: ')}",
            )
        ]
    shown = f"set ({len(settings.api_key.get_secret_value())} characters, not shown)"
    # The server's own client, asked once (no retries): the same headers and the same reading of every answer.
    client = EvoLinkClient(
        api_key=settings.api_key.get_secret_value(),
        base_url=settings.base_url,
        transport=transport,
        connect_timeout_s=10,
        request_timeout_s=10,
        get_attempts=1,
    )
    async with client:
        try:
            await client.get_task(PROBE_TASK_ID)
        except NotFoundError as refused_id:  # the key passed; only the made-up task is unknown
            answered = refused_id.status_code
        except AuthenticationError as error:
            return [
                Check(
                    name="api key",
                    outcome="fail",
                    detail=f"{shown}; EvoLink refused it (HTTP {error.status_code})",
                    fix="Copy the key again from the EvoLink dashboard (no quotes or spaces) into EVOLINK_API_KEY.",
                ),
                Check(name="video API", outcome="ok", detail=f"{settings.base_url} answered HTTP {error.status_code}"),
            ]
        except EvoLinkError as error:
            if error.status_code is None:
                return [
                    Check(name="api key", outcome="warn", detail=f"{shown}; not verified (EvoLink unreachable)"),
                    Check(
                        name="video API",
                        outcome="fail",
                        detail=f"{settings.base_url} unreachable ({error.message})",
                        fix="Check the network, a proxy (HTTPS_PROXY) or EVOLINK_BASE_URL.",
                    ),
                ]
            return [
                Check(name="api key", outcome="warn", detail=f"{shown}; EvoLink answered HTTP {error.status_code}"),
                Check(
                    name="video API",
                    outcome="warn",
                    detail=f"{settings.base_url} answered HTTP {error.status_code}",
                    fix="EvoLink may be having trouble; try again in a few minutes.",
                ),
            ]
        else:
            answered = 200
    return [
        Check(name="api key", outcome="ok", detail=f"{shown}; accepted by EvoLink"),
        Check(name="video API", outcome="ok", detail=f"{settings.base_url} answered HTTP {answered}"),
    ]


async def _file_service(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> Check:
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        try:
            answer = await http.get(settings.files_base_url)
        except httpx.HTTPError as error:
            return Check(
                name="file service",
                outcome="warn",
                detail=f"{settings.files_base_url} unreachable ({type(error).__name__}); only image_files need it",
                fix="Check the network or EVOLINK_FILES_BASE_URL.",
            )
    return Check(
        name="file service", outcome="ok", detail=f"{settings.files_base_url} answered HTTP {answer.status_code}"
    )


def _nearest_existing(folder: Path) -> Path:
    return next(parent for parent in (folder, *folder.parents) if parent.exists())


def _writable(folder: Path, name: str, variable: str) -> Check:
    """Whether veo-mcp can write in `folder` (or create it there, when it does not exist yet); creates nothing."""
    existing = _nearest_existing(folder)
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is not a folder"
    elif existing == folder:
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".veo-mcp-doctor-"):
                pass
        except OSError as error:
            problem = f"{folder} is not writable ({error.strerror or error})"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{folder} does not exist and cannot be created: {existing} is not writable"
    if problem is not None:
        return Check(name=name, outcome="fail", detail=problem, fix=f"Point {variable} at a folder you can write to.")
    free_gb = shutil.disk_usage(existing).free / 1e9
    later = "" if existing == folder else " - does not exist yet; created owner-only (0700) at first use"
    if free_gb < 1:
        return Check(
            name=name,
            outcome="warn",
            detail=f"{folder}{later}: only {free_gb:.2f} GB free",
            fix=f"Free some space or point {variable} elsewhere (a 4k video can be 100+ MB).",
        )
    return Check(name=name, outcome="ok", detail=f"{folder} ({free_gb:.0f} GB free){later}")


async def _database(settings: Settings) -> Check:
    if isinstance(settings.database, Path) and not settings.database.exists():
        return Check(name="database", outcome="ok", detail=f"{settings.database}: none yet; created at first use")
    try:
        store = await Store.open(settings.database)
    except StoreError as error:
        return Check(name="database", outcome="fail", detail=str(error), fix="See the message above.")
    try:
        generations = await store.generations()
        unknown = [c for c in await store.unconfirmed_creates() if c.state == "outcome_unknown"]
    finally:
        await store.aclose()
    unfinished = sum(1 for g in generations if not g.finished)
    check = Check(
        name="database",
        outcome="ok",
        detail=f"{store.where} (schema {SCHEMA_VERSION}): {len(generations)} generation(s), {unfinished} unfinished",
    )
    if unknown:
        check.outcome = "warn"
        check.detail += f", {len(unknown)} create(s) with unknown outcome"
        check.fix = "Check them in the EvoLink dashboard (list_generations shows them); veo-mcp never resends them."
    return check


def _image_folders(settings: Settings) -> Check:
    missing = [str(folder) for folder in settings.image_dirs if not folder.is_dir()]
    listed = ", ".join(str(folder) for folder in settings.image_dirs) or "(none)"
    if missing:
        return Check(
            name="image folders",
            outcome="warn",
            detail=f"not found: {', '.join(missing)}",
            fix="Fix VEO_MCP_IMAGE_DIRS (folders separated like PATH).",
        )
    return Check(name="image folders", outcome="ok", detail=listed)


def _money_limits(settings: Settings) -> Check:
    """The limits that stand between a runaway assistant and the user's credit, each with how to change it."""

    def usd(value: float | None, name: str) -> str:
        return f"{name} off" if not value else f"{name} ${value:.2f}"

    parts = [
        usd(settings.hourly_budget_usd, "hourly budget (VEO_MCP_HOURLY_BUDGET)"),
        f"at most {settings.max_creates_per_minute} per minute (VEO_MCP_MAX_CREATES_PER_MINUTE)"
        if settings.max_creates_per_minute
        else "create rate off (VEO_MCP_MAX_CREATES_PER_MINUTE)",
        usd(settings.daily_budget_usd, "daily budget (VEO_MCP_DAILY_BUDGET)"),
        usd(settings.max_cost_per_request_usd, "per-request cap (VEO_MCP_MAX_COST_PER_REQUEST)"),
        f"asks above ${settings.confirm_above_usd:.2f} (VEO_MCP_CONFIRM_ABOVE)",
    ]
    brakes_off = not settings.hourly_budget_usd and not settings.max_creates_per_minute
    return Check(
        name="money limits",
        outcome="warn" if brakes_off else "ok",
        detail="; ".join(parts),
        fix="Nothing stops a runaway loop: set VEO_MCP_HOURLY_BUDGET or VEO_MCP_MAX_CREATES_PER_MINUTE above 0."
        if brakes_off
        else None,
    )


def _server_budget(settings: Settings) -> Check | None:
    """A team server (users file or OAuth) gives every user budgets of their own: only a server-wide budget caps
    what they spend together on the one EvoLink key. None for a server that serves one person."""
    if settings.users_file is None and settings.oauth_issuer is None:
        return None
    budgets = [
        f"{name} ${value:.2f} ({variable})"
        for name, value, variable in (
            ("hourly", settings.server_hourly_budget_usd, "VEO_MCP_SERVER_HOURLY_BUDGET"),
            ("daily", settings.server_daily_budget_usd, "VEO_MCP_SERVER_DAILY_BUDGET"),
        )
        if value is not None
    ]
    if budgets:
        return Check(name="server budget", outcome="ok", detail="all users together: " + ", ".join(budgets))
    who = "every user of the users file" if settings.oauth_issuer is None else "every user the OAuth issuer knows"
    return Check(
        name="server budget",
        outcome="warn",
        detail=f"a team server with no server-wide budget: {who} has budgets of their own, and nothing caps what "
        "they spend together on the one EvoLink key",
        fix="Set VEO_MCP_SERVER_HOURLY_BUDGET and/or VEO_MCP_SERVER_DAILY_BUDGET (USD, all users together).",
    )


async def diagnose(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None, flags: dict[str, str] | None = None
) -> list[Check]:
    checks = [_versions()]
    if settings.simulate and settings.base_url == catalog.DEFAULT_BASE_URL:
        checks.append(Check(name="upstream", outcome="ok", detail="simulated: the built-in simulator, no key needed"))
    else:
        checks.extend(await _key_and_api(settings, transport))
        if settings.api_key is not None:
            checks.append(await _file_service(settings, transport))
    checks.append(_writable(settings.data_dir, "data folder", "VEO_MCP_DATA_DIR"))
    if checks[-1].outcome != "fail":
        checks.append(await _database(settings))
    checks.append(_writable(settings.output_dir, "output folder", "VEO_MCP_OUTPUT_DIR"))
    checks.append(_image_folders(settings))
    checks.append(_money_limits(settings))
    checks.append(_origins(settings, flags))
    if (shared := _server_budget(settings)) is not None:
        checks.append(shared)
    return checks


def _origins(settings: Settings, flags: dict[str, str] | None) -> Check:
    """Where each setting that is not a default came from, so a surprise can be traced to its source."""
    sources = setting_sources(settings, flags)
    files = ", ".join(str(path) for path in settings_files())
    detail = (
        f"{len(sources)} set (the rest are defaults); read from flags, the environment, then {files}"
        if sources
        else f"all defaults; read from flags, the environment, then {files}"
    )
    return Check(name="settings", outcome="ok", detail=detail, settings=sources)


def run_doctor(*, simulate: bool, as_json: bool) -> int:
    from veo_mcp.cli.output import console as output_console

    flags = {"simulate": "--simulate"} if simulate else {}
    try:
        settings = load_settings(flags, simulate=True if simulate else None)
    except SettingsError as error:
        checks = [Check(name="settings", outcome="fail", detail=error.message, fix=error.advice)]
    else:
        checks = anyio.run(diagnose, settings, None, flags)
    if as_json:
        print(json.dumps([check.model_dump() for check in checks]))
    else:
        console = output_console(stderr=False)  # piped: never wrapped, paths stay whole
        for check in checks:
            console.print(f"{_MARK[check.outcome]} {check.name}: {check.detail}")
            if check.fix and check.outcome != "ok":
                console.print(f"    → {check.fix}", markup=False)
            width = max((len(origin.variable) for origin in check.settings or []), default=0)
            for origin in check.settings or []:
                console.print(
                    f"    {origin.variable.ljust(width)}  {origin.value}  (from {origin.source})", markup=False
                )
    failed = any(check.outcome == "fail" for check in checks)
    if not as_json:
        print(
            "\nveo-mcp is ready." if not failed else "\nFix the ✗ lines above, then run veo-mcp doctor again.",
            file=sys.stdout,
        )
    return 1 if failed else 0
