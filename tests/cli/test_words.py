"""The words a person reads in the terminal name commands and flags (`veo-mcp wait TASK`, `--image-file`), never the
MCP tools and arguments an assistant is told about; and the commands those words name exist: `estimate`, `models`,
`combine`."""

from __future__ import annotations

import re
from pathlib import Path

import av
import pytest

from tests.cli.conftest import KEY, Shell, needs_pty
from tests.helpers import SimulatorProcess
from veo_mcp.mcp.checking import rules_of
from veo_mcp.mcp.server import build_tools
from veo_mcp.reference import _app


def _assistant_words() -> re.Pattern[str]:
    """Every tool name and every snake_case tool argument (the assistant's vocabulary)."""
    names: set[str] = set()
    for tool in build_tools(_app()):
        names.add(tool.name)
        names.update(name for name in rules_of(tool.fn_metadata.arg_model.model_json_schema()) if "_" in name)
    return re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")


ASSISTANT_WORDS = _assistant_words()


def assert_person_words(text: str) -> None:
    found = ASSISTANT_WORDS.findall(text)
    assert not found, f"assistant words {found} in: {text}"
    for phrase in ("Ask what they would like", "the user", "The user", "Tell the user"):
        assert phrase not in text, text


def test_the_guard_knows_the_assistant_words() -> None:
    """A positive control: the words this file forbids are the ones the issue found."""
    for text in ("call wait_for_generation (or get_generation) again", "image_files[0]", "(list_models)"):
        assert ASSISTANT_WORDS.search(text), text
    assert not ASSISTANT_WORDS.search("run `veo-mcp wait TASK` again with --image-file")


def test_a_costly_video_from_a_script_says_how_to_confirm_it(shell: Shell) -> None:
    """Without a terminal nobody can be asked: nothing is sent, and no "no" is recorded in the person's name (the
    same line with --yes then goes through)."""
    ended = shell.run("generate", "a city at night", "--simulate", "--quality", "4k", "--duration", "8")
    assert ended.code == 1 and ended.out == ""
    assert ended.err == (
        "veo-mcp: This video is estimated at $2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s, above "
        "the $2.00 confirmation threshold. Nothing was sent. If you want it, run the same command again with --yes "
        "(VEO_MCP_CONFIRM_ABOVE sets the threshold).\n"
    )
    assert_person_words(ended.err)
    confirmed = shell.run("generate", "a city at night", "--simulate", "--quality", "4k", "--duration", "8", "--yes")
    assert confirmed.code == 0, confirmed.err


@needs_pty
def test_a_declined_cost_says_what_to_type(shell: Shell) -> None:
    terminal = shell.terminal("generate", "a city at night", "--simulate", "--quality", "4k", "--duration", "8")
    terminal.wait_for("Generate it? [y/n] (n):")
    terminal.type(b"n\r")
    assert terminal.finish() == 1, terminal.screen
    said = " ".join(terminal.screen.split("veo-mcp: ", 1)[1].split())
    assert said.startswith("You did not confirm the cost ($2.25")
    assert "`veo-mcp estimate` shows a cost before anything is sent" in said and "--yes" in said
    assert_person_words(terminal.screen)


def test_an_unknown_task_id_points_at_list_and_generate(shell: Shell) -> None:
    ended = shell.run("status", "task-unified-0-nosuchid", "--simulate")
    assert ended.code == 1
    assert (
        ended.err.strip()
        .splitlines()[-1]
        .endswith(
            "Check the task id: use one `veo-mcp generate` printed or `veo-mcp list` shows; a task of another EvoLink "
            "account cannot be read."
        )
    )
    assert_person_words(ended.err)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--image-file", "nowhere/kite.png"], "--image-file (first): "),
        (["--generation-type", "REFERENCE", "--model", "veo3.1-pro"], "(`veo-mcp models` lists them)"),
        (["--image-file", "a.png", "--image-url", "https://example.com/a.png"], "not allowed with argument"),
    ],
)
def test_refused_requests_name_the_flags(shell: Shell, argv: list[str], expected: str) -> None:
    ended = shell.run("generate", "a kite", "--simulate", *argv)
    assert ended.code == 2 and ended.out == "", ended.err
    assert expected in ended.err
    assert_person_words(ended.err)
    estimated = shell.run("estimate", "a kite", *argv)  # the same line, with nothing sent either way
    assert estimated.code == 2 and expected in estimated.err


def test_a_running_generation_says_which_command_follows_it(shell: Shell, upstream: SimulatorProcess) -> None:
    shell.use(upstream)
    upstream.fault(faults=[{"kind": "stall", "fraction": 0.3}])
    made = upstream.http.post(
        "/v1/videos/generations", json={"prompt": "stuck at 30%"}, headers={"Authorization": f"Bearer {KEY}"}
    ).json()["id"]
    shown = shell.run("status", made)
    assert shown.code == 0, shown.err
    assert re.search(rf"^next +Still rendering.*: run `veo-mcp wait {made}` again\.$", shown.out, re.MULTILINE), (
        shown.out
    )
    assert_person_words(shown.out + shown.err)
    as_json = shell.run("status", made, "--json").json
    assert as_json["next_step"].endswith(f": run `veo-mcp wait {made}` again.")
    assert_person_words(as_json["advice"] + as_json["next_step"])


