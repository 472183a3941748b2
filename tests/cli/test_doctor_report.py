"""`veo-mcp doctor`'s whole report, check by check, for the setups people have: all good, a wrong key with a folder
that is a file, no key (simulating or not), EvoLink unreachable or in trouble, the built-in simulator; and the report
as printed, line for line, with its last line and exit code. Each word is what a person acts on, so each is pinned;
only the free space on the disk is left to vary."""

from __future__ import annotations

import platform
import re
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Shell, without_our_variables
from tests.helpers import TEST_KEY
from veo_mcp import __version__
from veo_mcp.cli.doctor import diagnose
from veo_mcp.core.generation import Generation
from veo_mcp.evolink import parse_video_request
from veo_mcp.settings import Settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Fault, Simulator, SimulatorConfig, SimulatorTransport
from veo_mcp.storage import SCHEMA_VERSION, Store

VERSIONS = f"veo-mcp {__version__}, Python {platform.python_version()}, " + ", ".join(
    f"{name} {metadata.version(name)}" for name in ("mcp", "httpx", "pydantic", "av", "anyio")
)
LIMITS = (
    "hourly budget (VEO_MCP_HOURLY_BUDGET) $10.00; at most 10 per minute (VEO_MCP_MAX_CREATES_PER_MINUTE); daily "
    "budget (VEO_MCP_DAILY_BUDGET) off; per-request cap (VEO_MCP_MAX_COST_PER_REQUEST) off; asks above $2.00 "
    "(VEO_MCP_CONFIRM_ABOVE)"
)
KEY_FIX = (
    "Create a key at https://evolink.ai (dashboard → API keys). For your MCP client: its server config's env block. "
    "For this terminal: "
)


