"""The `veo-mcp` command as a user runs it: real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import line_containing, stop_process
from veo_mcp.evolink import DownloadError, EvoLinkClient, OutcomeUnknownError, parse_video_request


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update({"VEO_MCP_DATA_DIR": str(tmp_path / "data"), "VEO_MCP_OUTPUT_DIR": str(tmp_path / "videos")})
    return env


def test_help_lists_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "veo_mcp", "--help"], capture_output=True, text=True, check=True)
    for command in ("serve", "simulator", "demo"):
        assert command in result.stdout


def test_demo_generates_and_saves_a_video(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    video = summary["videos"][0]
    saved = Path(video["path"])
    assert saved.parent == tmp_path / "videos" / "simulated" and saved.name.endswith("-simulated.mp4")
    assert saved.stat().st_size == video["bytes"] > 1000
    assert saved.read_bytes()[4:8] == b"ftyp"
    assert summary["simulated"] is True and summary["status"] == "completed"


async def test_simulator_serves_on_loopback_and_prints_base_url(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "veo_mcp", "simulator", "--port", "0", "--speed", "1000", "--api-key", "k1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        assert process.stdout is not None
        base_url = line_containing(process.stdout, "http://").strip()
        assert base_url.startswith("http://127.0.0.1:")
        async with EvoLinkClient(api_key="k1", base_url=base_url) as client:
            task = await client.create_generation(parse_video_request({"prompt": "a kite", "duration": 4}))
            async with httpx.AsyncClient() as http:
                denied = await http.get(f"{base_url}/v1/tasks/{task.id}", headers={"Authorization": "Bearer nope"})
                assert denied.status_code == 401
                assert denied.json()["error"]["type"] == "authentication_error"
                faults = [{"kind": "drop_after_accept"}, {"kind": "truncate", "fraction": 0.5, "count": 3}]
                queued = await http.post(f"{base_url}/_sim/faults", json={"faults": faults})
                assert len(queued.json()["pending"]) == 2
                with pytest.raises(OutcomeUnknownError):
                    await client.create_generation(parse_video_request({"prompt": "a kite", "duration": 4}))
                await http.post(f"{base_url}/_sim/clock", json={"advance_s": 500})
                done = await client.get_task(task.id)
                with pytest.raises(DownloadError):
                    await client.download(done.results[0], tmp_path / "kite.mp4")
                assert not (tmp_path / "kite.mp4").exists()
                saved = await client.download(done.results[0], tmp_path / "kite.mp4")
                assert saved.bytes > 1000
                ledger = (await http.get(f"{base_url}/_sim/ledger")).json()
        assert ledger["requests"]["create"] == 2
        assert ledger["requests"]["download"] == 4
        assert len(ledger["tasks"]) == 2 and ledger["tasks"][0]["id"] == task.id
        assert ledger["total_charged_usd"] == 0.96  # the dropped create was accepted and billed too
    finally:
        stop_process(process)


async def test_bare_command_serves_when_a_client_starts_it(tmp_path: Path) -> None:
    """`uvx veo-mcp` / `pipx run veo-mcp` in a client config: no subcommand, stdin is a pipe → an MCP server."""
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    env = {**_env(tmp_path), "VEO_MCP_SIMULATE": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "veo_mcp"], env=env)
    async with Client(params, mode="legacy") as client:
        assert "generate_video" in {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize(
    ("argv", "env", "names"),
    [
        (["demo", "--speed", "-1"], {}, ["--speed (VEO_MCP_SIMULATOR_SPEED)", "greater than 0", "-1.0"]),
        (["demo"], {"VEO_MCP_SIMULATOR_SPEED": "fast"}, ["VEO_MCP_SIMULATOR_SPEED", "valid number"]),
        (["serve"], {"VEO_MCP_POLL_MIN": "5", "VEO_MCP_POLL_MAX": "1"}, ["VEO_MCP_POLL_MIN (5.0)", "VEO_MCP_POLL_MAX"]),
        (["generate", "x", "--simulate"], {"VEO_MCP_CONFIRM_ABOVE": "-3"}, ["VEO_MCP_CONFIRM_ABOVE", "0"]),
    ],
)
def test_a_bad_setting_ends_in_one_line_and_exit_code_2(
    tmp_path: Path, argv: list[str], env: dict[str, str], names: list[str]
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    environment.update({"VEO_MCP_DATA_DIR": str(tmp_path / "data"), "VEO_MCP_OUTPUT_DIR": str(tmp_path / "out"), **env})
    done = subprocess.run(
        [sys.executable, "-m", "veo_mcp", *argv],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("veo-mcp: "), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    for name in names:
        assert name in lines[0]
