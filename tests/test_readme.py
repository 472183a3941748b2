"""README's quick start is what CI runs: the two must not drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_has_exactly_two_commands() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert "demo" in commands[0]
    assert "pytest" in commands[1] and "[test]" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _quick_start_commands()[1] in ci_lines


def test_install_instructions_work_before_the_first_release() -> None:
    """The PyPI lines are marked as needing a release; every client config works from a checkout today."""
    text = (ROOT / "README.md").read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "Not on PyPI yet." in quick_start and "uvx --from . veo-mcp" in quick_start
    assert "pip install dist/veo_mcp-" in quick_start
    configs = [json.loads(block) for block in re.findall(r"```json\n(.+?)\n```", text, re.DOTALL)]
    servers = [server for config in configs for server in (config.get("mcpServers") or config["servers"]).values()]
    assert servers and all(server["command"].startswith("/") for server in servers), servers
    assert "uvx veo-mcp serve`" not in text.replace("Once veo-mcp is on PyPI", "")  # only as the after-release form


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
