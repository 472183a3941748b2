"""Reading a batch file for `veo-mcp batch`: JSONL (one generate_video argument object per line) or CSV (a header row
of argument names, one video per row). Every line is checked before anything is sent; every refusal names its line.

CSV cells are text, so they are read as the argument's type: whole numbers for duration, n and seed, true/false (or
yes/no, 1/0) for the switches, and `|`-separated lists for image_urls and image_files; an empty cell leaves the
argument out. Relative image_files are read from the batch file's folder.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veo_mcp.core.batches import MAX_ITEMS, item_request
from veo_mcp.errors import VeoError
from veo_mcp.evolink import catalog
from veo_mcp.evolink.costs import CostEstimate, estimate_cost
from veo_mcp.mcp.batch_requests import read_item
from veo_mcp.money import guards

_INTEGERS = ("duration", "n", "seed")
_SWITCHES = ("generate_audio", "enhance_prompt")
_LISTS = ("image_urls", "image_files")
_TRUE, _FALSE = ("true", "yes", "1", "y"), ("false", "no", "0", "n")


class BatchFileError(Exception):
    """The file cannot be run as it is; the message names every line that must change. Nothing was sent."""


@dataclass(frozen=True, slots=True)
class FileItem:
    line: int
    arguments: dict[str, Any]
    estimate: CostEstimate


def _cell(name: str, text: str) -> Any:
    value = text.strip()
    if name in _INTEGERS:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a whole number") from None
    if name in _SWITCHES:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ValueError(f"{name}: {value!r} is not true or false")
    if name in _LISTS:
        return [part.strip() for part in value.split("|") if part.strip()]
    return value


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, dict[str, Any] | str]] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            rows.append((line, "more cells than the header has names"))
            continue
        try:
            rows.append((line, {name.strip(): _cell(name.strip(), v) for name, v in row.items() if v and v.strip()}))
        except ValueError as error:
            rows.append((line, str(error)))
    return rows


def _jsonl_rows(text: str) -> list[tuple[int, dict[str, Any] | str]]:
    rows: list[tuple[int, dict[str, Any] | str]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            rows.append((line, f"not valid JSON ({error.msg} at column {error.colno})"))
            continue
        rows.append((line, value if isinstance(value, dict) else "not a JSON object of generate_video arguments"))
    return rows


def _resolved_images(arguments: dict[str, Any], folder: Path) -> dict[str, Any]:
    files = arguments.get("image_files")
    if not isinstance(files, list):
        return arguments
    return {**arguments, "image_files": [str((folder / Path(str(f)).expanduser()).resolve()) for f in files]}


def _checked(line: int, arguments: dict[str, Any]) -> FileItem:
    """An item checked as generate_batch will check it (the same reading rule and request rules)."""
    label = f"line {line}"
    checked, _ = read_item(arguments, label)
    images = checked.get("image_files")
    if images and checked.get("image_urls"):
        raise VeoError(f"{label}: give either image_urls or image_files, not both.")
    if isinstance(images, list):  # stand-ins, to check the counts and modes; the files are checked when sent
        base = catalog.DEFAULT_FILES_BASE_URL
        checked["image_urls"] = [f"{base}/pending-upload/{index}.png" for index in range(len(images))]
    return FileItem(line, arguments, estimate_cost(item_request(checked, label)))


def read_batch_file(path: Path) -> list[FileItem]:
    """Every item of the file, checked; `BatchFileError` naming each bad line otherwise."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BatchFileError(f"{path} cannot be read: {error}.") from None
    rows = _csv_rows(text) if path.suffix.lower() == ".csv" else _jsonl_rows(text)
    if not rows:
        raise BatchFileError(f"{path} has no items: one generate_video argument object per line (JSONL) or CSV row.")
    if len(rows) > MAX_ITEMS:
        raise BatchFileError(f"{path} has {len(rows)} items; at most {MAX_ITEMS} are allowed per batch.")
    items, problems = [], []
    for line, row in rows:
        if isinstance(row, str):
            problems.append(f"line {line}: {row}")
            continue
        try:
            items.append(_checked(line, _resolved_images(row, path.parent)))
        except VeoError as error:
            problems.append(_in_file_terms(error.message))
    problems.extend(_identical(items))
    if problems:
        raise BatchFileError(
            f"{len(problems)} line(s) of {path.name} must change; nothing was sent:\n" + "\n".join(problems)
        )
    return items


def _in_file_terms(problem: str) -> str:
    """A refusal of `generate_batch`'s items, about a line of the file (whose fields keep their names)."""
    from veo_mcp.cli.vocabulary import Voice

    return Voice().speak(problem.replace("is not a generate_video argument", "is not a field a line can have"))


def _identical(items: list[FileItem]) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for item in items:
        key = guards.fingerprint(item.arguments)
        if key in seen:
            problems.append(
                f"line {item.line}: the same request as line {seen[key]} (change the seed for another take)"
            )
        seen.setdefault(key, item.line)
    return problems