@pytest.fixture(autouse=True)
def _a_clean_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test sets: no EvoLink or veo-mcp variable of the machine (the all-on-PostgreSQL run sets a
    database), and a settings file of its own."""
    without_our_variables(monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _free(text: str) -> str:
    return re.sub(r"\(\d+ GB free\)", "(N GB free)", text)


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": TEST_KEY,
        "base_url": IN_PROCESS_BASE_URL,
        "files_base_url": IN_PROCESS_BASE_URL,
        "data_dir": tmp_path / "data",
        "output_dir": tmp_path / "videos",
        "image_dirs": [tmp_path],
        **changes,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _report(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[tuple[Any, ...]]:
    return [
        (check.name, check.outcome, _free(check.detail), check.fix)
        for check in await diagnose(settings, transport)
        if check.name != "settings"  # (where each setting came from: tests/cli/test_keys_and_settings.py)
    ]


def _folders(tmp_path: Path, data: str = "data") -> list[tuple[Any, ...]]:
    first_use = "does not exist yet; created owner-only (0700) at first use"
    return [
        ("data folder", "ok", f"{tmp_path / data} (N GB free) - {first_use}", None),
        ("database", "ok", f"{tmp_path / data / 'veo-mcp.sqlite3'}: none yet; created at first use", None),
        ("output folder", "ok", f"{tmp_path / 'videos'} (N GB free) - {first_use}", None),
    ]


async def test_a_good_setup_is_ok_on_every_line(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(api_key=TEST_KEY))
    assert await _report(_settings(tmp_path), SimulatorTransport(simulator)) == [
        ("versions", "ok", VERSIONS, None),
        ("api key", "ok", f"set ({len(TEST_KEY)} characters, not shown); accepted by EvoLink", None),
        ("video API", "ok", f"{IN_PROCESS_BASE_URL} answered HTTP 404", None),
        ("file service", "ok", f"{IN_PROCESS_BASE_URL} answered HTTP 404", None),
        *_folders(tmp_path),
        ("image folders", "ok", str(tmp_path), None),
        ("money limits", "ok", LIMITS, None),
    ]
    assert simulator.service.requests["create"] == 0


async def test_a_wrong_key_and_a_file_where_a_folder_should_be_are_failures_with_their_fixes(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = _settings(tmp_path, api_key="a-wrong-key", output_dir=blocker / "videos", image_dirs=[tmp_path / "no"])
    report = await _report(settings, SimulatorTransport(Simulator(SimulatorConfig(api_key="the-real-key"))))
    assert report == [
        ("versions", "ok", VERSIONS, None),
        (
            "api key",
            "fail",
            "set (11 characters, not shown); EvoLink refused it (HTTP 401)",
            "Copy the key again from the EvoLink dashboard (no quotes or spaces) into EVOLINK_API_KEY.",
        ),
        ("video API", "ok", f"{IN_PROCESS_BASE_URL} answered HTTP 401", None),
        ("file service", "ok", f"{IN_PROCESS_BASE_URL} answered HTTP 404", None),
        *_folders(tmp_path)[:2],
        (
            "output folder",
            "fail",
            f"{blocker} is not a folder",
            "Point VEO_MCP_OUTPUT_DIR at a folder you can write to.",
        ),
        (
            "image folders",
            "warn",
            f"not found: {tmp_path / 'no'}",
            "Fix VEO_MCP_IMAGE_DIRS (folders separated like PATH).",
        ),
        ("money limits", "ok", LIMITS, None),
    ]


async def test_without_a_key_it_warns_and_says_where_a_key_goes(tmp_path: Path) -> None:
    [versions, key, *rest] = await _report(_settings(tmp_path, api_key=None))
    assert versions == ("versions", "ok", VERSIONS, None)
    assert key[:3] == ("api key", "warn", "EVOLINK_API_KEY is not set here; list, status and download work without it")
    assert key[3].startswith(KEY_FIX) and "EVOLINK_API_KEY" in key[3].removeprefix(KEY_FIX)
    assert [check[0] for check in rest] == ["data folder", "database", "output folder", "image folders", "money limits"]
    simulating = await _report(_settings(tmp_path, api_key=None, simulate=True))
    assert simulating[1][:3] == ("api key", "warn", "EVOLINK_API_KEY is not set here (fine while simulating)")


async def test_the_built_in_simulator_needs_no_key_and_no_network(tmp_path: Path) -> None:
    report = await _report(_settings(tmp_path, api_key=None, simulate=True, base_url="https://api.evolink.ai"))
    assert report[:2] == [
        ("versions", "ok", VERSIONS, None),
        ("upstream", "ok", "simulated: the built-in simulator, no key needed", None),
    ]
    assert report[2][0] == "data folder"


async def test_evolink_unreachable_or_in_trouble_is_named_with_what_to_check(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    unreachable = await _report(_settings(tmp_path), httpx.MockTransport(refuse))
    assert unreachable[1:3] == [
        ("api key", "warn", f"set ({len(TEST_KEY)} characters, not shown); not verified (EvoLink unreachable)", None),
        (
            "video API",
            "fail",
            unreachable[2][2],
            "Check the network, a proxy (HTTPS_PROXY) or EVOLINK_BASE_URL.",
        ),
    ]
    assert unreachable[2][2].startswith(f"{IN_PROCESS_BASE_URL} unreachable (")
    assert unreachable[3] == (
        "file service",
        "warn",
        f"{IN_PROCESS_BASE_URL} unreachable (ConnectError); only image_files need it",
        "Check the network or EVOLINK_FILES_BASE_URL.",
    )

    simulator = Simulator(SimulatorConfig(api_key=TEST_KEY))
    simulator.faults.add(Fault(kind="status", endpoint="get", status=503))
    troubled = await _report(_settings(tmp_path), SimulatorTransport(simulator))
    assert troubled[1:3] == [
        ("api key", "warn", f"set ({len(TEST_KEY)} characters, not shown); EvoLink answered HTTP 503", None),
        (
            "video API",
            "warn",
            f"{IN_PROCESS_BASE_URL} answered HTTP 503",
            "EvoLink may be having trouble; try again in a few minutes.",
        ),
    ]


def test_the_printed_report_has_a_mark_per_check_its_fixes_and_a_last_line(shell: Shell) -> None:
    ready = shell.run("doctor", "--simulate")
    lines = _free(ready.out).splitlines()
    data, videos = shell.data, shell.videos
    assert ready.code == 0
    assert lines[:2] == [f"✓ versions: {VERSIONS}", "✓ upstream: simulated: the built-in simulator, no key needed"]
    assert f"✓ data folder: {data} (N GB free) - does not exist yet; created owner-only (0700) at first use" in lines
    assert (
        f"✓ output folder: {videos} (N GB free) - does not exist yet; created owner-only (0700) at first use" in lines
    )
    [origins] = [line for line in lines if line.startswith("✓ settings: ")]
    config = shell.home / "config" / "veo-mcp" / "veo-mcp.env"
    assert origins == f"✓ settings: 5 set (the rest are defaults); read from flags, the environment, then {config}"
    at = lines.index(origins)
    assert lines[at + 1 : at + 6] == [
        f"    VEO_MCP_DATA_DIR         {data}  (from the environment)",
        f"    VEO_MCP_OUTPUT_DIR       {videos}  (from the environment)",
        "    VEO_MCP_SIMULATE         true  (from --simulate)",
        "    VEO_MCP_SIMULATOR_SPEED  300.0  (from the environment)",
        f"    VEO_MCP_IMAGE_DIRS       {shell.home}  (from the environment)",
    ]
    assert lines[-2:] == ["", "veo-mcp is ready."]

    failing = shell.run("doctor", VEO_MCP_POLL_MIN="50", VEO_MCP_POLL_MAX="5")
    printed = failing.out.splitlines()
    assert failing.code == 1
    assert printed[0].startswith("✗ settings: ") and "VEO_MCP_POLL_MIN" in printed[0]
    assert printed[1].startswith("    → ")
    assert printed[-2:] == ["", "Fix the ✗ lines above, then run veo-mcp doctor again."]


async def test_the_database_line_counts_the_generations_and_the_unfinished_ones(tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_key=None, simulate=True)
    settings.data_dir.mkdir()
    store = await Store.open(settings.database_path)
    request = parse_video_request({"prompt": "a heron at dawn"})
    for number, status in enumerate(["completed", "processing", "failed", "pending"]):
        generation = Generation(
            task_id=f"task-unified-{number}-abc",
            model=request.model,
            prompt=request.prompt,
            request=request.to_api_payload(),
            simulated=True,
            status=status,
        )
        await store.save_generation(generation)
    await store.aclose()
    [database] = [check for check in await _report(settings) if check[0] == "database"]
    assert database == (
        "database",
        "ok",
        f"{settings.database_path} (schema {SCHEMA_VERSION}): 4 generation(s), 2 unfinished",
        None,
    )


async def test_a_folder_on_a_nearly_full_disk_is_a_warning_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    disk_usage = shutil.disk_usage

    def nearly_full(path: str | Path) -> Any:
        if Path(path) != videos:
            return disk_usage(path)
        return disk_usage(path)._replace(free=250_000_000)

    monkeypatch.setattr(shutil, "disk_usage", nearly_full)
    [output] = [check for check in await _report(_settings(tmp_path)) if check[0] == "output folder"]
    assert output == (
        "output folder",
        "warn",
        f"{videos}: only 0.25 GB free",
        "Free some space or point VEO_MCP_OUTPUT_DIR elsewhere (a 4k video can be 100+ MB).",
    )


async def test_a_team_server_without_a_server_wide_budget_says_whose_budgets_are_uncapped(tmp_path: Path) -> None:
    fix = "Set VEO_MCP_SERVER_HOURLY_BUDGET and/or VEO_MCP_SERVER_DAILY_BUDGET (USD, all users together)."
    teams: list[tuple[dict[str, Any], str]] = [
        ({"users_file": tmp_path / "team.toml"}, "every user of the users file"),
        ({"oauth_issuer": "https://login.example"}, "every user the OAuth issuer knows"),
    ]
    for team, who in teams:
        report = await _report(_settings(tmp_path, api_key=None, simulate=True, **team))
        assert report[-1] == (
            "server budget",
            "warn",
            f"a team server with no server-wide budget: {who} has budgets of their own, and nothing caps what they "
            "spend together on the one EvoLink key",
            fix,
        )
