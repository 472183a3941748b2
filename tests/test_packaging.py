"""Install and client-config artefacts: MCPB manifest and bundle, registry server.json, .mcp.json,
package metadata. Each is checked against the code, so none can drift."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from veo_mcp import __version__
from veo_mcp.mcp.server import PLAYER_URI
from veo_mcp.reference import manifest_tools
from veo_mcp.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTING_NAMES = {str(field.validation_alias) for field in Settings.model_fields.values()}


def _json(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / path).read_text(encoding="utf-8"))
    return data


async def test_mcpb_manifest_matches_the_code() -> None:
    manifest = _json("manifests/manifest.json")
    assert manifest["manifest_version"] == "0.4" and manifest["version"] == __version__
    assert manifest["tools"] == await manifest_tools(), "run `python scripts/build_mcpb.py`"
    assert manifest["user_config"]["api_key"]["sensitive"] is True
    assert manifest["user_config"]["output_dir"]["type"] == "directory"
    env = manifest["server"]["mcp_config"]["env"]
    assert set(env) <= SETTING_NAMES and env["EVOLINK_API_KEY"] == "${user_config.api_key}"
    referenced = set(re.findall(r"\$\{user_config\.(\w+)\}", json.dumps(env)))
    assert referenced == set(manifest["user_config"])
    assert (ROOT / "manifests" / manifest["icon"]).is_file()


@pytest.mark.skipif(shutil.which("npx") is None, reason="needs npx (Node.js) for @anthropic-ai/mcpb")
def test_mcpb_validate_accepts_the_manifest() -> None:
    npx = shutil.which("npx")
    assert npx is not None
    result = subprocess.run(
        [npx, "--yes", "@anthropic-ai/mcpb", "validate", str(ROOT / "manifests" / "manifest.json")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0 and "validation passes" in result.stdout, result.stdout + result.stderr


async def test_the_bundle_runs_from_its_own_files(tmp_path: Path) -> None:
    """Build the .mcpb, unpack it elsewhere, start the server from the unpacked sources only."""
    bundle = tmp_path / "veo-mcp.mcpb"
    manifest_before = (ROOT / "manifests" / "manifest.json").read_text(encoding="utf-8")
    stray = ROOT / "src" / "veo_mcp" / "stray-local-secret.env"  # untracked: must never be packed
    stray.write_text("EVOLINK_API_KEY=sk-must-not-ship\n")
    try:
        await anyio.run_process(
            [sys.executable, str(ROOT / "scripts" / "build_mcpb.py"), "--output", str(bundle), "--no-validate"]
        )
    finally:
        stray.unlink()
    assert (ROOT / "manifests" / "manifest.json").read_text(encoding="utf-8") == manifest_before  # already in sync
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    assert {
        "manifest.json",
        "icon.png",
        "pyproject.toml",
        "src/veo_mcp/__main__.py",
        "src/veo_mcp/mcp/player.html",
    } <= names
    assert not any("stray-local-secret" in name or "__pycache__" in name for name in names)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_", "PYTHONPATH"))}
    env.update({"PYTHONPATH": str(unpacked / "src"), "VEO_MCP_SIMULATE": "true", "VEO_MCP_DATA_DIR": str(tmp_path)})
    params = StdioServerParameters(command=sys.executable, args=["-m", "veo_mcp", "serve"], env=env, cwd=str(tmp_path))
    async with Client(params, mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        player = await client.read_resource(PLAYER_URI)
    assert tools == {tool["name"] for tool in json.loads((unpacked / "manifest.json").read_text())["tools"]}
    assert "ui/initialize" in player.contents[0].text  # type: ignore[union-attr]


def test_registry_server_json() -> None:
    server = _json("manifests/server.json")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert 1 <= len(server["description"]) <= 100 and server["version"] == __version__
    (package,) = server["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
    assert package["version"] == __version__ and package["transport"] == {"type": "stdio"}
    variables = {v["name"]: v for v in package["environmentVariables"]}
    assert set(variables) <= SETTING_NAMES and all(v["description"] for v in variables.values())
    assert variables["EVOLINK_API_KEY"]["isSecret"] is True
    assert f"mcp-name: {server['name']}" in (ROOT / "README.md").read_text()  # PyPI ownership marker


def _expand(value: str, environ: dict[str, str]) -> str:
    """Claude Code's expansion in .mcp.json: ${VAR} and ${VAR:-default}."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        return environ.get(name) or (default if default is not None else match.group(0))

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, value)


async def test_project_mcp_json_starts_this_checkout(tmp_path: Path) -> None:
    config = _json(".mcp.json")["mcpServers"]["veo"]
    environ = {"CLAUDE_PROJECT_DIR": str(ROOT), "VEO_MCP_SIMULATE": "1"}
    args = [_expand(arg, environ) for arg in config["args"]]
    assert config["command"] == "uv" and args == ["run", "--project", str(ROOT), "veo-mcp", "serve"]
    env = {name: _expand(value, environ) for name, value in config["env"].items()}
    assert set(env) <= SETTING_NAMES and env["EVOLINK_API_KEY"] == "" and env["VEO_MCP_SIMULATE"] == "1"
    # `uv run --project <checkout> veo-mcp serve` runs this checkout's console script; run it the same way here.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EVOLINK_", "VEO_MCP_"))}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "veo_mcp", "serve"],
        env={**base, **env, "VEO_MCP_DATA_DIR": str(tmp_path)},
        cwd=str(ROOT),
    )
    async with Client(params, mode="legacy") as client:
        assert "SIMULATED" in (client.instructions or "")  # the empty key was ignored, the simulator is on
        with anyio.fail_after(30):
            estimate = await client.call_tool("estimate_cost", {"prompt": "x"})
    assert not estimate.is_error


def test_package_metadata_supports_uvx_pipx_and_pip() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"veo-mcp": "veo_mcp.cli:main"}
    assert project["requires-python"] == ">=3.11" and project["readme"] == "README.md"
    assert project["license"] == "MIT" and (ROOT / "LICENSE").is_file()
    assert project["version"] == __version__
    for requirement in project["dependencies"]:
        assert ">=" in requirement and "<" in requirement, f"{requirement} needs a compatible range"
    assert any("Python :: 3.11" in c for c in project["classifiers"])
