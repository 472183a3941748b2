"""Following generations from the terminal: `list`, `status`, `wait`, `download`, `generate --allow-duplicate`, on the
same store as the server, against a `veo-mcp simulator` process (so generations outlive each command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SimulatorProcess

KEY = "sk-follow-up"


@pytest.fixture(scope="module")
def upstream() -> Iterator[SimulatorProcess]:
    simulator = SimulatorProcess(speed=200, api_key=KEY)
    try:
        yield simulator
    finally:
        simulator.stop()


def _run(upstream: SimulatorProcess, home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "EVOLINK_API_KEY": KEY,
            "EVOLINK_BASE_URL": upstream.base_url,
            "EVOLINK_FILES_BASE_URL": upstream.base_url,
            "VEO_MCP_SIMULATE": "1",
            "VEO_MCP_DATA_DIR": str(home / "data"),
            "VEO_MCP_OUTPUT_DIR": str(home / "videos"),
            "VEO_MCP_POLL_MIN": "0.05",
            "VEO_MCP_POLL_MAX": "0.5",
            **extra,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "veo_mcp", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The command's JSON answer; a failure (its JSON error and its stderr) fails the test in the command's words."""
    assert result.stdout, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    if result.returncode != 0 or "error" in data:
        pytest.fail(f"{data}\n{result.stderr}", pytrace=False)
    return data


def _error(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """A failed command's JSON error object (stdout under --json)."""
    assert result.returncode != 0 and result.stdout, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_list_status_wait_and_download_follow_a_generation(upstream: SimulatorProcess, tmp_path: Path) -> None:
    created = _json(_run(upstream, tmp_path, "generate", "a lantern on a long night river", "--json"))
    task_id = created["task_id"]
    listed = _json(_run(upstream, tmp_path, "list", "--json"))
    assert [g["task_id"] for g in listed["generations"]] == [task_id] and listed["total"] == 1
    status = _json(_run(upstream, tmp_path, "status", task_id, "--json"))
    assert status["status"] == "completed" and status["files"][0]["path"] == created["videos"][0]["path"]
    waited = _json(_run(upstream, tmp_path, "wait", task_id, "--json"))
    assert waited["finished"] is True and waited["videos"][0]["path"] == created["videos"][0]["path"]
    other = tmp_path / "elsewhere"
    downloaded = _json(_run(upstream, tmp_path, "download", task_id, "--output-dir", str(other), "--json"))
    copy = Path(downloaded["files"][0]["path"])
    assert copy.parent == other / "simulated" and copy.read_bytes() == Path(created["videos"][0]["path"]).read_bytes()
    table = _run(upstream, tmp_path, "status", task_id)  # piped: never wrapped at 80 columns
    assert table.returncode == 0 and any(created["videos"][0]["path"] in line for line in table.stdout.splitlines())
    assert max(len(line) for line in table.stdout.splitlines()) > 80
    unknown = _run(upstream, tmp_path, "status", "task-unified-0-nosuchid")
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    assert "task-unified-0-nosuchid" in unknown.stderr and "Traceback" not in unknown.stderr
    assert upstream.ledger()["requests"]["download"] == 1  # the copy was made from the saved file


def test_allow_duplicate_pays_for_a_new_take_and_the_reuse_says_how(upstream: SimulatorProcess, tmp_path: Path) -> None:
    prompt = "the same shot twice"
    first = _json(_run(upstream, tmp_path, "generate", prompt, "--json"))
    again = _run(upstream, tmp_path, "generate", prompt, "--json")
    fresh = _json(_run(upstream, tmp_path, "generate", prompt, "--allow-duplicate", "--json"))
    assert _json(again)["task_id"] == first["task_id"] and _json(again)["reused"] is True
    assert "--allow-duplicate" in again.stderr
    assert fresh["task_id"] != first["task_id"] and fresh["reused"] is False


def test_a_failed_render_and_a_stall_end_in_one_sentence(upstream: SimulatorProcess, tmp_path: Path) -> None:
    upstream.fault(
        faults=[{"kind": "fail_task", "error_code": "content_policy_violation", "fraction": 0.3, "count": 2}]
    )
    failed = _run(upstream, tmp_path, "generate", "a refused scene")
    failed_json = _run(upstream, tmp_path, "generate", "another refused scene", "--json")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("veo-mcp: generation task-") and "failed (content_policy_violation)" in last
    assert "rephrase" in last
    error = _error(failed_json)
    task_id = error["task_id"]
    advice = last.split("failed (content_policy_violation): ", 1)[1]
    assert failed_json.returncode == 1 and "Traceback" not in failed_json.stderr
    assert error == {
        "error": f"generation {task_id} failed (content_policy_violation): {advice}",
        "exit_code": 1,
        "task_id": task_id,
    }
    upstream.fault(faults=[{"kind": "stall", "fraction": 0.4}])
    created = upstream.http.post(
        "/v1/videos/generations", json={"prompt": "made elsewhere, stuck"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    task_id = created.json()["id"]
    stalled = _run(upstream, tmp_path, "wait", task_id, "--timeout", "3", "--json", VEO_MCP_STALL_AFTER="0.5")
    assert stalled.returncode == 1 and "Traceback" not in stalled.stderr
    assert f"! {task_id} has made no progress for unusually long (at 40%" in stalled.stderr
    assert _error(stalled) == {
        "error": f"{task_id} is still processing (40%) after 3 s; it keeps rendering upstream. Run `veo-mcp wait "
        f"{task_id}` again later.",
        "exit_code": 1,
        "task_id": task_id,
    }
