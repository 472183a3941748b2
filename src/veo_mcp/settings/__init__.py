"""The one place configuration is read: environment variables into a typed `Settings`.

No `.env` file is read from the working directory: a client may start the server in any folder, and a file there
must not redirect the API key or lift a money limit. A file is read only when the user names it
(`VEO_MCP_ENV_FILE`) or keeps it in their own config folder (`veo-mcp.env` in the platform config folder).

Build it with `load_settings(...)`: keyword overrides (command-line flags) go through the same validation as the
environment, and any refusal becomes one `SettingsError` sentence naming the variable (and flag) and the rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Self

import platformdirs
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from veo_mcp.errors import VeoError
from veo_mcp.evolink import catalog
from veo_mcp.settings.rules import SettingsRules

APP_NAME = "veo-mcp"
ENV_FILE_VARIABLE = "VEO_MCP_ENV_FILE"  # one more settings file (KEY=value lines); it must exist
ENV_FILE_HELP = "A settings file read after your config folder's veo-mcp.env (the environment wins); it must exist."


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _default_output_dir() -> Path:
    return Path(platformdirs.user_videos_dir()) / APP_NAME


def settings_files() -> list[Path]:
    """The only files settings are read from: the user's own config folder, then one named by VEO_MCP_ENV_FILE."""
    files = [Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / f"{APP_NAME}.env"]
    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if named and not Path(named).expanduser().is_file():  # a typo must not silently drop every setting in it
        message = f"{ENV_FILE_VARIABLE} names {named}, which is not a file, so none of the settings in it would apply."
        raise SettingsError(message, advice=f"Fix the path, or unset {ENV_FILE_VARIABLE}.")
    if named:
        files.append(Path(named).expanduser())
    return files