def test_wait_prints_the_saved_path_without_an_older_next_step(shell: Shell, upstream: SimulatorProcess) -> None:
    """Issue 22: `wait` printed "Call download_video to save the video" above the saved path, and its JSON had
    `"files": []` beside the filled `"videos"`."""
    shell.use(upstream)
    task_id = upstream.http.post(
        "/v1/videos/generations", json={"prompt": "a kite made elsewhere"}, headers={"Authorization": f"Bearer {KEY}"}
    ).json()["id"]
    waited = shell.run("wait", task_id)
    assert waited.code == 0, waited.err
    assert re.search(r"^next +Done: the video is saved.$", waited.out, re.MULTILINE), waited.out
    assert_person_words(waited.out + waited.err)
    as_json = shell.run("wait", task_id, "--json").json
    assert as_json["files"] and [f["path"] for f in as_json["files"]] == [v["path"] for v in as_json["videos"]]
    assert as_json["download_status"] == "saved" and as_json["next_step"] == "Done: the video is saved."
    assert_person_words(as_json["advice"] + as_json["next_step"])


def test_estimate_prints_the_cost_and_sends_nothing(shell: Shell) -> None:
    """No key, no simulator: nothing could be sent; the same flags as generate."""
    ended = shell.run("estimate", "a red kite over dunes", "--duration", "8", "--quality", "4k", "--request-id", "x")
    assert ended.code == 0, ended.err
    assert ended.out.splitlines()[:4] == [
        "veo-mcp estimate (nothing was sent)",
        "cost           $2.25 (162 credits)",
        "how            1 × 8 s at 4k with audio, $0.2808/s",
        "generate asks  yes: above the $2.00 threshold (VEO_MCP_CONFIRM_ABOVE); --yes confirms it",
    ]
    unpriced = shell.run("estimate", "a red kite over dunes", "--model", "veo3.1-pro")  # EvoLink publishes no price
    assert unpriced.code == 0 and unpriced.out.splitlines()[1] == "cost           at most $2.40 (173 credits)"
    cheap = shell.run("estimate", "a kite", "-n", "2", "--no-audio", "--json").json
    assert (cheap["usd"], cheap["billed_seconds"], cheap["payload"]["generate_audio"]) == (0.64, 8, False)
    assert not (shell.data / "veo-mcp.sqlite3").exists()  # nothing recorded, nothing to record


def test_estimate_prices_the_request_every_flag_describes(shell: Shell) -> None:
    """Each flag reaches the request that would be sent (the payload `generate` would send with the same line)."""
    flags = ["--model", "veo3.1-fast", "--aspect-ratio", "9:16", "--duration", "6", "--quality", "1080p", "-n", "2"]
    flags += ["--no-audio", "--negative-prompt", "birds", "--seed", "7", "--generation-type", "FIRST&LAST"]
    ended = shell.run("estimate", "a kite", *flags, "--image-url", "https://e.com/a.png", "--json")
    assert ended.code == 0, ended.err
    assert ended.json["payload"] == {
        "model": "veo3.1-fast",
        "prompt": "a kite",
        "aspect_ratio": "9:16",
        "generation_type": "FIRST&LAST",
        "enhance_prompt": True,
        "quality": "1080p",
        "duration": 6,
        "generate_audio": False,
        "n": 2,
        "person_generation": "allow_adult",
        "image_urls": ["https://e.com/a.png"],
        "resize_mode": "pad",
        "negative_prompt": "birds",
        "seed": 7,
    }


def test_models_lists_every_model_with_its_price(shell: Shell) -> None:
    ended = shell.run("models")
    assert ended.code == 0, ended.err
    rows = {line.split()[0]: line for line in ended.out.splitlines()[2:5]}
    assert set(rows) == {"veo-3.1-fast-generate-preview", "veo3.1-fast", "veo3.1-pro"}
    assert (
        "(default)" in rows["veo-3.1-fast-generate-preview"]
        and "4k sound $0.28" in rows["veo-3.1-fast-generate-preview"]
    )
    assert [m["id"] for m in shell.run("models", "--json").json["models"]] == list(rows)
    for row in rows.values():  # every model's lengths and qualities, in the person's shorthand
        assert "  4/6/8  " in row and "  720p/1080p/4k  " in row


def test_combine_joins_generations_into_the_file_named(
    shell: Shell, upstream: SimulatorProcess, tmp_path: Path
) -> None:
    shell.use(upstream)
    ids = [shell.run("generate", f"shot {n}", "--duration", "4", "--json").json["task_id"] for n in (1, 2)]
    film = tmp_path / "out" / "film.mp4"
    ended = shell.run("combine", *ids, "--output", str(film))
    assert ended.code == 0, ended.err
    assert ended.out.splitlines()[:2] == ["2 clips joined", f"video   {film}"]
    with av.open(str(film)) as container:
        assert 7.5 < float(container.duration or 0) / 1_000_000 < 8.5
    assert shell.run("combine", ids[0]).code == 2
    assert shell.run("combine", *ids, "--output", str(tmp_path / "film.mov")).code == 2
    as_json = shell.run("combine", *ids, "--json").json
    assert Path(as_json["path"]).parent == shell.videos / "simulated" and as_json["duration"] == pytest.approx(
        8, abs=0.5
    )
