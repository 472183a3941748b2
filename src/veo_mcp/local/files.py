"""Safe, readable file names for saved videos (no input can steer a path out of the output folder), and writes that
never show a partial file under its final name."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from veo_mcp.errors import DiskFullError, LocalFileError, write_failure

_UNSAFE = re.compile(r"[^a-z0-9]+")


def slug(text: str, limit: int = 40) -> str:
    """ASCII words joined by dashes, at most `limit` characters; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = _UNSAFE.sub("-", ascii_text).strip("-")
    return words[:limit].rstrip("-") or "video"


# Simulated results (test patterns) never mix with real videos: they go to this subfolder of the output folder, and
# their names end in SIMULATED_SUFFIX.
SIMULATED_FOLDER = "simulated"
SIMULATED_SUFFIX = "-simulated"


def video_file_name(task_id: str, prompt: str, index: int, *, simulated: bool = False) -> str:
    """`<prompt-slug>-<task suffix>[-<index>][-simulated].mp4`, e.g. `a-red-fox-in-snow-4x3rx6ny.mp4`."""
    suffix = slug(task_id.rsplit("-", 1)[-1], 16)
    number = f"-{index + 1}" if index else ""
    marker = SIMULATED_SUFFIX if simulated else ""
    return f"{slug(prompt)}-{suffix}{number}{marker}.mp4"


def video_folder(output_dir: Path, subfolder_parts: tuple[str, ...], *, simulated: bool) -> Path:
    """Where a generation's videos go: the output folder (its `simulated` subfolder for test patterns), then the
    requested subfolder, confined to the output folder (to its `simulated` subfolder for test patterns)."""
    base = confined(output_dir, SIMULATED_FOLDER) if simulated else output_dir
    return confined(base, *subfolder_parts)


PRIVATE_FOLDER = 0o700  # what veo-mcp creates holds prompts, result-link tokens and the user's videos
PRIVATE_FILE = 0o600


def private_folder(folder: Path) -> Path:
    """`folder` and any missing parents, created readable by their owner only (existing folders are left as set)."""
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    for parent in reversed(missing):
        parent.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
    return folder


def confined(base: Path, *parts: str) -> Path:
    """`base/parts…`, refusing anything (.., absolute parts, symlinks) that would leave `base`."""
    root = base.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{Path(*parts)} is outside {root}")
    return target


@contextlib.contextmanager
def replaced_atomically(target: Path) -> Iterator[BinaryIO]:
    """Write `target` through a hidden temporary file beside it, synced and renamed into place only when the block
    succeeds; on any failure the temporary file is removed and `target` is left as it was."""
    private_folder(target.parent)
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def usable_folder(folder: Path) -> Path:
    """`folder`, created privately if missing and tried for real (a probe file: permissions, a read-only disk, a file
    in its place); a `LocalFileError` naming it and the setting that moves it when it cannot hold a video."""
    try:
        private_folder(folder)
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it is not a folder", str(folder))
        with tempfile.TemporaryFile(dir=folder, prefix=".veo-mcp-probe-"):
            pass
    except OSError as error:
        raise write_failure(error, folder) from None
    return folder


def check_output_folder(folder: Path, needed_bytes: int) -> None:
    """Refuse, before anything is sent or paid for, a folder the videos could not be saved in (see `usable_folder`),
    or one whose disk lacks `needed_bytes`."""
    try:
        usable_folder(folder)
    except LocalFileError as failure:
        raise LocalFileError(f"{failure.message} Nothing was sent or charged.", advice=failure.advice) from None
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise DiskFullError(
            f"The disk holding {folder} has {free / 1_000_000:.1f} MB free, and this video needs about "
            f"{needed_bytes / 1_000_000:.1f} MB. Nothing was sent or charged.",
            needed_bytes=needed_bytes,
            advice="Free some space there, or set VEO_MCP_OUTPUT_DIR to a folder on another disk, then ask again.",
        )
