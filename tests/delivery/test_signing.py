"""The pieces behind the links, alone: the signature and its clock, the persisted key, the file check, the log
formatter's redaction."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from tests.helpers import service_settings
from veo_mcp.cli.logs import JsonFormatter
from veo_mcp.context import about_task, acting_as
from veo_mcp.delivery import LinkSigner, VideoLinks, link_key
from veo_mcp.delivery.links import KEY_FILE
from veo_mcp.settings import SettingsError, load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_lives_exactly_its_ttl_on_the_signers_clock() -> None:
    clock = Clock()
    signer = LinkSigner(b"k" * 32, ttl_s=60, clock=clock)
    token = signer.token("clip.mp4")
    clock.now += 59
    assert signer.reference(token) == "clip.mp4"
    clock.now += 1
    assert signer.reference(token) is None


def test_a_token_signed_with_another_key_or_changed_is_worthless() -> None:
    signer = LinkSigner(b"k" * 32, ttl_s=60)
    other = LinkSigner(b"q" * 32, ttl_s=60)
    token = signer.token("clip.mp4")
    payload, signature = token.split(".")
    assert signer.reference(other.token("clip.mp4")) is None
    assert signer.reference(f"{payload}.{signature[:-2]}") is None
    assert signer.reference("nonsense") is None and signer.reference("a.b.c") is None


def test_without_a_secret_the_key_is_random_private_and_kept(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    first = link_key(settings)
    assert link_key(settings) == first and len(first) >= 32
    assert stat.S_IMODE(os.stat(settings.data_dir / KEY_FILE).st_mode) == 0o600
    assert link_key(service_settings(tmp_path, link_secret="given-" + "s" * 30)) == b"given-" + b"s" * 30
    assert first != link_key(service_settings(tmp_path / "other"))


def test_even_a_valid_signature_reaches_only_regular_files_inside_the_output_folder(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    out = settings.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "clip.mp4").write_bytes(b"\0\0\0\x18ftypmp42")
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (out / "link.mp4").symlink_to(secret)
    (out / "inner-link.mp4").symlink_to(out / "clip.mp4")  # inside, but a symlink: not followed
    (out / "folder").mkdir()
    links = VideoLinks(settings, LinkSigner(b"k" * 32, ttl_s=60))
    sign = links.signer.token
    opened = links.opened(sign("clip.mp4"))
    assert opened is not None and opened[0] == (out / "clip.mp4").resolve()
    for reference in ("link.mp4", "inner-link.mp4", "../secret.txt", "folder", "missing.mp4", "/etc/passwd", ""):
        assert links.opened(sign(reference)) is None, reference
    assert links.reference_of(secret) is None and links.reference_of(out / "clip.mp4") == "clip.mp4"


def test_json_lines_name_principal_and_task_and_never_carry_a_secret() -> None:
    formatter = JsonFormatter(("sk-live-secret",))
    record = logging.LogRecord("veo_mcp.x", logging.INFO, __file__, 1, "key %s sent", ("sk-live-secret",), None)
    with acting_as("alice"), about_task("task-unified-1-abc"):
        line = json.loads(formatter.format(record))
    assert line["principal"] == "alice" and line["task_id"] == "task-unified-1-abc"
    assert "sk-live-secret" not in json.dumps(line) and line["message"] == "key [redacted] sent"
    record.task_id = "task-from-extra"
    assert json.loads(formatter.format(record))["task_id"] == "task-from-extra"
    assert json.loads(formatter.format(record))["principal"] == "local"


def test_storage_and_log_settings_are_checked() -> None:
    with pytest.raises(SettingsError, match="VEO_MCP_STORAGE_URL"):
        load_settings(storage_url="https://bucket.example/videos")
    with pytest.raises(SettingsError, match="VEO_MCP_LOG_FORMAT"):
        load_settings(log_format="xml")
    settings = load_settings(storage_url="s3://videos/team/", log_level="info")
    assert settings.storage_url == "s3://videos/team" and settings.log_level == "INFO"
