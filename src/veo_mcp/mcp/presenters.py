"""How results are shown: structured content plus a short text, resource links and the poster frame.

Also the one place domain errors become tool errors, so every refusal an assistant sees is the error's own
sentence (what went wrong, what to do), never "Error executing tool".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ImageContent, ResourceLink, TextContent
from pydantic import BaseModel

from veo_mcp.app import App, Running
from veo_mcp.background.downloads import VideoInfo
from veo_mcp.context import LOCAL_PRINCIPAL, current_principal
from veo_mcp.core.batches import BatchState
from veo_mcp.core.generation import Generation, GenerationState
from veo_mcp.errors import VeoError
from veo_mcp.local.posters import poster_of
from veo_mcp.mcp.results import BatchReport

_T = TypeVar("_T")


# The three protocols below are types only, never run; `no mutate block` keeps mutmut from adding its copies of
# their methods as members, which no model has (every use of `with_urls` or `linked` then fails the type check).
class _SavedVideo(Protocol):  # pragma: no mutate block
    @property
    def path(self) -> str: ...
    @property
    def bytes(self) -> int: ...
    @property
    def url(self) -> str | None: ...


class _LinkableVideo(_SavedVideo, Protocol):  # pragma: no mutate block
    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self: ...


class _WithFiles(Protocol):  # pragma: no mutate block
    @property
    def files(self) -> Sequence[_LinkableVideo]: ...
    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self: ...


_V = TypeVar("_V", bound=_LinkableVideo)
_M = TypeVar("_M", bound=_WithFiles)


def one_line(text: str, limit: int | None = None) -> str:
    """User text made safe to embed in text a model reads: control characters (newlines included) are shown as
    escapes, so a prompt cannot forge lines of a listing or of instructions; cut to `limit` characters first."""
    cut = text[:limit] if limit is not None else text
    return "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode("ascii") for char in cut
    )


def tool_result(
    model: BaseModel, text: str, links: list[ResourceLink] | None = None, image: ImageContent | None = None
) -> CallToolResult:
    content: list[Any] = [TextContent(type="text", text=text), *([image] if image else []), *(links or [])]
    return CallToolResult(content=content, structured_content=model.model_dump(mode="json"))


async def as_tool_error(call: Awaitable[_T]) -> _T:
    """Turn domain errors into tool errors whose text says what happened and what to do."""
    try:
        return await call
    except VeoError as error:
        raise ToolError(str(error)) from None


def running(app: App) -> Running:
    """The app's running parts, or the tool error that says how to configure it."""
    try:
        return app.parts
    except VeoError as error:
        raise ToolError(str(error)) from None


async def poster_content(generation: Generation, data_dir: Path) -> ImageContent | None:
    """The saved video's poster frame, so the assistant can see the result (None until a video is saved)."""
    poster = await poster_of(generation, data_dir)
    if poster is None:
        return None
    return ImageContent(type="image", data=base64.b64encode(poster).decode(), mime_type="image/jpeg")


def generation_link(generation: Generation) -> ResourceLink:
    return ResourceLink(
        type="resource_link",
        uri=generation.uri,
        name=f"generation {generation.task_id}",
        description=f"{generation.status} {generation.progress}%: {one_line(generation.prompt, 80)}",
        mime_type="application/json",
    )


def file_links(files: Sequence[_SavedVideo]) -> list[ResourceLink]:
    """A link per saved video: its signed URL over HTTP (a remote client can fetch that), else its file URI."""
    return [
        ResourceLink(
            type="resource_link",
            uri=f.url or Path(f.path).as_uri(),
            name=Path(f.path).name,
            mime_type="video/mp4",
            size=f.bytes,
        )
        for f in files
        if f.url or Path(f.path).is_absolute()  # a remote caller's file without a link has nothing to point at
    ]


def path_shown(app: App, path: str, principal: str | None = None) -> str:
    """What the caller is shown of a saved file's path: the local user (whose machine this is) the path itself;
    anyone else the path inside their own folder (their links fetch the file; a server path is of no use to them
    and tells them about the server)."""
    principal = current_principal() if principal is None else principal
    if principal == LOCAL_PRINCIPAL:
        return path
    own = app.settings.output_dir
    if app.configured and app.parts_or_none() is not None:
        own = app.parts.downloader.output_dir(principal)
    for base, target in ((own, Path(path)), (own.resolve(), Path(path).resolve())):
        try:
            return target.relative_to(base).as_posix()
        except ValueError:
            continue
    return Path(path).name


