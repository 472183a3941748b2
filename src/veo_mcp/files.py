"""Safe, readable file names for saved videos: no input can steer a path out of the output folder."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

_UNSAFE = re.compile(r"[^a-z0-9]+")


def slug(text: str, limit: int = 40) -> str:
    """ASCII words joined by dashes, at most `limit` characters; never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = _UNSAFE.sub("-", ascii_text).strip("-")
    return words[:limit].rstrip("-") or "video"


def video_file_name(task_id: str, prompt: str, index: int) -> str:
    """`<prompt-slug>-<task suffix>[-<index>].mp4`, e.g. `a-red-fox-in-snow-4x3rx6ny.mp4`."""
    suffix = slug(task_id.rsplit("-", 1)[-1], 16)
    number = f"-{index + 1}" if index else ""
    return f"{slug(prompt)}-{suffix}{number}.mp4"


def confined(base: Path, *parts: str) -> Path:
    """`base/parts…`, refusing anything (.., absolute parts, symlinks) that would leave `base`."""
    root = base.resolve()
    target = root.joinpath(*parts).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{Path(*parts)} is outside {root}")
    return target
