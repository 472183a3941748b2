"""Keys and settings as a person meets them in a terminal: reading needs no key (the key usually lives in the MCP
client's config, not the shell), sending says how to give one to the shell, `doctor` creates nothing and says where
each setting came from, and a settings file or users file that is not there is said to be missing."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import KEY, Shell
from tests.helpers import SimulatorProcess

NO_KEY = ("EVOLINK_API_KEY", "VEO_MCP_SIMULATE")


def _without_key(shell: Shell) -> None:
    for name in NO_KEY:
        shell.env.pop(name, None)


def test_reading_commands_work_without_a_key(shell: Shell, upstream: SimulatorProcess, tmp_path: Path) -> None:
    made = shell.use(upstream).run("generate", "a lantern on a river", "--json").json
    task_id, saved = made["task_id"], made["videos"][0]["path"]
    _without_key(shell)
    listed = shell.run("list")
    assert listed.code == 0, listed.err
    assert task_id in listed.out and "as last recorded here (EvoLink was not asked)" in listed.err
    status = shell.run("status", task_id, "--json")
    assert status.code == 0 and status.json["files"][0]["path"] == saved
    copy = shell.run("download", task_id, "--output-dir", str(tmp_path / "copies"), "--json")
    assert copy.code == 0, copy.err
    assert Path(copy.json["files"][0]["path"]).read_bytes() == Path(saved).read_bytes()
    waited = shell.run("wait", task_id, "--json")  # finished and saved: nothing to ask EvoLink
    assert waited.code == 0 and waited.json["videos"][0]["path"] == saved
    doctor = shell.run("doctor")
    assert doctor.code == 0, doctor.out
    assert "! api key: EVOLINK_API_KEY is not set here; list, status and download work without it" in doctor.out


def test_commands_that_send_say_how_to_give_the_shell_a_key(shell: Shell, upstream: SimulatorProcess) -> None:
    running = upstream.http.post(
        "/v1/videos/generations", json={"prompt": "x"}, headers={"Authorization": f"Bearer {KEY}"}
    ).json()["id"]
    for argv in (["generate", "a kite"], ["wait", running], ["status", running]):
        ended = shell.run(*argv)
        assert ended.code == 2, (argv, ended.err)
        line = ended.err.strip().splitlines()[-1]
        assert "export EVOLINK_API_KEY=your-key" in line and "--simulate" in line, line
        assert "MCP server's environment" not in line and "client's server config" not in line


def test_doctor_creates_no_folder_and_names_where_each_setting_came_from(shell: Shell) -> None:
    (shell.home / "config" / "veo-mcp").mkdir(parents=True)
    settings_file = shell.home / "config" / "veo-mcp" / "veo-mcp.env"
    settings_file.write_text("VEO_MCP_HOURLY_BUDGET=3\nVEO_MCP_CONFIRM_ABOVE=1\n")
    env = {"VEO_MCP_CONFIRM_ABOVE": "0.5", "HOME": str(shell.home), "XDG_VIDEOS_DIR": str(shell.home / "Videos")}
    shell.env.pop("VEO_MCP_OUTPUT_DIR")
    ended = shell.run("doctor", "--simulate", VEO_MCP_OUTPUT_DIR="", **env)  # empty: the platform's videos folder
    assert ended.code == 0, ended.out
    assert not shell.data.exists() and not (shell.home / "Videos").exists()
    assert "does not exist yet; created owner-only (0700) at first use" in ended.out
    lines = [" ".join(line.split()) for line in ended.out.splitlines()]
    assert f"VEO_MCP_HOURLY_BUDGET 3.0 (from {settings_file})" in lines
    assert "VEO_MCP_CONFIRM_ABOVE 0.5 (from the environment)" in lines  # the environment wins over the file
    assert "VEO_MCP_SIMULATE true (from --simulate)" in lines
    assert f"VEO_MCP_DATA_DIR {shell.data} (from the environment)" in lines
    as_json = shell.run("doctor", "--simulate", "--json", VEO_MCP_OUTPUT_DIR="", **env).json
    origins = {s["variable"]: s["source"] for c in as_json if c["name"] == "settings" for s in c["settings"]}
    assert origins["VEO_MCP_HOURLY_BUDGET"] == str(settings_file) and "VEO_MCP_OUTPUT_DIR" not in origins


def test_folders_veo_mcp_creates_are_its_owners_only(shell: Shell, upstream: SimulatorProcess) -> None:
    shell.use(upstream).run("generate", "a kite", "--json")
    for folder in (shell.data, shell.videos, shell.videos / "simulated"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_the_key_is_never_shown(shell: Shell) -> None:
    secret = "sk-live-never-show-me-0123456789"
    ended = shell.run("doctor", "--json", EVOLINK_API_KEY=secret, EVOLINK_BASE_URL="http://127.0.0.1:9")
    assert secret not in ended.out + ended.err and '"set (not shown)"' in ended.out


def test_a_named_settings_file_that_is_not_there_is_a_usage_error(shell: Shell) -> None:
    missing = shell.home / "veo.env"
    ended = shell.run("list", VEO_MCP_ENV_FILE=str(missing))
    assert ended.code == 2 and ended.err.startswith(f"veo-mcp: VEO_MCP_ENV_FILE names {missing}, which is not a file")
    missing.write_text("VEO_MCP_HOURLY_BUDGET=4\n")
    assert shell.run("list", VEO_MCP_ENV_FILE=str(missing)).code == 0


def test_a_users_file_that_is_not_there_is_said_so(shell: Shell, monkeypatch: object) -> None:
    listed = shell.run("users", "list", "--file", str(shell.home / "none.toml"))
    assert listed.code == 2 and "none.toml does not exist" in listed.err and "0 user(s)" not in listed.out
    removed = shell.run("users", "remove", "bob", "--file", str(shell.home / "none.toml"))
    assert removed.code == 2
    added = shell.run("users", "add", "alice", "--file", str(shell.home / "team.toml"))
    assert added.code == 0 and shell.run("users", "list", "--file", str(shell.home / "team.toml")).code == 0


def test_a_server_for_everyone_with_a_missing_users_file_does_not_start(shell: Shell) -> None:
    missing = shell.home / "team.toml"
    started = subprocess.run(
        [
            sys.executable,
            "-m",
            "veo_mcp",
            "serve",
            "--transport",
            "streamable-http",
            "--host",
            "0.0.0.0",  # noqa: S104 (what is refused: a server for everyone)
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        env={**shell.env, "VEO_MCP_USERS_FILE": str(missing), "VEO_MCP_SIMULATE": "1"},
        stdin=subprocess.DEVNULL,
        timeout=60,  # a server that starts anyway never ends by itself: this fails it
        check=False,
    )
    assert started.returncode == 2, started.stderr
    assert f"VEO_MCP_USERS_FILE names {missing}, which does not exist" in started.stderr
    assert f"veo-mcp users add NAME --file {missing}" in started.stderr
    assert not os.path.exists(missing)
