"""The one error base of veo-mcp: what went wrong, what to do next, and a stable word for the remedy.

Every error that can reach an assistant or a person derives from `VeoError`:

    VeoError                      message + advice + action
    ├── evolink.errors.EvoLinkError     the upstream API and the local checks of a request (schemas, addresses)
    ├── money.guards.MoneyError         limits and cost confirmation (nothing was sent)
    ├── LocalFileError                  this machine's folders and files (output folder, subfolders, disk)
    │   └── DiskFullError                   no space left for a write
    └── NotConfiguredError              no API key and not simulating

No error text ever contains the API key: the key lives only in the HTTP client's headers.
"""

from __future__ import annotations

import errno
from pathlib import Path


class VeoError(Exception):
    """Base class: `str()` gives the message and the advice, in a form an assistant can act on."""

    default_advice = "Try again; if it keeps happening, run `veo-mcp doctor`."
    #: one word for the kind of remedy; stable, usable by programs
    action = "retry"

    def __init__(self, message: str, *, advice: str | None = None) -> None:
        self.message = message
        self.advice = advice if advice is not None else self.default_advice
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message} {self.advice}".strip()


class LocalFileError(VeoError):
    """A folder or file on this machine cannot be used (outside the output folder, not writable, disk full)."""

    default_advice = "Check the folder named above (its permissions and free space) and call again."
    action = "fix_local_files"


class DiskFullError(LocalFileError):
    """No space left where a file had to be written; `needed_bytes` is how much the write needed, when known."""

    def __init__(self, message: str, *, needed_bytes: int | None = None, advice: str | None = None) -> None:
        self.needed_bytes = needed_bytes
        super().__init__(message, advice=advice)


class NotConfiguredError(VeoError):
    """EvoLink is needed but no key is configured and the server is not simulating."""

    default_advice = (
        "Set EVOLINK_API_KEY in the MCP server's environment (your client's server config 'env' block) and restart "
        "it, or start the server with --simulate (VEO_MCP_SIMULATE=1) to try everything with the built-in simulator."
    )
    action = "set_api_key"


def write_failure(error: OSError, folder: Path, needed: int | None = None) -> LocalFileError:
    """A local write error as what the user must do: free space, or fix the folder (named, with its setting)."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"No space left on the disk holding {folder}: the video could not be saved.",
            needed_bytes=needed,
            advice="Free some space there (or set VEO_MCP_OUTPUT_DIR to a folder on another disk); veo-mcp saves "
            "the video again by itself once there is room, while the result link is valid.",
        )
    return LocalFileError(
        f"The video could not be written to {folder}: {error.strerror or error}.",
        advice="Make that folder writable, or set VEO_MCP_OUTPUT_DIR to a folder that is.",
    )
