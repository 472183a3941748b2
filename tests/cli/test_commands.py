"""`veo-mcp generate` and `veo-mcp doctor`, as a person (or a script) runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TEST_KEY, line_containing, make_image
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
    assert Path(video["path"]).parent == tmp_path / "videos" / "simulated" and video["duration_s"] > 5.5
    assert summary["status"] == "completed" and summary["estimated_cost_usd"] == 0.72
    assert "100%" in result.stderr  # the progress bar


COST = "$2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s"
NO_KEY = (
    "No EvoLink API key is set in this shell, so nothing can be sent to EvoLink. Give it to this shell: `export "
    "EVOLINK_API_KEY=your-key` (or a line EVOLINK_API_KEY=your-key in ~/.config/veo-mcp/veo-mcp.env, which every "
    "veo-mcp command reads), or add --simulate to try it with the built-in simulator. A key in your MCP client's "
    "config reaches only the server that client starts."
)


def test_generate_asks_before_an_expensive_video(tmp_path: Path) -> None:
    refused = _generate(tmp_path, "a city at night", "--simulate", "--quality", "4k", "--duration", "8")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        f"veo-mcp: This video is estimated at {COST}, above the $2.00 confirmation threshold. Nothing was sent. If "
        "you want it, run the same command again with --yes (VEO_MCP_CONFIRM_ABOVE sets the threshold).\n"
    )
    confirmed = _generate(tmp_path, "a city at night", "--simulate", "--quality", "4k", "--duration", "8", "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "video 1" in confirmed.stdout and "simulated" in confirmed.stdout


def test_generate_failures_are_one_or_two_lines(tmp_path: Path) -> None:
    """The whole message and nothing else: a traceback (or an exception group) would not match."""
    usage = _generate(tmp_path, "x", "--simulate", "--count", "9")
    no_key = _generate(tmp_path, "x")
    as_json = _generate(tmp_path, "x", "--json")
    usage_json = _generate(tmp_path, "x", "--count", "9", "--json")
    bad_count = "argument -n/--count: 9 is not allowed; use a whole number from 1 to 4"
    assert (usage.returncode, usage.stdout) == (2, "")
    assert usage.stderr == (
        f"veo-mcp generate: error: {bad_count}\nRun 'veo-mcp generate --help' for the flags and an example.\n"
    )
    assert (no_key.returncode, no_key.stdout, no_key.stderr) == (2, "", f"veo-mcp: {NO_KEY}\n")
    assert (as_json.returncode, as_json.stderr) == (2, "")
    assert json.loads(as_json.stdout) == {"error": NO_KEY, "exit_code": 2}
    assert (usage_json.returncode, usage_json.stderr) == (2, "")
    assert json.loads(usage_json.stdout) == {"error": f"veo-mcp generate: {bad_count}", "exit_code": 2, "usage": True}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for the pipeline")
@pytest.mark.parametrize("reader", ["head -c 1", "true"])  # reads one byte / has left before anything is written
def test_json_into_a_closed_pipe_ends_quietly(tmp_path: Path, reader: str) -> None:
    errors = tmp_path / "stderr.txt"
    script = f"{sys.executable} -m veo_mcp generate 'a quiet pipe' --simulate --json 2>{errors} | {reader}"
    bash = shutil.which("bash") or "bash"
    done = subprocess.run(
        [bash, "-c", script], capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False
    )
    assert done.stdout == ("{" if reader.startswith("head") else "")
    assert "Traceback" not in errors.read_text() and "BrokenPipe" not in errors.read_text(), errors.read_text()


@pytest.mark.not_under_mutation  # inside mutmut's runner the command ends 0 instead of 130 (its Ctrl-C is not a
# terminal's); the CLI area's Ctrl-C is judged by tests/cli/test_exit_paths.py in-process instead
def test_ctrl_c_says_what_is_true_and_the_next_command_carries_on(tmp_path: Path) -> None:
    """The built-in simulator keeps its account in the data folder (issue 22): after Ctrl-C the generation goes on,
    the message says how to follow it, and that command - a new process - saves its video."""
    process = subprocess.Popen(
        [sys.executable, "-m", "veo_mcp", "generate", "a slow render", "--simulate"],
        env={**_env(tmp_path), "VEO_MCP_SIMULATOR_SPEED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal starts a command: SIGINT at its default, even where this test runs with it ignored (a job a
        # script started in the background, a mutation run's worker).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 - no threads to mind here
    )
    try:
        assert process.stderr is not None
        started = line_containing(process.stderr, "Started generation task-")
        task_id = re.findall(r"task-unified-\d+-[a-z0-9]+", started)[0]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == 130 and out == ""
    assert f"`veo-mcp wait {task_id} --simulate` follows and saves it" in err and "Traceback" not in err, err
    listed = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "list", "--simulate", "--json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    waited = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "wait", task_id, "--simulate", "--json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert [g["task_id"] for g in json.loads(listed.stdout)["generations"]] == [task_id], listed.stderr
    assert waited.returncode == 0, waited.stderr
    saved = json.loads(waited.stdout.splitlines()[-1])
    assert saved["status"] == "completed" and Path(saved["videos"][0]["path"]).is_file()


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
    assert no_key["api key"].outcome == "warn" and "export EVOLINK_API_KEY" in (no_key["api key"].fix or "")
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
    deep = tmp_path / ("a-folder-with-a-long-name/" * 4) / "data"
    piped = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "doctor", "--simulate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env(tmp_path), "VEO_MCP_DATA_DIR": str(deep)},
        check=False,
    )
    assert any(str(deep) in line for line in piped.stdout.splitlines()), piped.stdout  # not wrapped at 80


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


async def test_doctor_warns_when_a_team_server_has_no_server_wide_budget(tmp_path: Path) -> None:
    base = {"data_dir": tmp_path / "data", "output_dir": tmp_path / "videos", "simulate": True}
    alone = {c.name for c in await diagnose(Settings(_env_file=None, **base))}  # type: ignore[call-arg]
    team = {
        c.name: c
        for c in await diagnose(Settings(_env_file=None, users_file=tmp_path / "team.toml", **base))  # type: ignore[call-arg]
    }
    capped = {
        c.name: c
        for c in await diagnose(
            Settings(  # type: ignore[call-arg]
                _env_file=None, oauth_issuer="https://login.example", server_hourly_budget_usd=20, **base
            )
        )
    }
    assert "server budget" not in alone  # one person's server: their own budgets are the server's
    assert team["server budget"].outcome == "warn" and "VEO_MCP_SERVER_HOURLY_BUDGET" in (
        team["server budget"].fix or ""
    )
    assert capped["server budget"].outcome == "ok" and "hourly $20.00" in capped["server budget"].detail
