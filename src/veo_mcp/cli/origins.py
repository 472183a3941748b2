"""Where each setting came from, for `veo-mcp doctor`: a flag, the environment, or which settings file (never a
secret's value)."""

from __future__ import annotations

import os

from pydantic import BaseModel

from veo_mcp.settings import SECRET_FIELDS, Settings, settings_files


class SettingSource(BaseModel):
    """Where one setting's value came from, for `veo-mcp doctor`; secrets are never shown."""

    variable: str
    value: str
    source: str


def _shown_value(name: str, value: object) -> str:
    if name in SECRET_FIELDS:
        return "set (not shown)"
    if isinstance(value, list):
        return os.pathsep.join(str(item) for item in value) if name == "image_dirs" else ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def setting_sources(settings: Settings, flags: dict[str, str] | None = None) -> list[SettingSource]:
    """Every setting that is not its default, and where it came from: a flag, the environment or a settings file
    (read in the order pydantic-settings reads them, so the source named is the one that won)."""
    from dotenv import dotenv_values

    environment = {key.upper(): value for key, value in os.environ.items() if value != ""}
    files: dict[str, str] = {}
    for path in settings_files():  # later files win, as in the settings source
        if path.is_file():
            for key, value in dotenv_values(path, encoding="utf-8").items():
                if value:
                    files[key.upper()] = str(path)
    sources = []
    for name, info in Settings.model_fields.items():
        variable = str(info.validation_alias)
        if flags and name in flags:
            where = flags[name]
        elif variable.upper() in environment:
            where = "the environment"
        elif variable.upper() in files:
            where = files[variable.upper()]
        else:
            continue
        sources.append(
            SettingSource(variable=variable, value=_shown_value(name, getattr(settings, name)), source=where)
        )
    return sources
