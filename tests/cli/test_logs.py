"""Log lines as `veo-mcp serve` configures them (VEO_MCP_LOG_FORMAT): an exception logged with its traceback never
carries a secret, even when only the traceback holds it (a chained cause, a note), in JSON lines and in text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import TEST_KEY, service_settings
from veo_mcp.cli import logs
from veo_mcp.cli.logs import configure_logging
from veo_mcp.evolink.errors import DownloadError

PROXY_TOKEN = "proxy-token-0123456789"


@contextmanager
def configured(tmp_path: Path, log_format: str) -> Iterator[io.StringIO]:
    """The root logger configured from settings as `serve` does it, writing to a stream; put back afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    before = [(h, h.formatter) for h in root.handlers], root.level, list(logs._lines)
    root.addHandler(handler)
    try:
        configure_logging(service_settings(tmp_path, api_key=TEST_KEY, log_format=log_format, log_level="INFO"))
        yield stream
    finally:
        root.removeHandler(handler)
        for kept, formatter in before[0]:
            kept.setFormatter(formatter)
        root.setLevel(before[1])
        logs._lines[:] = before[2]


def _fail_with_the_key_in_the_traceback() -> None:
    try:
        raise ConnectionError(f"proxy refused 'Authorization: Bearer {PROXY_TOKEN}' for key {TEST_KEY}")
    except ConnectionError as cause:
        failure = DownloadError("The video host could not be reached.")
        failure.add_note(f"sent with {TEST_KEY}")
        raise failure from cause


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_logged_exception_whose_traceback_carries_the_key_is_redacted(tmp_path: Path, log_format: str) -> None:
    with configured(tmp_path, log_format) as stream:
        try:
            _fail_with_the_key_in_the_traceback()
        except DownloadError:
            logging.getLogger("veo_mcp.background.downloads").exception("unexpected error while saving %s", "t-1")
    written = stream.getvalue()
    assert TEST_KEY not in written and PROXY_TOKEN not in written, written
    if log_format == "json":
        line = json.loads(written)
        assert line["message"] == "unexpected error while saving t-1" and line["level"] == "ERROR"
        written = line["exception"]
    # The traceback is still there, whole: both exceptions, the note, each secret replaced where it stood.
    assert written.count("Traceback (most recent call last)") == 2 and "ConnectionError: proxy refused" in written
    assert "Bearer [redacted]' for key [redacted]" in written and "sent with [redacted]" in written
    assert "DownloadError: The video host could not be reached." in written


def test_a_json_log_line_keeps_a_prompts_accents_and_symbols_as_written(tmp_path: Path) -> None:
    """A person reading (or grepping) the JSON lines finds the prompt as typed, not as \\u escapes."""
    with configured(tmp_path, "json") as stream:
        logging.getLogger("veo_mcp.core").warning("started %s", "«café au lait» × 2 – 東京")
    written = stream.getvalue()
    assert written.count("\n") == 1 and '"message": "started «café au lait» × 2 – 東京"' in written
    assert json.loads(written)["message"] == "started «café au lait» × 2 – 東京"
