"""Settings read the documented variables and never show the key; file names can't escape the output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from veo_mcp.local.files import confined, slug, video_file_name
from veo_mcp.settings import Settings, SettingsError, load_settings, settings_files

SECRET = "sk-canary-7f3a9c0e"


def test_settings_read_documented_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", SECRET)
    monkeypatch.setenv("EVOLINK_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("VEO_MCP_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("VEO_MCP_OUTPUT_DIR", str(tmp_path / "o"))
    monkeypatch.setenv("VEO_MCP_SIMULATE", "1")
    monkeypatch.setenv("VEO_MCP_SIMULATOR_SPEED", "50")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_key is not None and settings.api_key.get_secret_value() == SECRET
    assert settings.base_url == "http://127.0.0.1:9"
    assert settings.data_dir == tmp_path / "d" and settings.output_dir == tmp_path / "o"
    assert settings.simulate is True and settings.simulator_speed == 50
    assert SECRET not in repr(settings) and SECRET not in str(settings) and SECRET not in settings.model_dump_json()


def test_defaults_come_from_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EVOLINK_API_KEY", "VEO_MCP_DATA_DIR", "VEO_MCP_OUTPUT_DIR", "VEO_MCP_SIMULATE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_key is None and not settings.has_api_key
    assert settings.base_url == "https://api.evolink.ai"
    assert settings.data_dir.name == "veo-mcp" and settings.output_dir.name == "veo-mcp"


def test_blank_key_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", "   ")
    assert Settings(_env_file=None).api_key is None  # type: ignore[call-arg]


def test_inverted_poll_bounds_are_refused_without_echoing_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", SECRET)
    monkeypatch.setenv("VEO_MCP_POLL_MIN", "60")
    monkeypatch.setenv("VEO_MCP_POLL_MAX", "5")
    monkeypatch.setenv("VEO_MCP_HTTP_TOKEN", "tok-canary-0d9e8f7a")
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    text = str(caught.value)
    assert "VEO_MCP_POLL_MIN (60.0) must not exceed VEO_MCP_POLL_MAX (5.0)" in text
    # The environment the error came from is never echoed: not the key, not even its first characters.
    assert "input_value" not in text and SECRET[:4] not in text and "tok-" not in text


@pytest.mark.parametrize("prompt", ["../../etc/passwd", "/abs/path", "..", "", "名前\x00\n", "a" * 300])
def test_video_names_are_plain_and_bounded(prompt: str) -> None:
    name = video_file_name("task-unified-1756817821-4x3rx6ny", prompt, 1)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name.endswith("-4x3rx6ny-2.mp4") and len(name) < 80


def test_slug_keeps_words() -> None:
    assert slug("A red fox — in the snow!") == "a-red-fox-in-the-snow"


def test_confined_refuses_escapes(tmp_path: Path) -> None:
    assert confined(tmp_path, "sub", "v.mp4") == tmp_path.resolve() / "sub" / "v.mp4"
    with pytest.raises(ValueError, match="outside"):
        confined(tmp_path, "..", "elsewhere")
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(ValueError, match="outside"):
        confined(tmp_path, "link", "etc")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"simulator_speed": -1},
            "--speed (VEO_MCP_SIMULATOR_SPEED): Input should be greater than 0 (given: -1).",
        ),
        (
            {"simulator_speed": -1, "confirm_above_usd": -2},
            "--speed (VEO_MCP_SIMULATOR_SPEED): Input should be greater than 0 (given: -1). "
            "VEO_MCP_CONFIRM_ABOVE: Input should be greater than or equal to 0 (given: -2).",
        ),
        (
            {"poll_interval_min_s": 60, "poll_interval_max_s": 5},
            "settings: Value error, VEO_MCP_POLL_MIN (60.0) must not exceed VEO_MCP_POLL_MAX (5.0).",
        ),
        # A secret given where it cannot be used is named, never shown.
        ({"api_key": 12345678}, "EVOLINK_API_KEY: Input should be a valid string."),
        ({"http_token": 987654321}, "VEO_MCP_HTTP_TOKEN: Input should be a valid string."),
    ],
)
def test_a_refused_setting_is_one_sentence_naming_the_flag_and_variable(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"simulator_speed": "--speed"}, **overrides)
    assert refused.value.message == message


def test_a_refused_variable_is_named_as_the_variable_when_its_flag_was_not_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--speed` can set the simulator's speed, but here the environment did: the person is pointed at what they
    set, not at a flag they never typed."""
    monkeypatch.setenv("VEO_MCP_SIMULATOR_SPEED", "fast")
    with pytest.raises(SettingsError) as refused:
        load_settings({"simulator_speed": "--speed"})
    assert refused.value.message.startswith("VEO_MCP_SIMULATOR_SPEED: Input should be a valid number")


def test_settings_come_from_the_users_config_folder_and_a_named_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VEO_MCP_ENV_FILE", raising=False)
    monkeypatch.delenv("VEO_MCP_CONFIRM_ABOVE", raising=False)
    monkeypatch.delenv("VEO_MCP_DUPLICATE_WINDOW", raising=False)
    own = tmp_path / "config" / "veo-mcp" / "veo-mcp.env"
    assert settings_files() == [own]
    own.parent.mkdir(parents=True)
    own.write_text("VEO_MCP_CONFIRM_ABOVE=4.5\nVEO_MCP_DUPLICATE_WINDOW=30\n")
    named = tmp_path / "project.env"
    named.write_text("VEO_MCP_CONFIRM_ABOVE=7\n")
    assert load_settings().confirm_above_usd == 4.5
    monkeypatch.setenv("VEO_MCP_ENV_FILE", f" {named} ")
    assert settings_files() == [own, named]
    both = load_settings()
    assert (both.confirm_above_usd, both.duplicate_window_s) == (7.0, 30.0)  # the named file wins where both say
    missing = tmp_path / "typo.env"
    monkeypatch.setenv("VEO_MCP_ENV_FILE", str(missing))
    with pytest.raises(SettingsError) as refused:
        settings_files()
    assert str(refused.value) == (
        f"VEO_MCP_ENV_FILE names {missing}, which is not a file, so none of the settings in it would apply. "
        "Fix the path, or unset VEO_MCP_ENV_FILE."
    )