def batch_shown(app: App, state: BatchState) -> BatchState:
    """`state` with each item's saved files as the caller is shown them (`path_shown`)."""
    if current_principal() == LOCAL_PRINCIPAL:
        return state
    items = [item.model_copy(update={"files": [path_shown(app, f) for f in item.files]}) for item in state.items]
    return state.model_copy(update={"items": items})


async def url_of(app: App, path: str) -> str | None:
    """The link a remote client fetches the saved video at `path` with (over HTTP only; None over stdio)."""
    return None if app.links is None else await app.links.url_for(path)


async def linked(app: App, files: Sequence[_V]) -> list[_V]:
    """Copies of saved `files` that carry their `url` (unchanged over stdio)."""
    if app.links is None:
        return list(files)
    return [f.model_copy(update={"url": await url_of(app, f.path), "path": path_shown(app, f.path)}) for f in files]


async def with_urls(app: App, model: _M) -> _M:
    """A copy of `model` (a generation's state, a task result) whose `files` carry their `url`."""
    if app.links is None:
        return model
    return model.model_copy(update={"files": await linked(app, model.files)})


def state_line(state: GenerationState) -> str:
    """One line: status, progress and what exists (no advice)."""
    line = f"{state.task_id}: {state.status} {state.progress}%"
    if state.stalled:
        line += ", stalled"
    elif state.eta_seconds:
        line += f", about {state.eta_seconds} s left"
    if state.files:
        line += "; saved: " + ", ".join(f.path for f in state.files)
    elif state.download_status == "expired":
        line += "; the result links expired before the video was saved"
    elif state.result_urls:
        line += f"; {len(state.result_urls)} video(s) not saved yet"
    if state.error_code:
        line += f"; failed with {state.error_code}"
    if state.simulated:
        line += " [simulated]"
    return line


def saved_files_text(files: Sequence[VideoInfo]) -> str:
    """One line per saved video: where it is, its size, length and resolution."""
    return "; ".join(f"{f.path} ({f.bytes} bytes, {f.duration_s or 0:.1f} s, {f.width}x{f.height})" for f in files)


def state_text(state: GenerationState) -> str:
    """The state line and what to do next."""
    return f"{state_line(state)}. {state.advice or ''}".strip()


def batch_counts(state: BatchState) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(state.counts.items()))


def batch_next_step(state: BatchState) -> str:
    if not state.finished:
        return f"{state.done} of {state.total} finished: call wait_for_batch with batch_id '{state.batch_id}' again."
    completed = [item.task_id for item in state.items if item.status == "completed" and item.task_id]
    step = f"All {state.total} items finished ({batch_counts(state)})."
    if completed:
        step += (
            f" combine_videos with task_ids {json.dumps(completed)} joins the completed ones, in order, into one MP4."
        )
    if len(completed) < state.total:
        step += " Items that did not complete say why in their message; a new generate_batch with only those items retries them."
    return step


def batch_text(state: BatchState, lead: str = "") -> str:
    """A short account of a batch: progress, then one line per item."""
    lines = [f"{lead}Batch {state.batch_id}: {state.done} of {state.total} finished ({batch_counts(state)})."]
    if state.queue:
        lines.append(f"Queue: {state.queue}.")
    for item in state.items:
        line = f"- [{item.index}] {item.status}"
        if item.status in ("pending", "processing"):
            line += f" {item.progress}%"
        if item.task_id:
            line += f" {item.task_id}"
        if item.files:
            line += f" saved: {', '.join(item.files)}"
        elif item.message:
            line += f": {one_line(item.message, 200)}"
        lines.append(line)
    return "\n".join(lines)


def batch_link(state: BatchState) -> ResourceLink:
    return ResourceLink(
        type="resource_link",
        uri=state.uri,
        name=f"batch {state.batch_id}",
        description=f"{state.done} of {state.total} finished: {one_line(state.label, 80)}",
        mime_type="application/json",
    )


_Report = TypeVar("_Report", bound=BatchReport)


async def linked_batch(app: App, report: _Report) -> _Report:
    """A copy of a batch report whose items carry `urls` for their saved files (over HTTP)."""
    if app.links is None:
        return report
    items = []
    for item in report.items:
        urls = [url for url in [await url_of(app, path) for path in item.files] if url is not None]
        items.append(item.model_copy(update={"urls": urls, "files": [path_shown(app, f) for f in item.files]}))
    return report.model_copy(update={"items": items})
