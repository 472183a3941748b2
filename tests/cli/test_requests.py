"""What `generate` and `batch` refuse before anything is sent, and how a failed save ends: a reused `--request-id`
for another request, every problem of a batch line at once, an output folder that cannot be used, a save that fails
after the render."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Shell
from tests.helpers import SimulatorProcess


def test_a_request_id_used_for_another_request_is_refused(shell: Shell, upstream: SimulatorProcess) -> None:
    shell.use(upstream)
    first = shell.run("generate", "a kite over dunes", "--request-id", "kite-1", "--json")
    assert first.code == 0, first.err
    task_id = first.json["task_id"]
    creates = upstream.ledger()["requests"]["create"]
    other = shell.run("generate", "a boat at sea", "--request-id", "kite-1")
    assert other.code == 2 and other.out == ""
    line = other.err.strip().splitlines()[-1]
    assert line.startswith("veo-mcp: --request-id 'kite-1' was used for a different request ('a kite over dunes'")
    assert f"generation {task_id} (`veo-mcp status {task_id}` shows it). Nothing was sent." in line
    same = shell.run("generate", "a kite over dunes", "--request-id", "kite-1", "--json")  # a retry: that video
    assert same.code == 0 and same.json["task_id"] == task_id and same.json["reused"] is True
    assert upstream.ledger()["requests"]["create"] == creates


def test_a_batch_line_names_every_problem(shell: Shell, tmp_path: Path) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"prompt": "a", "aspect_ratio": "4:3", "durration": 6}\n{"prompt": "b", "n": 9}\n')
    ended = shell.run("batch", str(shots), "--simulate", "--yes")
    assert ended.code == 2
    problems = ended.err.split("nothing was sent:\n", 1)[1]
    line_1 = next(p for p in problems.splitlines() if p.startswith("line 1"))
    assert "'durration' is not a field a line can have. Did you mean 'duration'?" in line_1
    assert 'aspect_ratio: "4:3" is not allowed; use one of "auto", "16:9" or "9:16"' in line_1
    assert "line 2: n: 9 is not allowed" in problems


def test_an_unusable_output_folder_stops_generate_before_anything_is_sent(
    shell: Shell, upstream: SimulatorProcess
) -> None:
    shell.use(upstream)
    (shell.home / "a-file").write_text("not a folder")
    creates = upstream.ledger()["requests"]["create"]
    folder = shell.home / "a-file" / "videos"
    ended = shell.run("generate", "a kite", "--output-dir", str(folder))
    assert ended.code == 2 and ended.out == "" and "Traceback" not in ended.err
    assert ended.err == (
        f"veo-mcp: The video could not be written to {folder / 'simulated'}: Not a directory. Nothing was sent. Give "
        "--output-dir DIR (a folder you can write to), or set VEO_MCP_OUTPUT_DIR.\n"
    )
    assert upstream.ledger()["requests"]["create"] == creates
    as_json = shell.run("generate", "a kite", "--output-dir", str(folder), "--json")
    assert as_json.code == 2 and as_json.err == "" and "Nothing was sent" in as_json.json["error"]


def test_a_save_that_fails_after_the_render_is_one_line_never_a_traceback(
    shell: Shell, upstream: SimulatorProcess
) -> None:
    """Every download of the result is cut short: the render is paid, the save cannot finish."""
    shell.use(upstream)
    upstream.fault(faults=[{"kind": "truncate", "fraction": 0.3, "count": 200}])
    try:
        done = shell.process("generate", "a kite that cannot be saved", VEO_MCP_DOWNLOAD_TIMEOUT="5")
    finally:
        upstream.http.delete("/_sim/faults")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "  File " not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("veo-mcp: ") and "download_video" not in last, last
    task_id = json.loads(shell.process("list", "--json").stdout)["generations"][0]["task_id"]
    assert task_id in done.stderr and f"veo-mcp download {task_id}" in last, last
