"""The rules each setting's value is checked by (URLs, secrets, lists), kept beside the fields of `Settings`.

A base class of `Settings`: its validators run on `Settings`' own fields (`check_fields=False`: the fields live there).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from veo_mcp.evolink import catalog
from veo_mcp.evolink.addresses import callback_url_problem, is_loopback_host, split_url


class SettingsRules(BaseSettings):
    """How `Settings` reads and checks its values (see each rule)."""

    @field_validator("image_dirs", mode="before", check_fields=False)
    @classmethod
    def _path_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @field_validator("image_dirs", mode="after", check_fields=False)
    @classmethod
    def _absolute_folders(cls, folders: list[Path]) -> list[Path]:
        return [folder.expanduser().resolve() for folder in folders]

    @field_validator("allowed_hosts", mode="before", check_fields=False)
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("base_url", "files_base_url", mode="after", check_fields=False)
    @classmethod
    def _key_only_over_https(cls, url: str) -> str:
        """The API key travels with every request to these URLs: https, or plain http on this machine only."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url.rstrip("/")
        if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
            return url.rstrip("/")
        raise ValueError(
            "must be an https URL (the API key travels with every request); plain http is allowed only for a "
            "loopback address such as a local `veo-mcp simulator`"
        )

    @field_validator("api_key", "http_token", "link_secret", "metrics_token", mode="after", check_fields=False)
    @classmethod
    def _blank_is_none(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None or not key.get_secret_value().strip():
            return None
        return SecretStr(key.get_secret_value().strip())

    @field_validator("database_url", mode="after", check_fields=False)
    @classmethod
    def _postgres_only(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value().strip():
            return None
        if not url.get_secret_value().strip().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (unset it to use the SQLite file in VEO_MCP_DATA_DIR)")
        return SecretStr(url.get_secret_value().strip())

    @field_validator("public_url", mode="after", check_fields=False)
    @classmethod
    def _public_url_reachable(cls, url: str | None, info: ValidationInfo) -> str | None:
        """EvoLink calls back only public https addresses; a loopback one can only be called by the simulator."""
        if url is None:
            return None
        url = url.strip().rstrip("/")
        parts = split_url(url)
        if parts is None or parts.scheme not in ("http", "https") or parts.query or parts.fragment:
            raise ValueError("use the server's base address, e.g. https://veo.example.com (no query or fragment)")
        if not is_loopback_host(parts.hostname or ""):
            problem = callback_url_problem(url)
            if problem:
                raise ValueError(f"EvoLink could not call it back: {problem}")
            return url
        base = str(info.data.get("base_url", catalog.DEFAULT_BASE_URL))
        if info.data.get("simulate") or is_loopback_host(urlsplit(base).hostname or ""):
            return url
        raise ValueError(
            "a loopback address can only be called back by the simulator (VEO_MCP_SIMULATE, or EVOLINK_BASE_URL on "
            "this machine); real EvoLink needs a public https address"
        )

    @field_validator("storage_url", mode="after", check_fields=False)
    @classmethod
    def _s3_address(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url.strip())
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("use s3://bucket or s3://bucket/prefix")
        return url.strip().rstrip("/")

    @field_validator("storage_endpoint", mode="after", check_fields=False)
    @classmethod
    def _endpoint_address(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("use the store's base address, e.g. https://minio.example.lan:9000")
        return url.strip().rstrip("/")

    @field_validator("log_level", mode="before", check_fields=False)
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("oauth_issuer", "oauth_jwks_url", mode="after", check_fields=False)
    @classmethod
    def _oauth_url(cls, url: str | None) -> str | None:
        """Signing keys and issuers are trusted only over https (plain http on this machine, for tests)."""
        if url is None or not url.strip():
            return None
        url = url.strip().rstrip("/")
        parts = split_url(url)
        if parts is not None and parts.hostname and parts.scheme == "https":
            return url
        if parts is not None and parts.hostname and parts.scheme == "http" and is_loopback_host(parts.hostname):
            return url
        raise ValueError("must be an https URL (plain http only on this machine)")
