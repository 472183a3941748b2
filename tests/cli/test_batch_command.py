"""`veo-mcp batch FILE` as a person (or a script) runs it: every line checked first, the total confirmed once, the
videos saved with a manifest and a contact sheet, and a second run that resumes instead of paying again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from tests.helpers import TEST_KEY, SimulatorProcess
from veo_mcp.cli.batch_file import BatchFileError, read_batch_file

LINES = [
    {"prompt": "a lighthouse at dusk", "duration": 4},
    {"prompt": "a lighthouse at dawn", "duration": 6, "aspect_ratio": "9:16"},
    {"prompt": "a lighthouse in fog", "duration": 4, "generate_audio": False},
]


@pytest.fixture
def simulator() -> Iterator[SimulatorProcess]:
    process = SimulatorProcess(speed=150, api_key=TEST_KEY)
    yield process
    process.stop()


class _Nowhere:
    base_url = "http://127.0.0.1:9"  # the discard port: nothing listens there


NOWHERE: Any = _Nowhere()


def _batch(tmp_path: Path, simulator: SimulatorProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    env.update(
        {
            "EVOLINK_API_KEY": TEST_KEY,
            "EVOLINK_BASE_URL": simulator.base_url,
            "VEO_MCP_DATA_DIR": str(tmp_path / "data"),
            "VEO_MCP_OUTPUT_DIR": str(tmp_path / "videos"),
            "VEO_MCP_POLL_MIN": "0.05",
            "VEO_MCP_POLL_MAX": "0.2",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "veo_mcp", "batch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_a_jsonl_batch_writes_the_manifest_and_contact_sheet_and_a_second_run_creates_nothing(
    tmp_path: Path, simulator: SimulatorProcess
) -> None:
    shots = tmp_path / "lighthouse shots.jsonl"
    shots.write_text("\n".join(json.dumps(line) for line in LINES) + "\n")
    first = _batch(tmp_path, simulator, str(shots), "--yes", "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    created = simulator.ledger()["requests"]["create"]
    second = _batch(tmp_path, simulator, str(shots), "--yes", "--json")
    assert second.returncode == 0, second.stderr[-3000:]
    folder = tmp_path / "videos" / "lighthouse shots"  # named after the file, inside the output folder
    manifest = json.loads((folder / "manifest.json").read_text())
    assert json.loads(first.stdout) == manifest and json.loads(second.stdout)["batch_id"] == manifest["batch_id"]
    entries = manifest["items"]
    assert [entry["line"] for entry in entries] == [1, 2, 3]
    assert [entry["arguments"] for entry in entries] == LINES
    assert [entry["status"] for entry in entries] == ["completed"] * 3
    assert [entry["estimated_cost_usd"] for entry in entries] == [0.48, 0.72, 0.32]
    for entry in entries:
        path = Path(entry["files"][0]["path"])
        assert path.parent == folder and path.read_bytes()[4:8] == b"ftyp"
    with av.open(str(folder / "contact-sheet.jpg")) as sheet:
        frame = next(sheet.decode(video=0))
    assert manifest["contact_sheet"] == str(folder / "contact-sheet.jpg") and frame.width > frame.height > 0
    assert created == 3 and simulator.ledger()["requests"]["create"] == 3  # the second run created nothing
    assert "3 videos, estimated $1.52 (109 credits)" in first.stderr and "batch: 3/3 done" in first.stderr
    assert "Resuming" in second.stderr


def test_a_bad_line_is_named_and_nothing_is_sent(tmp_path: Path) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"prompt": "fine"}\n{"prompt": "eight k", "quality": "8k"}\nnot json\n')
    result = _batch(tmp_path, NOWHERE, str(shots), "--yes")  # anything sent would fail on a refused connection
    assert result.returncode == 2 and "line 2" in result.stderr and "8k" in result.stderr
    assert "line 3: not valid JSON" in result.stderr and "nothing was sent" in result.stderr


def test_without_yes_a_script_is_not_taken_as_a_confirmation(tmp_path: Path) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"prompt": "a kite"}\n')
    result = _batch(tmp_path, NOWHERE, str(shots))
    assert result.returncode == 1 and "--yes" in result.stderr and "$0.48 (35 credits)" in result.stderr
    assert "nothing was sent" in result.stderr


def test_csv_cells_are_read_as_their_arguments_types(tmp_path: Path) -> None:
    frame = tmp_path / "frames" / "first.png"
    sheet = tmp_path / "shots.csv"
    sheet.write_text(
        'prompt,duration,generate_audio,seed,image_files\na kite,8,false,42,frames/first.png\n"a boat, at sea",,yes,,\n'
    )
    kite, boat = read_batch_file(sheet)
    assert kite.arguments == {
        "prompt": "a kite",
        "duration": 8,
        "generate_audio": False,
        "seed": 42,
        "image_files": [str(frame)],
    }
    assert (kite.line, boat.line) == (2, 3) and boat.arguments == {"prompt": "a boat, at sea", "generate_audio": True}
    assert kite.estimate.usd == pytest.approx(0.64)
    broken = tmp_path / "broken.csv"
    broken.write_text("prompt,duration,colour\nx,eight,\ny,4,red\nz,4,\nz,4,\n")
    with pytest.raises(BatchFileError) as refused:
        read_batch_file(broken)
    text = str(refused.value)
    assert "line 2: duration: 'eight' is not a whole number" in text
    assert "line 3: 'colour' is not a field a line can have" in text
    assert "line 5: the same request as line 4" in text


def test_csv_lists_are_split_at_each_bar_and_empty_parts_are_dropped(tmp_path: Path) -> None:
    sheet = tmp_path / "frames.csv"
    rows = [
        "prompt,image_urls",
        "from a to b,https://e.com/a.png | https://e.com/b.png",
        "one frame,https://e.com/c.png||",
    ]
    sheet.write_text("\n".join(rows) + "\n")
    two, one = read_batch_file(sheet)
    assert two.arguments == {"prompt": "from a to b", "image_urls": ["https://e.com/a.png", "https://e.com/b.png"]}
    assert one.arguments == {"prompt": "one frame", "image_urls": ["https://e.com/c.png"]}


def test_blank_lines_in_a_jsonl_file_are_skipped_and_the_lines_after_them_still_read(tmp_path: Path) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"prompt": "a kite"}\n\n   \n{"prompt": "a boat", "duration": 6}\n\n')
    kite, boat = read_batch_file(shots)
    assert (kite.line, kite.arguments) == (1, {"prompt": "a kite"})
    assert (boat.line, boat.arguments) == (4, {"prompt": "a boat", "duration": 6})
