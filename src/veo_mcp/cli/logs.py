"""Log lines on stderr: text for a person, or one JSON object per line for a log pipeline (VEO_MCP_LOG_FORMAT=json).

A 20-line formatter rather than a library: the fields are fixed (time, level, logger, message, principal, task_id,
and the traceback when there is one), and the one thing that matters, that no secret reaches a log, needs the
final text in hand: every line goes through the same redaction as upstream error text (the API key, the HTTP token,
the link key and any `Bearer …`). The principal and task come from `veo_mcp.context`; a log call may also name the
task with `extra={"task_id": ...}`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from veo_mcp.context import current_principal, current_task_id
from veo_mcp.evolink.responses import redact
from veo_mcp.settings import Settings


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage(), self._secrets),
            "principal": current_principal(),
            "task_id": getattr(record, "task_id", None) or current_task_id(),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info), self._secrets)
        return json.dumps(line, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """The text format, with the same redaction."""

    def __init__(self, fmt: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_lines: list[logging.Formatter] = []  # the JSON formatter once configured: `say` writes JSON lines too


def say(text: str) -> None:
    """A line for the person running the server (where it listens, what it talks to), on stderr whatever the log
    level; in JSON mode it is a JSON line like every other."""
    if _lines:
        text = _lines[0].format(logging.LogRecord("veo_mcp.serve", logging.INFO, __file__, 0, text, None, None))
    print(text, file=sys.stderr, flush=True)


def configure_logging(settings: Settings) -> None:
    """Apply VEO_MCP_LOG_FORMAT and VEO_MCP_LOG_LEVEL to the root logger's handlers (-v, DEBUG, is kept)."""
    secrets = tuple(
        secret.get_secret_value()
        for secret in (settings.api_key, settings.http_token, settings.link_secret)
        if secret is not None
    )
    root = logging.getLogger()
    formatter = JsonFormatter(secrets) if settings.log_format == "json" else RedactingFormatter(TEXT_FORMAT, secrets)
    for handler in root.handlers:
        handler.setFormatter(formatter)
    _lines[:] = [formatter] if settings.log_format == "json" else []
    root.setLevel(min(root.level or logging.WARNING, logging.getLevelName(settings.log_level)))
