"""The README is what a newcomer reads first, and its quick start is what they type: its first screen says what veo-mcp
is, how to install and try it (lines that work on a PEP 668 system, run here line by line in a fresh clone and virtual
environment), how to connect a client and where to go next; the long reference lives in docs/, generated from the
code or checked against it; and CI runs the README's test command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import LineReader
from veo_mcp.reference import DOCUMENTS, apply_blocks, generated_blocks, page_blocks

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
REPOSITORY = "https://github.com/veo-mcp/veo-mcp.git"
TEST_COMMAND = 'python -m pip install -e ".[test]" && python -m pytest -rs'


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"(?m)^## ", text)
    return {part.split("\n", 1)[0].strip(): part.split("\n", 1)[1] for part in parts[1:]}


def _blocks(text: str, language: str = "bash") -> list[str]:
    return re.findall(rf"```{language}\n(.+?)\n```", text, re.DOTALL)


def quick_start_lines() -> list[str]:
    (block,) = _blocks(_sections(README.read_text())["Quick start"])
    return block.splitlines()


def test_the_first_screen_is_what_it_is_how_to_start_the_client_config_and_where_next() -> None:
    text = README.read_text()
    assert list(_sections(text))[:3] == ["Quick start", "Use it from your MCP client", "Where to go next"]
    first_screen = text.split("\n## Where to go next", 1)[0]
    assert len(first_screen.splitlines()) <= 70, "the first screen must stay a screen"
    assert len(text.splitlines()) <= 120, "reference material belongs in docs/"
    intro = text.split("\n## ", 1)[0]
    assert "MCP server" in intro and "Veo 3.1" in intro and "simulator" in intro
    client = _sections(text)["Use it from your MCP client"]
    (config,) = [json.loads(block) for block in _blocks(client, "json")]
    assert config["mcpServers"]["veo"]["args"] == ["serve"] and "EVOLINK_API_KEY" in config["mcpServers"]["veo"]["env"]
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)", _sections(text)["Where to go next"]))
    assert linked == {str(page.relative_to(ROOT)) for page in DOCS}  # every page is reachable from the README


def test_the_quick_start_installs_into_a_virtual_environment() -> None:
    """PEP 668 systems refuse `pip install` into the system Python: the lines make a venv and install there."""
    lines = quick_start_lines()
    assert lines[:6] == [
        f"git clone {REPOSITORY}",
        "cd veo-mcp",
        "python3 -m venv .venv",
        ". .venv/bin/activate",
        "python -m pip install -e .",
        "veo-mcp demo",
    ]
    assert not any("--user" in line or "--break-system-packages" in line or "sudo" in line for line in lines)
    assert [line.split()[1] for line in lines[6:]] == ["generate", "list", "status", "wait"]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    (command,) = _blocks(_sections(README.read_text())["Tests"])
    assert command == TEST_COMMAND
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_says_what_the_suite_takes() -> None:
    tests = " ".join(_sections(README.read_text())["Tests"].split())
    for words in ("about 3 minutes", "PostgreSQL", "veo-pg", "as root", "npm ci --prefix tests/mcp/clients"):
        assert words in tests, words
    assert "--prefix tests/mcp/clients" in (ROOT / ".ci" / "run").read_text()


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_between_the_pages_resolves(page: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.is_file(), f"{page.name}: {target}"
        if anchor and resolved.suffix == ".md":
            headings = re.findall(r"(?m)^#+ (.+)$", resolved.read_text())
            assert anchor in {_anchor(h) for h in headings}, f"{page.name}: {target}"


async def test_the_generated_tables_match_the_code() -> None:
    blocks = await generated_blocks()
    for page, wanted in page_blocks(blocks).items():
        text = (ROOT / page).read_text(encoding="utf-8")
        assert apply_blocks(text, wanted) == text, f"{page} is stale: run `python scripts/sync_readme.py`"
    assert set(DOCUMENTS) <= {str(page.relative_to(ROOT)) for page in DOCS}


def test_the_reference_pages_carry_what_was_missing() -> None:
    """Issue 26's findings: VEO_MCP_ENV_FILE among the settings, every `users` action with its flags, --simulate in
    the simulator's page, and --duration's default said with REFERENCE mode's exception."""
    settings = (ROOT / "docs" / "settings.md").read_text()
    assert "| `VEO_MCP_ENV_FILE` |" in settings
    commands = (ROOT / "docs" / "commands.md").read_text()
    for action in ("add", "list", "remove"):
        assert f"| `veo-mcp users {action}` |" in commands
    assert "`NAME`, `--file FILE`, `--daily-budget USD`" in commands
    for command in ("estimate", "models", "combine"):
        assert f"| `veo-mcp {command}` |" in commands
    assert "`--simulate`" in (ROOT / "docs" / "simulator.md").read_text()
    usage = subprocess.run(
        [sys.executable, "-m", "veo_mcp", "generate", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "REFERENCE mode is fixed at 8 s" in " ".join(usage.split())


def test_every_client_config_starts_an_absolute_command() -> None:
    """Clients start servers without the shell's PATH: every config shown names the command by its full path."""
    texts = README.read_text() + (ROOT / "docs" / "clients.md").read_text()
    configs = [json.loads(block) for block in _blocks(texts, "json")]
    servers = [server for config in configs for server in (config.get("mcpServers") or config["servers"]).values()]
    assert len(servers) >= 2 and all(server["command"].startswith("/") for server in servers), servers
    assert "uvx veo-mcp serve`" not in texts.replace("Once veo-mcp is on PyPI", "")  # only as the after-release form


def test_release_workflow_builds_all_three_and_publishes_with_trusted_publishing() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML reads the key `on` as true
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    build = " ".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build --sdist --wheel" in build and "scripts/build_mcpb.py --output" in build
    assert "python -m pytest" in build and 'test "v${version}" = "${GITHUB_REF_NAME}"' in build
    publish = jobs["publish-pypi"]
    assert publish["permissions"] == {"id-token": "write"} and publish["environment"]["name"] == "pypi"
    assert [step["uses"] for step in publish["steps"]][-1] == "pypa/gh-action-pypi-publish@release/v1"
    assert all("password" not in (step.get("with") or {}) for step in publish["steps"])  # no stored token
    downloaded = [step["with"]["name"] for step in publish["steps"] if "download-artifact" in step.get("uses", "")]
    assert downloaded == ["python-packages"]  # PyPI gets the sdist and wheel only, not the .mcpb
    release = jobs["github-release"]
    names = {step["with"]["name"] for step in release["steps"] if "download-artifact" in step.get("uses", "")}
    assert names == {"python-packages", "mcpb-bundle"} and "gh release create" in release["steps"][-1]["run"]
    assert release["needs"] == "publish-pypi" and release["permissions"] == {"contents": "write"}


# --- a newcomer's first run -----------------------------------------------------------------------------------------


def _snapshot(into: Path) -> Path:
    """This checkout as its repository would be cloned: every file git tracks or would track, in a repository of its
    own (the clone line then fetches from it instead of GitHub, which no test may reach)."""
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    _git(into, "init", "-q")
    _git(into, "add", "-A")
    _git(into, "-c", "user.name=readme", "-c", "user.email=readme@example.invalid", "commit", "-qm", "snapshot")
    return into


def _git(cwd: Path, *args: str) -> bytes:
    return subprocess.run([shutil.which("git") or "git", *args], cwd=cwd, capture_output=True, check=True).stdout


def _newcomer(home: Path, repository: Path) -> dict[str, str]:
    """A person's shell: their own home, no veo-mcp settings, this test's Python tools off the PATH (so `python3` and
    `veo-mcp` are what the system and the new virtual environment provide), GitHub served from the snapshot."""
    ours = str(Path(sys.executable).parent)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("EVOLINK_", "VEO_MCP_", "XDG_", "GIT_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep) if part != ours)
    cache = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if cache:  # the machine's pip cache, as a person's own pip has one: the install is the same, only faster
        env["PIP_CACHE_DIR"] = cache
    env.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"url.{repository}.insteadOf",
            "GIT_CONFIG_VALUE_0": REPOSITORY,
            "GIT_TERMINAL_PROMPT": "0",
        }
    )
    return env


class _Shell:
    """bash, typed into one line at a time: each line's output and exit status."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [shutil.which("bash") or "bash", "--noprofile", "--norc", "-s"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        self.lines = LineReader(self.process.stdout)

    def type(self, line: str, timeout_s: float = 300) -> tuple[str, int]:
        assert self.process.stdin is not None
        self.process.stdin.write(f'{line}\necho "::readme-step $?"\n')
        self.process.stdin.flush()
        output, deadline = [], time.monotonic() + timeout_s
        while True:
            got = self.lines.next_line(deadline)
            assert got is not None, f"the shell ended during {line!r}:\n{''.join(output)}"
            if got.startswith("::readme-step "):
                return "".join(output), int(got.split()[1])
            output.append(got)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.mark.long
@pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("bash") is None or not (ROOT / ".git").exists(),
    reason="needs git, bash and this checkout's git repository",
)
def test_a_newcomer_runs_the_quick_start_exactly_as_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shell = _Shell(home, _newcomer(home, _snapshot(tmp_path / "snapshot")))
    said: dict[str, str] = {}
    task_id = None
    try:
        for line in quick_start_lines():
            typed = line.replace("TASK_ID", task_id) if task_id else line
            assert "TASK_ID" not in typed, "TASK_ID is used before generate printed it"
            output, status = shell.type(typed)
            assert status == 0, f"{typed!r} exited {status}:\n{output}"
            said[line.split()[1] if line.startswith("veo-mcp ") else line] = output
            if line.startswith("veo-mcp generate "):
                found = re.search(r"Started generation (task-[\w-]+)", output)
                assert found is not None, output
                task_id = found.group(1)
    finally:
        shell.close()
    videos = home / "Videos" / "veo-mcp" / "simulated"
    saved = sorted(videos.glob("*-simulated.mp4"))
    assert len(saved) == 2 and all(path.read_bytes()[4:8] == b"ftyp" for path in saved)  # the demo's and ours
    assert task_id is not None and task_id in said["list"]
    assert re.search(r"(?m)^status +completed$", said["status"]), said["status"]
    ours = next(path for path in saved if task_id.rsplit("-", 1)[-1] in path.name)
    assert str(ours) in said["wait"] and "Done: the video is saved." in said["wait"]


def test_the_python_client_example_gets_a_saved_video_in_two_calls(tmp_path: Path) -> None:
    """docs/clients.md's agent-framework example, run as it is (the simulator; HOME moved so its data and videos land
    in this test's folder): it prints the saved MP4's path, with no download_video call."""
    example = next(
        block for block in _blocks((ROOT / "docs" / "clients.md").read_text(), "python") if "Client(" in block
    )
    assert "download_video" not in example
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}, "HOME": str(tmp_path)}
    env.pop("XDG_DATA_HOME", None)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file() and tmp_path in path.parents and path.read_bytes()[4:8] == b"ftyp", done.stdout


def test_the_tables_describe_any_argument_schema_and_any_docstring_a_tool_could_have() -> None:
    """The generator's pieces on shapes today's tools happen not to use (a bound on one side, no type, a docstring
    of several paragraphs): the next tool that does gets a correct row."""
    from veo_mcp.reference import _argument, _cell, _first_sentence, _summary

    assert _argument("n", {"type": "integer", "minimum": 1, "maximum": 4, "default": 2}, True) == (
        "`n` (required): integer (1–4), default `2`"
    )
    assert _argument("x", {"anyOf": [{"type": "number", "maximum": 9}, {"type": "null"}], "default": None}, False) == (
        "`x`: number (…–9)"
    )
    assert _argument("y", {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}, False) == (
        "`y`: integer/string (0–…)"
    )
    assert _argument("z", {"description": "anything"}, False) == "`z`: any"
    assert _argument("e", {"enum": ["a", "b"], "default": "a"}, False) == '`e`: `a` \\| `b`, default `"a"`'
    assert _cell(" a|b\nc ") == "a\\|b c"
    assert _summary("First part\n  goes on.\n\nSecond.\n\nThird.") == "First part goes on."
    assert _first_sentence("Makes a video.  Then more!") == "Makes a video."
    assert _first_sentence("no full stop") == "no full stop"
    with pytest.raises(ValueError, match=r"^README has no <!-- generated:tools --> block$"):
        apply_blocks("# a page without its block\n", {"tools": "| table |"})
