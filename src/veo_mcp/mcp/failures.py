"""No failure reaches an assistant as a bare "Error executing tool": each says what failed and what to do.

The SDK turns any exception a tool raises that is not a `ToolError` into "Error executing tool <name>", with
nothing to act on. Every tool function is wrapped here: our own errors keep their sentence and advice, a local file
problem names the file and the setting that moves it, and anything unexpected is logged with a short reference the
user can quote, and said so.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError

from veo_mcp.errors import VeoError
from veo_mcp.settings import Settings

logger = logging.getLogger(__name__)


def _setting_for(path: Path, settings: Settings) -> str:
    for folder, name in ((settings.output_dir, "VEO_MCP_OUTPUT_DIR"), (settings.data_dir, "VEO_MCP_DATA_DIR")):
        if path == folder or folder in path.parents:
            return f" ({name} sets that folder)"
    return ""


def local_failure(error: OSError, settings: Settings) -> str:
    """An OS error as a sentence naming the file or folder, the reason, and the setting involved."""
    where = Path(str(error.filename)) if error.filename else None
    reason = error.strerror or type(error).__name__
    if where is None:
        return f"A file on this machine could not be used: {reason}. Check the output folder ({settings.output_dir})."
    return (
        f"veo-mcp could not use {where}: {reason}. Check that the folder exists, is a folder and is writable, and "
        f"that the disk has room{_setting_for(where, settings)}; then call again."
    )


def unexpected(tool: str, error: BaseException) -> str:
    reference = secrets.token_hex(4)
    logger.error("unexpected failure in %s [ref %s]", tool, reference, exc_info=error)
    return (
        f"veo-mcp failed unexpectedly in {tool} ({type(error).__name__}); its log on stderr has the details under "
        f"reference {reference}. Nothing more is known here: try once more, and if it happens again, report it "
        "with that reference (the log never contains your API key)."
    )


def guarded(tool: str, fn: Callable[..., Awaitable[Any]], settings: Settings) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except (ToolError, MCPError):
            raise
        except VeoError as error:
            raise ToolError(str(error)) from None
        except OSError as error:
            logger.warning("%s: %s", tool, error)
            raise ToolError(local_failure(error, settings)) from None
        except Exception as error:
            raise ToolError(unexpected(tool, error)) from None

    return call


def guard_tools(tools: list[Tool], settings: Settings) -> list[Tool]:
    """Wrap each tool's function (its schema and resolvers were read from the original when it was built)."""
    for tool in tools:
        tool.fn = guarded(tool.name, tool.fn, settings)
    return tools