class Settings(SettingsRules):
    """veo-mcp's settings. The API key is a `SecretStr`: its repr and str are masked."""

    model_config = SettingsConfigDict(
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_by_name=True,
        hide_input_in_errors=True,
        # A client config that passes "${SOME_VAR:-}" for an unset variable sends an empty string: use the default.
        env_ignore_empty=True,
    )

    api_key: SecretStr | None = Field(None, validation_alias="EVOLINK_API_KEY", description="EvoLink API key (secret).")
    base_url: str = Field(
        catalog.DEFAULT_BASE_URL, validation_alias="EVOLINK_BASE_URL", description="EvoLink video API base URL."
    )
    files_base_url: str = Field(
        catalog.DEFAULT_FILES_BASE_URL,
        validation_alias="EVOLINK_FILES_BASE_URL",
        description="EvoLink file-upload service base URL.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        validation_alias="VEO_MCP_DATA_DIR",
        description="Where veo-mcp keeps its state (generations database).",
    )
    database_url: SecretStr | None = Field(
        None,
        validation_alias="VEO_MCP_DATABASE_URL",
        description="postgresql:// URL of a PostgreSQL database that replicas share (instead of the SQLite file in "
        "VEO_MCP_DATA_DIR); '?options=-csearch_path%3DNAME' picks a schema.",
    )
    database_timeout_s: float = Field(
        15.0,
        ge=1,
        le=300,
        validation_alias="VEO_MCP_DATABASE_TIMEOUT",
        description="Seconds a database call may take before it fails with an error that says so (a hung or "
        "unreachable database): PostgreSQL's statement and connect timeouts, SQLite's busy timeout.",
    )
    new_database: bool = Field(
        False,
        validation_alias="VEO_MCP_NEW_DATABASE",
        description="Start a new, empty database where the SQLite file in VEO_MCP_DATA_DIR is empty, missing or "
        "damaged (the file is moved aside, never deleted); without it veo-mcp refuses to start rather than forget "
        "earlier generations and request_ids. A healthy database is never replaced.",
    )
    output_dir: Path = Field(
        default_factory=_default_output_dir,
        validation_alias="VEO_MCP_OUTPUT_DIR",
        description="Where finished videos are saved.",
    )
    simulate: bool = Field(
        False,
        validation_alias="VEO_MCP_SIMULATE",
        description="Use the built-in simulator instead of the real API (no key needed, nothing billed).",
    )
    simulator_speed: float = Field(
        30.0,
        gt=0,
        validation_alias="VEO_MCP_SIMULATOR_SPEED",
        description="How many times faster than real time the built-in simulator runs.",
    )
    connect_timeout_s: float = Field(
        10.0, gt=0, validation_alias="VEO_MCP_CONNECT_TIMEOUT", description="Seconds to open a connection."
    )
    request_timeout_s: float = Field(
        30.0, gt=0, validation_alias="VEO_MCP_REQUEST_TIMEOUT", description="Seconds for an API answer."
    )
    download_timeout_s: float = Field(
        120.0,
        gt=0,
        validation_alias="VEO_MCP_DOWNLOAD_TIMEOUT",
        description="Seconds of silence after which a download is abandoned.",
    )
    poll_interval_min_s: float = Field(
        2.0, gt=0, validation_alias="VEO_MCP_POLL_MIN", description="Shortest pause between status polls."
    )
    poll_interval_max_s: float = Field(
        30.0, gt=0, validation_alias="VEO_MCP_POLL_MAX", description="Longest pause between status polls."
    )
    get_retry_attempts: int = Field(
        5, ge=1, le=20, validation_alias="VEO_MCP_GET_RETRIES", description="Attempts for a status GET."
    )

    image_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path.home()],
        validation_alias="VEO_MCP_IMAGE_DIRS",
        description="Folders local images (image_files) may be read from when the client declares no MCP roots, "
        "separated like PATH (default: your home folder).",
    )
    stall_after_s: float | None = Field(
        None,
        gt=0,
        validation_alias="VEO_MCP_STALL_AFTER",
        description="Seconds without progress after which a running generation is reported as stalled (default: "
        "twice its estimated render time, at least 120; 600 without an estimate).",
    )
    max_wait_s: float = Field(
        50.0,
        ge=1,
        le=3600,
        validation_alias="VEO_MCP_MAX_WAIT",
        description="Longest wait_for_generation / wait_for_batch call, in seconds: keep it under your MCP client's "
        "tool-call timeout (most stop at 60); raise it for clients that wait longer.",
    )
    # --- downloads ---
    auto_download: bool = Field(
        True,
        validation_alias="VEO_MCP_AUTO_DOWNLOAD",
        description="Save every completed generation's videos into the output folder without being asked.",
    )
    # --- money guards ---
    max_cost_per_request_usd: float | None = Field(
        None,
        gt=0,
        validation_alias="VEO_MCP_MAX_COST_PER_REQUEST",
        description="Refuse any single request estimated above this many USD (off by default).",
    )
    daily_budget_usd: float | None = Field(
        None,
        gt=0,
        validation_alias="VEO_MCP_DAILY_BUDGET",
        description="Refuse requests once today's (UTC) estimated spend would pass this many USD (off by default).",
    )
    hourly_budget_usd: float = Field(
        10.0,
        ge=0,
        validation_alias="VEO_MCP_HOURLY_BUDGET",
        description="Refuse requests once the estimated spend of the last 60 minutes would pass this many USD; a "
        "brake on runaway loops (0: off).",
    )
    max_creates_per_minute: int = Field(
        10,
        ge=0,
        validation_alias="VEO_MCP_MAX_CREATES_PER_MINUTE",
        description="Refuse more than this many new generations in any 60 seconds (0: off).",
    )
    server_hourly_budget_usd: float | None = Field(
        None,
        gt=0,
        validation_alias="VEO_MCP_SERVER_HOURLY_BUDGET",
        description="Refuse any create, whoever asks, once the estimated spend of every user of this server together "
        "in the last 60 minutes would pass this many USD: the cap on the one EvoLink key a team shares (off by "
        "default).",
    )
    server_daily_budget_usd: float | None = Field(
        None,
        gt=0,
        validation_alias="VEO_MCP_SERVER_DAILY_BUDGET",
        description="Refuse any create, whoever asks, once today's (UTC) estimated spend of every user of this server "
        "together would pass this many USD (off by default).",
    )
    decline_window_s: float = Field(
        600.0,
        ge=0,
        validation_alias="VEO_MCP_DECLINE_WINDOW",
        description="Seconds during which a request the user declined stays declined without asking again (0: off).",
    )
    confirm_above_usd: float = Field(
        2.0,
        ge=0,
        validation_alias="VEO_MCP_CONFIRM_ABOVE",
        description="Ask the user to confirm any request estimated above this many USD.",
    )
    duplicate_window_s: float = Field(
        600.0,
        ge=0,
        validation_alias="VEO_MCP_DUPLICATE_WINDOW",
        description="Seconds during which an identical request returns the existing generation (0: off).",
    )
    # --- batches ---
    max_concurrent: int = Field(
        4,
        ge=1,
        le=50,
        validation_alias="VEO_MCP_MAX_CONCURRENT",
        description="Most generations running upstream at once while a batch sends its items (the account's "
        "concurrency limit; a 429 from EvoLink holds the queue too).",
    )
    # --- streamable HTTP ---
    public_url: str | None = Field(
        None,
        validation_alias="VEO_MCP_PUBLIC_URL",
        description="Public https address of this server's HTTP transport: EvoLink then calls back when a task ends "
        "instead of veo-mcp polling it (loopback only with the simulator).",
    )
    http_token: SecretStr | None = Field(
        None,
        validation_alias="VEO_MCP_HTTP_TOKEN",
        description="Bearer token HTTP clients must send; required when serving on a non-loopback address.",
    )
    http_max_sessions: int = Field(
        100,
        ge=1,
        validation_alias="VEO_MCP_HTTP_MAX_SESSIONS",
        description="Most MCP sessions the HTTP server keeps at once.",
    )
    http_max_sessions_per_user: int | None = Field(
        None,
        ge=1,
        validation_alias="VEO_MCP_HTTP_MAX_SESSIONS_PER_USER",
        description="Most MCP sessions one user (a users-file user or an OAuth subject) keeps at once, so one user "
        "cannot take them all (default: a tenth of VEO_MCP_HTTP_MAX_SESSIONS, at least 1).",
    )
    http_session_idle_s: float = Field(
        300.0,
        gt=0,
        validation_alias="VEO_MCP_HTTP_SESSION_IDLE",
        description="Seconds after which an idle HTTP session is closed.",
    )
    http_header_timeout_s: float = Field(
        10.0,
        gt=0,
        validation_alias="VEO_MCP_HTTP_HEADER_TIMEOUT",
        description="Seconds a client has to send a request's head once connected (or between requests); then the "
        "connection is closed.",
    )
    http_body_timeout_s: float = Field(
        30.0,
        gt=0,
        validation_alias="VEO_MCP_HTTP_BODY_TIMEOUT",
        description="Seconds a request body may pause before it is answered 408 and the connection closed.",
    )
    http_max_connections_per_client: int = Field(
        64,
        ge=0,
        validation_alias="VEO_MCP_HTTP_MAX_CONNECTIONS_PER_CLIENT",
        description="Most connections one client address holds at once; more are closed when accepted (0: no cap, "
        "e.g. behind a reverse proxy that is the only client).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="VEO_MCP_ALLOWED_HOSTS",
        description="Extra Host header values accepted over HTTP (comma-separated), e.g. 'veo.example.lan:8000'.",
    )
    # --- users and OAuth (HTTP) ---
    users_file: Path | None = Field(
        None,
        validation_alias="VEO_MCP_USERS_FILE",
        description="TOML file of HTTP users (`veo-mcp users add`): each has a token (stored hashed), optional limits "
        "and only their own generations.",
    )
    users_file_grace_s: float = Field(
        30.0,
        ge=0,
        validation_alias="VEO_MCP_USERS_FILE_GRACE",
        description="Seconds the HTTP server keeps the last good users when the users file disappears, is found "
        "empty (an edit in progress), does not parse or is writable by others; then nobody from it is let in until "
        "it is fixed.",
    )
    oauth_issuer: str | None = Field(
        None,
        validation_alias="VEO_MCP_OAUTH_ISSUER",
        description="OAuth issuer whose JWT access tokens the HTTP server accepts (its `iss`); turns on the OAuth "
        "resource server.",
    )
    oauth_audience: str | None = Field(
        None,
        validation_alias="VEO_MCP_OAUTH_AUDIENCE",
        description="The `aud` an OAuth access token must carry (default: this server's MCP URL).",
    )
    oauth_jwks_url: str | None = Field(
        None,
        validation_alias="VEO_MCP_OAUTH_JWKS_URL",
        description="Where the issuer publishes its signing keys (default: <issuer>/.well-known/jwks.json).",
    )

    # --- serving a team: links to videos, object storage, logs, metrics ---
    link_secret: SecretStr | None = Field(
        None,
        validation_alias="VEO_MCP_LINK_SECRET",
        description="Key that signs the video links served over HTTP (default: a random key kept in the data "
        "folder, so links survive a restart).",
    )
    link_ttl_s: int = Field(
        3600,
        ge=1,
        le=7 * 24 * 3600,
        validation_alias="VEO_MCP_LINK_TTL",
        description="Seconds a video link (url in results over HTTP) stays valid.",
    )
    storage_url: str | None = Field(
        None,
        validation_alias="VEO_MCP_STORAGE_URL",
        description="s3://bucket/prefix: finished videos are uploaded there and links are presigned URLs (needs "
        "the s3 extra; credentials from the usual AWS variables).",
    )
    storage_endpoint: str | None = Field(
        None,
        validation_alias="VEO_MCP_STORAGE_ENDPOINT",
        description="Endpoint of an S3-compatible store (MinIO, R2, ...) for VEO_MCP_STORAGE_URL.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        validation_alias="VEO_MCP_LOG_FORMAT",
        description="text, or json: one JSON object per line on stderr (time, level, logger, message, principal, "
        "task_id).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING",
        validation_alias="VEO_MCP_LOG_LEVEL",
        description="Least severe log level written to stderr (-v means DEBUG).",
    )
    metrics_token: SecretStr | None = Field(
        None,
        validation_alias="VEO_MCP_METRICS_TOKEN",
        description="Bearer token of the operator's scraper for /metrics (the local user's token works too); users' "
        "own tokens are refused there, and only the operator sees spend per user.",
    )
    metrics_public: bool = Field(
        False,
        validation_alias="VEO_MCP_METRICS_PUBLIC",
        description="Serve /metrics without the MCP endpoint's authentication (for a scraper inside the network).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then only the files of `settings_files()` (never ./.env)."""
        files = DotEnvSettingsSource(settings_cls, env_file=settings_files(), env_file_encoding="utf-8")
        return init_settings, env_settings, files

    @property
    def jwks_url(self) -> str | None:
        """Where the OAuth issuer's keys are read: VEO_MCP_OAUTH_JWKS_URL, else <issuer>/.well-known/jwks.json."""
        if self.oauth_issuer is None:
            return None
        return self.oauth_jwks_url or f"{self.oauth_issuer}/.well-known/jwks.json"

    @model_validator(mode="after")
    def _poll_bounds_ordered(self) -> Self:
        if self.poll_interval_min_s > self.poll_interval_max_s:
            raise ValueError(
                f"VEO_MCP_POLL_MIN ({self.poll_interval_min_s}) must not exceed VEO_MCP_POLL_MAX "
                f"({self.poll_interval_max_s})"
            )
        return self

    @property
    def sessions_per_user(self) -> int:
        """VEO_MCP_HTTP_MAX_SESSIONS_PER_USER, or a tenth of the server's cap."""
        return self.http_max_sessions_per_user or max(1, self.http_max_sessions // 10)

    @property
    def has_api_key(self) -> bool:
        return self.api_key is not None

    @property
    def database_path(self) -> Path:
        return self.data_dir / "veo-mcp.sqlite3"

    @property
    def database(self) -> Path | str:
        """Where the store lives: the PostgreSQL URL when one is set, else the SQLite file in the data folder."""
        return self.database_url.get_secret_value() if self.database_url else self.database_path


# Never echoed in an error about them (a database URL may carry a password).
SECRET_FIELDS = ("api_key", "http_token", "link_secret", "database_url", "metrics_token")


class SettingsError(VeoError):
    """The configuration cannot be used; the message names the variable (or flag) and what is allowed."""

    default_advice = "Fix it in the server's environment (or on the command line) and start again."
    action = "fix_settings"


def _source_name(field: str, flags: dict[str, str]) -> str:
    info = Settings.model_fields.get(field)
    variable = info.validation_alias if info is not None and isinstance(info.validation_alias, str) else field
    flag = flags.get(field)
    return f"{flag} ({variable})" if flag else variable


def _field_of(location: tuple[int | str, ...]) -> str:
    """The settings field a validation error points at (errors carry the alias or the field name)."""
    first = str(location[0]) if location else ""
    for name, info in Settings.model_fields.items():
        if first in (name, info.validation_alias):
            return name
    return first


def load_settings(flags: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from the environment, with `overrides` (None means "not given") validated like the environment.

    `flags` maps a field to the command-line flag that can set it, so an error names what the person typed (the
    flag when it was given, else the variable).
    """
    given = {name: value for name, value in overrides.items() if value is not None}
    typed = {name: flag for name, flag in (flags or {}).items() if name in given}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = _field_of(item["loc"])
            shown = f" (given: {given[field]!r})" if field in given and field not in SECRET_FIELDS else ""
            problems.append(f"{_source_name(field, typed) if field else 'settings'}: {item['msg']}{shown}.")
        raise SettingsError(" ".join(problems)) from None
