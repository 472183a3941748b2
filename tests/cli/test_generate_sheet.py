"""`veo-mcp generate`'s sheet and messages, line for line (in this process, so the mutation run sees them): what was
started and at what price, the facts of the generation, the saved video's size, length, picture and sound, and - for
a request_id used before - that it is that generation and nothing new was charged. Only the task id, the time taken
and the file's size vary, and each is checked against what is on disk or in the first answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.conftest import Shell

PROMPT = "a kite over the sea"
PRICE = "$0.48 (35 credits): 1 × 4 s at 720p with audio, $0.12/s"
QUICK = {"VEO_MCP_POLL_MIN": "0.05", "VEO_MCP_POLL_MAX": "0.3"}  # (the simulator renders in about a second)


def _sheet(out: str) -> dict[str, str]:
    """The sheet's lines after its title, as label → value (a continuation line is kept under `label+`)."""
    facts: dict[str, str] = {}
    label = ""
    for line in out.splitlines()[1:]:
        if not line.strip():
            continue
        if line.startswith(" "):
            facts[f"{label}+"] = line.strip()
        else:
            label, value = re.split(r"\s{2,}", line, maxsplit=1)
            facts[label] = value
    return facts


def test_the_sheet_names_every_fact_and_a_second_call_is_the_same_generation(shell: Shell) -> None:
    first = shell.run("generate", PROMPT, "--simulate", "--yes", "--request-id", "kite-1", **QUICK)
    assert first.code == 0, first.err
    assert first.out.splitlines()[0] == "veo-mcp generate (simulated: nothing was billed)"
    facts = _sheet(first.out)
    task_id = facts["task id"]
    assert re.fullmatch(r"task-unified-\d+-[a-z0-9]+", task_id)
    video = Path(facts["video 1"])
    assert video.parent == shell.videos / "simulated" and video.name.endswith("-simulated.mp4")
    assert re.fullmatch(r"\d+ s", facts["took"])
    assert {label: value for label, value in facts.items() if label not in ("task id", "took", "video 1")} == {
        "status": "completed",
        "prompt": PROMPT,
        "estimated cost": "$0.48",
        "simulated": "yes (a test pattern; nothing billed)",
        "reused": "no",
        "video 1+": f"{video.stat().st_size:,} bytes · 4.0 s · 256x144 · sound",
    }
    assert list(facts) == [
        "task id",
        "status",
        "prompt",
        "estimated cost",
        "simulated",
        "reused",
        "took",
        "video 1",
        "video 1+",
    ]
    assert first.err.splitlines()[0] == f"Started generation {task_id} ({PRICE})."

    again = shell.run("generate", PROMPT, "--simulate", "--yes", "--request-id", "kite-1", **QUICK)
    assert again.code == 0, again.err
    repeated = _sheet(again.out)
    assert repeated["task id"] == task_id and repeated["video 1"] == str(video)
    assert repeated["reused"] == "yes (an earlier generation; nothing new charged)"
    assert again.err.splitlines()[0] == (
        f"i {task_id}: request id 'kite-1' was used before - this is that generation; nothing new was charged."
    )

    as_json = shell.run("generate", PROMPT, "--simulate", "--yes", "--request-id", "kite-1", "--json", **QUICK)
    summary = json.loads(as_json.out.splitlines()[-1])
    assert (summary["task_id"], summary["reused"], summary["status"]) == (task_id, True, "completed")


def test_without_a_request_id_a_new_generation_is_made_and_none_is_called_reused(shell: Shell) -> None:
    first = _sheet(shell.run("generate", PROMPT, "--simulate", "--yes", **QUICK).out)
    second = _sheet(shell.run("generate", PROMPT, "--simulate", "--yes", "--allow-duplicate", **QUICK).out)
    assert first["task id"] != second["task id"]
    assert first["reused"] == second["reused"] == "no"
