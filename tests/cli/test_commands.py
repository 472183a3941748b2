"""`veo-mcp generate` and `veo-mcp doctor`, as a person (or a script) runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import TEST_KEY, make_image
from veo_mcp.cli.doctor import diagnose
from veo_mcp.settings import Settings
from veo_mcp.simulator import IN_PROCESS_BASE_URL, Simulator, SimulatorConfig, SimulatorTransport


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "VEO_MCP_DATA_DIR": str(tmp_path / "data"),
            "VEO_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
            "VEO_MCP_SIMULATOR_SPEED": "300",
            "VEO_MCP_IMAGE_DIRS": str(tmp_path),
            **extra,
        }
    )
    return env


def _generate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "veo_mcp", "generate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_generate_saves_the_video_and_prints_json(tmp_path: Path) -> None:
    image = make_image(tmp_path / "frame.png", (200, 120, 40))
    result = _generate(
        tmp_path, "a kite over dunes", "--simulate", "--duration", "6", "--image-file", str(image), "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    video = summary["videos"][0]
    assert Path(video["path"]).parent == tmp_path / "videos" and video["duration_s"] > 5.5
    assert summary["status"] == "completed" and summary["estimated_cost_usd"] == 0.72
    assert "100%" in result.stderr  # the progress bar


def test_generate_asks_before_an_expensive_video(tmp_path: Path) -> None:
    refused = _generate(tmp_path, "a city at night", "--simulate", "--quality", "4k", "--duration", "8")
    assert refused.returncode == 1 and "--yes" in refused.stderr and "$2.2464" in refused.stderr
    confirmed = _generate(tmp_path, "a city at night", "--simulate", "--quality", "4k", "--duration", "8", "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "video 1" in confirmed.stdout and "simulated" in confirmed.stdout


def test_generate_explains_a_bad_argument(tmp_path: Path) -> None:
    result = _generate(tmp_path, "x", "--simulate", "--count", "9")
    assert result.returncode == 1 and "n" in result.stderr and "9" in result.stderr


async def test_doctor_accepts_a_good_setup(tmp_path: Path) -> None:
    simulator = Simulator(SimulatorConfig(api_key=TEST_KEY))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        api_key=TEST_KEY,
        base_url=IN_PROCESS_BASE_URL,
        files_base_url=IN_PROCESS_BASE_URL,
        data_dir=tmp_path / "data",
        output_dir=tmp_path / "videos",
        image_dirs=[tmp_path],
    )
    checks = {check.name: check for check in await diagnose(settings, SimulatorTransport(simulator))}
    assert all(check.outcome == "ok" for check in checks.values()), checks
    assert "accepted" in checks["api key"].detail and TEST_KEY not in json.dumps(
        [c.model_dump() for c in checks.values()]
    )
    assert simulator.service.requests["create"] == 0  # nothing was spent


async def test_doctor_names_each_problem_with_a_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    simulator = Simulator(SimulatorConfig(api_key="the-real-key"))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        api_key="a-wrong-key",
        base_url=IN_PROCESS_BASE_URL,
        files_base_url=IN_PROCESS_BASE_URL,
        data_dir=tmp_path / "data",
        output_dir=blocker / "videos",
        image_dirs=[tmp_path / "missing"],
    )
    checks = {check.name: check for check in await diagnose(settings, SimulatorTransport(simulator))}
    assert checks["api key"].outcome == "fail" and "401" in checks["api key"].detail
    assert checks["output folder"].outcome == "fail" and "VEO_MCP_OUTPUT_DIR" in (checks["output folder"].fix or "")
    assert checks["image folders"].outcome == "warn"
    no_key = {c.name: c for c in await diagnose(settings.model_copy(update={"api_key": None}))}
    assert no_key["api key"].outcome == "fail" and "EVOLINK_API_KEY" in (no_key["api key"].fix or "")
    assert "a-wrong-key" not in json.dumps([c.model_dump() for c in checks.values()])


def test_doctor_command_exit_codes(tmp_path: Path) -> None:
    ready = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "doctor", "--simulate", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
        check=False,
    )
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert {c["name"] for c in json.loads(ready.stdout)} >= {"versions", "upstream", "database", "output folder"}
    broken = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path, VEO_MCP_POLL_MIN="50", VEO_MCP_POLL_MAX="5"),
        check=False,
    )
    assert broken.returncode == 1 and "VEO_MCP_POLL_MIN" in broken.stdout


async def test_doctor_names_the_money_limits_and_warns_when_the_brakes_are_off(tmp_path: Path) -> None:
    base = {"data_dir": tmp_path / "data", "output_dir": tmp_path / "videos", "simulate": True}
    default = {c.name: c for c in await diagnose(Settings(_env_file=None, **base))}  # type: ignore[call-arg]
    off = {
        c.name: c
        for c in await diagnose(
            Settings(_env_file=None, hourly_budget_usd=0, max_creates_per_minute=0, **base)  # type: ignore[call-arg]
        )
    }
    limits = default["money limits"]
    assert limits.outcome == "ok"
    for words in ("$10.00", "VEO_MCP_HOURLY_BUDGET", "10 per minute", "VEO_MCP_MAX_CREATES_PER_MINUTE", "$2.00"):
        assert words in limits.detail
    assert off["money limits"].outcome == "warn" and "runaway" in (off["money limits"].fix or "")
