"""The MCP surface: tools, generation resources (listable, readable, subscribable), prompts and logging.

Tool functions are thin: parse the arguments into the EvoLink schemas, call `VeoService`, shape a result with
`structuredContent`, a short text and resource links. The whole job works through tools alone; resources,
subscriptions, progress and log messages are enhancements for the clients that support them.
"""

from __future__ import annotations

import base64
import difflib
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mcp.server.apps import Apps, ResourceCsp
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.session import ServerSession
from mcp.shared.subscriptions import ResourcesListChanged, ResourceUpdated
from mcp_types import (
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    EmptyResult,
    ImageContent,
    ListResourcesResult,
    LoggingLevel,
    PaginatedRequestParams,
    PromptReference,
    Resource,
    ResourceLink,
    ResourceTemplateReference,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    ToolAnnotations,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from veo_mcp import __version__
from veo_mcp.evolink import EvoLinkError, InvalidRequestError, catalog, parse_video_request
from veo_mcp.evolink.catalog import (
    AspectRatio,
    Duration,
    GenerationType,
    ModelId,
    PersonGeneration,
    Quality,
    ResizeMode,
    TaskStatus,
)
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.evolink.costs import estimate_cost as estimate_cost_of
from veo_mcp.evolink.schemas import VideoRequest
from veo_mcp.generations import URI_PREFIX, Generation, GenerationState
from veo_mcp.images import LocalImage, placeholder_url
from veo_mcp.prompts import register_prompts
from veo_mcp.service import VeoService, VideoInfo

logger = logging.getLogger(__name__)

DEFAULT_WAIT_S = 45.0
_LEVELS: tuple[LoggingLevel, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

_T = TypeVar("_T")


def _describe(field: str) -> str:
    return VideoRequest.model_fields[field].description or field


# One annotated type per API parameter: generate_video and estimate_cost share them, so their schemas cannot drift.
PromptArg = Annotated[str, Field(description=_describe("prompt"))]
ModelArg = Annotated[ModelId, Field(description=_describe("model"))]
AspectArg = Annotated[AspectRatio, Field(description=_describe("aspect_ratio"))]
DurationArg = Annotated[Duration, Field(description=_describe("duration"))]
QualityArg = Annotated[Quality, Field(description=_describe("quality"))]
AudioArg = Annotated[bool, Field(description=_describe("generate_audio"))]
CountArg = Annotated[int, Field(ge=catalog.MIN_N, le=catalog.MAX_N, description=_describe("n"))]
ImagesArg = Annotated[list[str] | None, Field(max_length=3, description=_describe("image_urls"))]
ImageFilesArg = Annotated[
    list[str] | None,
    Field(
        max_length=3,
        description="Local image files instead of image_urls (absolute paths; JPEG, PNG or WebP, at most 10 MB "
        "each; same count and order rules: 1 = first frame, 2 = first and last frame, up to 3 for REFERENCE). "
        "They are uploaded to EvoLink's file service. Only files in the folders your client shares (its roots), "
        "or in VEO_MCP_IMAGE_DIRS, may be read.",
    ),
]
ModeArg = Annotated[GenerationType | None, Field(description=_describe("generation_type"))]
NegativeArg = Annotated[str | None, Field(description=_describe("negative_prompt"))]
SeedArg = Annotated[int | None, Field(ge=catalog.MIN_SEED, le=catalog.MAX_SEED, description=_describe("seed"))]
EnhanceArg = Annotated[bool, Field(description=_describe("enhance_prompt"))]
PersonArg = Annotated[PersonGeneration, Field(description=_describe("person_generation"))]
ResizeArg = Annotated[ResizeMode, Field(description=_describe("resize_mode"))]
CallbackArg = Annotated[str | None, Field(description=_describe("callback_url"))]


# --- structured results --------------------------------------------------------------------------------------


class GenerateResult(BaseModel):
    task_id: str = Field(description="EvoLink task id; pass it to the other tools.")
    uri: str = Field(description="Resource URI of the generation (subscribe for live updates).")
    status: str
    estimated_cost_usd: float | None = Field(description="Estimated cost in USD; null when the price is unknown.")
    estimated_cost_credits: float | None
    cost_summary: str
    eta_seconds: int | None = Field(description="Estimated seconds until the video is ready.")
    simulated: bool = Field(description="True when the built-in simulator made it (nothing billed).")
    reused: bool = Field(False, description="True when an earlier generation answers this call (nothing charged).")
    reused_reason: str | None = Field(None, description="Why the earlier generation was returned.")
    request_id: str | None = Field(None, description="The request_id this generation was created with.")
    notes: list[str] = Field(default_factory=list, description="Parameters that were adjusted or ignored.")
    next_step: str


class CostConfirmation(BaseModel):
    """What the user is asked (MCP elicitation) before an expensive generation."""

    confirm: bool = Field(description="Generate this video at the estimated cost?")


class WaitResult(GenerationState):
    timed_out: bool = Field(description="True when the wait ended before the generation finished.")
    next_step: str


class DownloadResult(BaseModel):
    task_id: str
    files: list[VideoInfo] = Field(description="Saved videos: path, bytes, duration, resolution, audio.")
    output_dir: str


class GenerationSummary(BaseModel):
    task_id: str
    uri: str
    status: str
    progress: int
    prompt: str
    created_at: str | None
    files: list[str]


class UnconfirmedCreate(BaseModel):
    """A create whose outcome is unknown: it may have been accepted (and billed); it is never resent."""

    request_id: str | None
    prompt: str
    model: str
    state: str = Field(description="outcome_unknown, or sending while a call is sending it right now.")
    sent_at: str
    estimated_cost_usd: float | None
    message: str | None
    advice: str


class ListResult(BaseModel):
    generations: list[GenerationSummary]
    unconfirmed: list[UnconfirmedCreate] = Field(
        default_factory=list,
        description="Creates whose outcome is unknown (check the EvoLink dashboard); shown on the first page.",
    )
    total: int = Field(description="How many generations match.")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class EstimateResult(CostEstimate):
    notes: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(description="The exact request that generate_video would send.")


class ModelInfo(BaseModel):
    id: str
    title: str
    description: str
    generation_types: list[str]
    durations: list[int]
    qualities: list[str]
    aspect_ratios: list[str]
    max_images: dict[str, int]
    audio: bool
    reference_aspect_ratios: list[str]
    reference_fixed_duration: int | None
    price_usd_per_second: dict[str, float] | None = Field(
        description="Keyed '<quality>/<audio|no_audio>'; null: unknown."
    )
    assumptions: list[str]


class ModelsResult(BaseModel):
    default_model: str
    models: list[ModelInfo]
    credit_usd: float = Field(description="What one EvoLink credit costs in USD.")


# --- helpers ---------------------------------------------------------------------------------------------------


def _result(
    model: BaseModel, text: str, links: list[ResourceLink] | None = None, image: ImageContent | None = None
) -> CallToolResult:
    content: list[Any] = [TextContent(type="text", text=text), *([image] if image else []), *(links or [])]
    return CallToolResult(content=content, structured_content=model.model_dump(mode="json"))


async def _poster_content(service: VeoService, generation: Generation) -> ImageContent | None:
    """The saved video's poster frame, so the assistant can see the result (None until a video is saved)."""
    poster = await service.poster(generation)
    if poster is None:
        return None
    return ImageContent(type="image", data=base64.b64encode(poster).decode(), mime_type="image/jpeg")


def _generation_link(generation: Generation) -> ResourceLink:
    return ResourceLink(
        type="resource_link",
        uri=generation.uri,
        name=f"generation {generation.task_id}",
        description=f"{generation.status} {generation.progress}%: {generation.prompt[:80]}",
        mime_type="application/json",
    )


def _file_links(paths: list[tuple[str, int]]) -> list[ResourceLink]:
    return [
        ResourceLink(
            type="resource_link", uri=Path(path).as_uri(), name=Path(path).name, mime_type="video/mp4", size=size
        )
        for path, size in paths
    ]


def _state_text(state: GenerationState) -> str:
    line = f"{state.task_id}: {state.status} {state.progress}%"
    if state.eta_seconds:
        line += f", about {state.eta_seconds} s left"
    if state.files:
        line += "; saved: " + ", ".join(f.path for f in state.files)
    elif state.result_urls:
        line += f"; {len(state.result_urls)} video(s) ready to download"
    if state.error_code:
        line += f"; failed with {state.error_code}"
    if state.simulated:
        line += " [simulated]"
    return f"{line}. {state.advice or ''}".strip()


async def _guard(call: Awaitable[_T]) -> _T:
    """Turn domain errors into tool errors whose text says what happened and what to do."""
    try:
        return await call
    except EvoLinkError as error:
        raise ToolError(str(error)) from None


def _video_request(arguments: dict[str, Any]) -> VideoRequest:
    """Build the request from the tool's arguments, passing only what differs from the API defaults.

    Defaults left implicit let the schema apply mode-specific rules (REFERENCE's fixed duration, say).
    """
    explicit = {
        name: value
        for name, value in arguments.items()
        if value is not None and value != VideoRequest.model_fields[name].default
    }
    try:
        return parse_video_request(explicit)
    except InvalidRequestError as error:
        raise ToolError(str(error)) from None


async def _client_roots(ctx: Context) -> list[Path] | None:
    """The local folders the client shares (MCP roots), or None when it declares no roots."""
    capabilities = ctx.session.client_capabilities
    if capabilities is None or capabilities.roots is None:
        return None
    listed = await ctx.session.list_roots()
    return [
        Path(url2pathname(urlsplit(str(root.uri)).path)) for root in listed.roots if str(root.uri).startswith("file:")
    ]


async def _prepare_request(
    ctx: Context, service: VeoService, arguments: dict[str, Any], image_files: list[str] | None
) -> tuple[VideoRequest, list[LocalImage] | None]:
    """The request to validate, with local images checked (not uploaded) and standing in as placeholder URLs."""
    if not image_files:
        return _video_request(arguments), None
    if arguments.get("image_urls"):
        raise ToolError(
            "Give either image_urls or image_files, not both: the order of first and last frame would be ambiguous. "
            "Nothing was sent."
        )
    images = await _guard(service.inspect_images(image_files, await _client_roots(ctx)))
    arguments = {
        **arguments,
        "image_urls": [placeholder_url(image, service.settings.files_base_url) for image in images],
    }
    try:
        return _video_request(arguments), images
    except ToolError as error:
        raise ToolError(str(error).replace("image_urls", "image_files")) from None


# --- the server ------------------------------------------------------------------------------------------------


def _instructions(service: VeoService) -> str:
    text = (
        "veo-mcp generates short videos (4-8 s, 720p-4k, optional audio) with Google Veo 3.1 through EvoLink. "
        "Workflow: estimate_cost (optional) → generate_video (returns at once with a task_id; pass a request_id so "
        "a retried call never pays twice) → wait_for_generation (repeat until finished; each call waits at most "
        "~45 s) → download_video (returns the saved MP4 paths; finished videos are saved automatically). "
        "Rendering takes 1-3 minutes. Generations cost real money: requests above the confirmation threshold need "
        "the user's consent (asked directly, or confirm_cost: true after you asked). Result links expire 24 h "
        "after completion."
    )
    if service.simulated:
        text = (
            "SIMULATED MODE: this server uses the built-in EvoLink simulator. Videos are test patterns, not real "
            "renders, and nothing is billed. " + text
        )
    elif service.tracker is None:
        text = "NOT CONFIGURED: no EVOLINK_API_KEY is set, so tools that need EvoLink explain how to set it. " + text
    return text


PLAYER_URI = "ui://veo-mcp/player.html"
PLAYER_META: dict[str, Any] = {"ui": {"resourceUri": PLAYER_URI}}


def _player_app() -> Apps:
    """The inline player (MCP Apps): get/wait/download results render as status, progress and the video."""
    apps = Apps()
    apps.add_html_resource(
        PLAYER_URI,
        (resources.files("veo_mcp") / "player.html").read_text(encoding="utf-8"),
        name="player",
        title="Veo generation player",
        description="Shows a generation's status and progress and plays the finished video.",
        # Result videos live on EvoLink's CDN (any https host); the page itself loads nothing else.
        csp=ResourceCsp(resource_domains=["https:"]),
        prefers_border=True,
    )
    return apps


def create_server(service: VeoService) -> MCPServer:
    server: MCPServer = VeoMCPServer(
        name="veo-mcp",
        title="Veo 3.1 video generation (EvoLink)",
        description="Generate short videos with Google Veo 3.1 through EvoLink and save them locally.",
        instructions=_instructions(service),
        version=__version__,
        log_level="WARNING",
        extensions=[_player_app()],
    )
    watchers = _Watchers(server, service)
    _register_tools(server, service, watchers)
    _register_resources(server, service, watchers)
    register_prompts(server)
    _close_tool_schemas(server)
    return server


class VeoMCPServer(MCPServer):
    """`MCPServer` that refuses arguments a tool does not declare.

    The SDK's argument models ignore extra keys, so a misspelt `durration: 8` would silently become the default 4 s
    video - and be paid for. Checked against each tool's published schema (which says `additionalProperties:
    false`), with the closest real argument named.
    """

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            declared = sorted(tool.parameters.get("properties", {}))
            for key in arguments:
                if key not in declared:
                    close = difflib.get_close_matches(key, declared, n=1)
                    hint = f" Did you mean '{close[0]}'?" if close else ""
                    raise ToolError(
                        f"{name} has no argument '{key}'.{hint} Its arguments are: {', '.join(declared)}. "
                        "Nothing was sent."
                    )
        return await super().call_tool(name, arguments, context)


def _close_tool_schemas(server: MCPServer) -> None:
    """Publish that no other arguments are accepted (clients and models then see it in each inputSchema)."""
    for tool in server._tool_manager.list_tools():
        tool.parameters["additionalProperties"] = False


class _Watchers:
    """Who to tell about changes: sessions subscribed per URI, and every session seen (for list changes, logs)."""

    def __init__(self, server: MCPServer, service: VeoService) -> None:
        self.server = server
        self.subscriptions: dict[str, weakref.WeakSet[Connection]] = {}
        self.sessions: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.levels: weakref.WeakKeyDictionary[Connection, LoggingLevel] = weakref.WeakKeyDictionary()
        self._last_status: dict[str, str] = {}
        if service.tracker is not None:
            service.tracker.on_change(self.changed)

    def seen(self, session: Connection) -> None:
        self.sessions.add(session)

    async def changed(self, generation: Generation) -> None:
        uri = generation.uri
        bus = self.server._subscriptions
        first_time = generation.task_id not in self._last_status
        for session in list(self.subscriptions.get(uri, ())):
            await _quietly(session.send_resource_updated(uri))
        await bus.publish(ResourceUpdated(uri=uri))
        if first_time:
            for session in list(self.sessions):
                await _quietly(session.send_resource_list_changed())
            await bus.publish(ResourcesListChanged())
        if self._last_status.get(generation.task_id) != generation.status:
            self._last_status[generation.task_id] = generation.status
            level: LoggingLevel = "warning" if generation.status == "failed" else "info"
            message = f"generation {generation.task_id} is {generation.status}"
            if generation.error_code:
                message += f" ({generation.error_code})"
            await self.log(level, message)

    async def log(self, level: LoggingLevel, message: str) -> None:
        for session in list(self.sessions):
            if session.protocol_version in MODERN_PROTOCOL_VERSIONS:
                continue  # 2026-07-28 has no connection-scoped logs; those clients listen for resource changes
            threshold = self.levels.get(session, "info")
            if _LEVELS.index(level) >= _LEVELS.index(threshold):
                await _quietly(session.log(level, message, logger="veo-mcp"))


def _connection(session: ServerSession) -> Connection:
    """The client connection behind a request's session.

    `ServerSession` is a per-request proxy; change notifications must outlive the request, so we keep the
    connection (the SDK has no public accessor for it on the low-level request context).
    """
    connection: Connection = session._connection
    return connection


async def _quietly(send: Awaitable[None]) -> None:
    """A notification to a session that has gone away must not break the others."""
    try:
        await send
    except Exception as error:
        logger.debug("notification not delivered: %r", error)


def _register_tools(server: MCPServer, service: VeoService, watchers: _Watchers) -> None:
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    @server.tool(
        title="Generate a video",
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        ),
    )
    async def generate_video(
        ctx: Context,
        prompt: PromptArg,
        model: ModelArg = catalog.DEFAULT_MODEL,
        aspect_ratio: AspectArg = "auto",
        duration: DurationArg = catalog.DEFAULT_DURATION,
        quality: QualityArg = catalog.DEFAULT_QUALITY,
        generate_audio: AudioArg = True,
        n: CountArg = 1,
        image_urls: ImagesArg = None,
        image_files: ImageFilesArg = None,
        generation_type: ModeArg = None,
        negative_prompt: NegativeArg = None,
        seed: SeedArg = None,
        enhance_prompt: EnhanceArg = True,
        person_generation: PersonArg = "allow_adult",
        resize_mode: ResizeArg = "pad",
        callback_url: CallbackArg = None,
        request_id: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=200,
                description="Your own id for this request. Calling again with the same request_id (after a timeout, "
                "a retry, a restart) returns the generation the first call created and never pays twice.",
            ),
        ] = None,
        confirm_cost: Annotated[
            bool,
            Field(
                description="Set true after the user agreed to the estimated cost; needed above the confirmation "
                "threshold when the client cannot ask the user itself."
            ),
        ] = False,
        allow_duplicate: Annotated[
            bool,
            Field(
                description="Set true to pay for a new generation even though an identical request was made "
                "recently (by default that earlier generation is returned)."
            ),
        ] = False,
    ) -> Annotated[CallToolResult, GenerateResult]:
        """Start generating a video with Veo 3.1. Returns at once with a task_id; the video takes 1-3 minutes.

        Then call wait_for_generation (repeatedly); the finished video is saved automatically (download_video
        returns its path). Costs money: see estimate_cost. Pass a request_id so a retried call never pays twice.
        """
        arguments = {name: value for name, value in locals().items() if name in VideoRequest.model_fields}
        watchers.seen(_connection(ctx.session))
        request, images = await _prepare_request(ctx, service, arguments, image_files)

        async def ask_user(question: str) -> bool | None:
            capabilities = ctx.session.client_capabilities
            if capabilities is None or capabilities.elicitation is None:
                return None
            answer = await ctx.elicit(question, CostConfirmation)
            return answer.action == "accept" and answer.data.confirm

        outcome = await _guard(
            service.generate(
                request,
                request_id=request_id,
                allow_duplicate=allow_duplicate,
                confirmed=confirm_cost,
                confirm=ask_user,
                images=images,
            )
        )
        generation = outcome.generation
        estimate = generation.estimate or estimate_cost_of(request)
        reused_note = {
            "request_id": f"Same request_id as an earlier call: this is that call's generation ({generation.status}); "
            "nothing new was created or charged.",
            "duplicate": "An identical request was made recently: this is its generation; nothing new was charged. "
            "Pass allow_duplicate: true to pay for a new one.",
            None: None,
        }[outcome.reused]
        result = GenerateResult(
            task_id=generation.task_id,
            uri=generation.uri,
            status=generation.status,
            estimated_cost_usd=estimate.usd,
            estimated_cost_credits=estimate.credits,
            cost_summary=estimate.summary,
            eta_seconds=generation.eta_seconds(),
            simulated=generation.simulated,
            reused=outcome.reused is not None,
            reused_reason=reused_note,
            request_id=generation.request_id,
            notes=generation.notes,
            next_step=f"Call wait_for_generation with task_id '{generation.task_id}'.",
        )
        if outcome.reused is None:
            text = (
                f"Started generation {generation.task_id} ({estimate.summary}); ready in about "
                f"{result.eta_seconds or '60-180'} s. {result.next_step}"
            )
        else:
            text = f"{reused_note} Task {generation.task_id}. {result.next_step}"
        if generation.simulated:
            text += " [simulated: nothing billed]"
        return _result(result, text, [_generation_link(generation)])

    @server.tool(
        title="Get a generation's state",
        meta=PLAYER_META,
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def get_generation(
        ctx: Context, task_id: Annotated[str, Field(min_length=1, description="Task id from generate_video.")]
    ) -> Annotated[CallToolResult, GenerationState]:
        """Current status, progress, ETA, result links (and their expiry), saved files, or the failure and advice."""
        watchers.seen(_connection(ctx.session))
        generation = await _guard(service.get(task_id))
        state = generation.state()
        links = [_generation_link(generation), *_file_links([(f.path, f.bytes) for f in state.files])]
        return _result(state, _state_text(state), links, await _poster_content(service, generation))

    @server.tool(
        title="Wait for a generation",
        meta=PLAYER_META,
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def wait_for_generation(
        ctx: Context,
        task_id: Annotated[str, Field(min_length=1, description="Task id from generate_video.")],
        timeout_seconds: Annotated[
            float,
            Field(ge=1, le=600, description="Longest wait in seconds; keep under 50 (most clients stop at 60)."),
        ] = DEFAULT_WAIT_S,
    ) -> Annotated[CallToolResult, WaitResult]:
        """Wait until the generation finishes or the timeout passes, reporting progress. A timeout is not an error:
        call again until finished is true, then download_video."""
        watchers.seen(_connection(ctx.session))

        async def report(generation: Generation) -> None:
            await ctx.report_progress(generation.progress, 100, f"{generation.status} {generation.progress}%")

        generation = await _guard(service.wait(task_id, timeout_seconds, report))
        state = generation.state()
        if generation.finished:
            next_step = (
                f"Call download_video with task_id '{task_id}'."
                if generation.status == "completed" and not state.files
                else state.advice or "Finished."
            )
        else:
            next_step = f"Not finished yet: call wait_for_generation with task_id '{task_id}' again."
        result = WaitResult(**state.model_dump(), timed_out=not generation.finished, next_step=next_step)
        poster = await _poster_content(service, generation)
        return _result(result, f"{_state_text(state)} {next_step}", [_generation_link(generation)], poster)

    @server.tool(
        title="Download a generation's videos",
        meta=PLAYER_META,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def download_video(
        ctx: Context,
        task_id: Annotated[str, Field(min_length=1, description="Task id of a completed generation.")],
        subfolder: Annotated[
            str | None, Field(description="Optional folder inside the output directory, e.g. 'drafts'.")
        ] = None,
    ) -> Annotated[CallToolResult, DownloadResult]:
        """The generation's video(s) as MP4 files in the output directory (saved automatically on completion; this
        saves them now if not yet, or copies them into subfolder); returns paths, sizes, duration and resolution.
        Safe to call again: nothing is fetched twice."""
        watchers.seen(_connection(ctx.session))
        files = await _guard(service.download(task_id, subfolder))
        result = DownloadResult(task_id=task_id, files=files, output_dir=str(service.settings.output_dir))
        lines = [f"{f.path} ({f.bytes} bytes, {f.duration_s or 0:.1f} s, {f.width}x{f.height})" for f in files]
        generation = await service.get(task_id)
        links = [_generation_link(generation), *_file_links([(f.path, f.bytes) for f in files])]
        return _result(result, "Saved " + "; ".join(lines), links, await _poster_content(service, generation))

    @server.tool(title="List generations", annotations=read_only)
    async def list_generations(
        ctx: Context,
        status: Annotated[TaskStatus | None, Field(description="Only generations in this status.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Page size.")] = 20,
        cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
    ) -> Annotated[CallToolResult, ListResult]:
        """Generations this server knows, newest first, optionally filtered by status; paginated."""
        watchers.seen(_connection(ctx.session))
        try:
            offset = int(cursor) if cursor else 0
        except ValueError:
            raise ToolError(
                f"cursor {cursor!r} is not one this tool returned; omit it to start at the first page."
            ) from None
        page, total = await service.listing(status, offset, limit)
        summaries = [
            GenerationSummary(
                task_id=g.task_id,
                uri=g.uri,
                status=g.status,
                progress=g.progress,
                prompt=g.prompt,
                created_at=g.state().created_at,
                files=[f.path for f in g.files],
            )
            for g in page
        ]
        following = offset + len(page)
        unconfirmed = [
            UnconfirmedCreate(
                request_id=record.request_id,
                prompt=record.prompt,
                model=record.model,
                state=record.state,
                sent_at=datetime.fromtimestamp(record.created_at, tz=UTC).isoformat(timespec="seconds"),
                estimated_cost_usd=record.estimate_usd,
                message=record.message,
                advice="Check the EvoLink dashboard's task list; if it is there, get_generation with its id tracks "
                "it here. veo-mcp will not resend it.",
            )
            for record in (await service.unconfirmed() if offset == 0 else [])
        ]
        result = ListResult(
            generations=summaries,
            unconfirmed=unconfirmed,
            total=total,
            next_cursor=str(following) if following < total else None,
        )
        text = f"{total} generation(s)" + "".join(
            f"\n- {s.task_id}: {s.status} {s.progress}% {s.prompt[:60]}" for s in summaries
        )
        if unconfirmed:
            text += f"\n{len(unconfirmed)} create(s) with unknown outcome (not resent): " + "; ".join(
                f"{u.sent_at} {u.prompt[:40]!r}" for u in unconfirmed
            )
        return _result(result, text)

    @server.tool(title="Estimate the cost of a video", annotations=read_only)
    async def estimate_cost(
        ctx: Context,
        prompt: PromptArg,
        model: ModelArg = catalog.DEFAULT_MODEL,
        aspect_ratio: AspectArg = "auto",
        duration: DurationArg = catalog.DEFAULT_DURATION,
        quality: QualityArg = catalog.DEFAULT_QUALITY,
        generate_audio: AudioArg = True,
        n: CountArg = 1,
        image_urls: ImagesArg = None,
        image_files: ImageFilesArg = None,
        generation_type: ModeArg = None,
        negative_prompt: NegativeArg = None,
        seed: SeedArg = None,
        enhance_prompt: EnhanceArg = True,
        person_generation: PersonArg = "allow_adult",
        resize_mode: ResizeArg = "pad",
        callback_url: CallbackArg = None,
    ) -> Annotated[CallToolResult, EstimateResult]:
        """What generate_video with these arguments would cost, without creating anything. Also validates them."""
        arguments = {name: value for name, value in locals().items() if name in VideoRequest.model_fields}
        request, _ = await _prepare_request(ctx, service, arguments, image_files)
        estimate = estimate_cost_of(request)
        result = EstimateResult(**estimate.model_dump(), notes=request.notes, payload=request.to_api_payload())
        return _result(result, f"Estimated cost: {estimate.summary}")

    @server.tool(title="List models and prices", annotations=read_only)
    async def list_models() -> Annotated[CallToolResult, ModelsResult]:
        """The Veo 3.1 models on EvoLink: modes, allowed values, limits and prices ("unknown" when unpublished)."""
        models = []
        for caps in catalog.MODELS.values():
            prices = None
            if caps.price is not None:
                prices = {
                    f"{quality}/{'audio' if audio else 'no_audio'}": caps.price.per_second(quality, audio)
                    for quality in caps.qualities
                    for audio in (True, False)
                }
            models.append(
                ModelInfo(
                    id=caps.id,
                    title=caps.title,
                    description=caps.description,
                    generation_types=list(caps.generation_types),
                    durations=list(caps.durations),
                    qualities=list(caps.qualities),
                    aspect_ratios=list(caps.aspect_ratios),
                    max_images={k: v for k, v in caps.max_images.items() if v},
                    audio=caps.supports_audio,
                    reference_aspect_ratios=list(caps.reference_aspect_ratios),
                    reference_fixed_duration=caps.reference_fixed_duration,
                    price_usd_per_second=prices,
                    assumptions=list(caps.assumed),
                )
            )
        result = ModelsResult(default_model=catalog.DEFAULT_MODEL, models=models, credit_usd=catalog.USD_PER_CREDIT)
        text = "; ".join(
            f"{m.id}: {', '.join(m.generation_types)}, "
            + (
                "price unknown"
                if m.price_usd_per_second is None
                else f"from ${min(m.price_usd_per_second.values()):.2f}/s"
            )
            for m in models
        )
        return _result(result, text)


def _register_resources(server: MCPServer, service: VeoService, watchers: _Watchers) -> None:
    lowlevel = server._lowlevel_server

    @server.resource(
        URI_PREFIX + "{task_id}",
        name="generation",
        title="Video generation",
        description="State of one video generation as JSON (the same as get_generation). Subscribe for updates.",
        mime_type="application/json",
    )
    async def generation_resource(task_id: str) -> str:
        generation = await _guard(service.get(task_id))
        return json.dumps(generation.state().model_dump(mode="json"), indent=2)

    @server.resource(
        URI_PREFIX + "{task_id}/poster",
        name="poster",
        title="Poster frame",
        description="A JPEG frame (≤ 100 KB) of the generation's first saved video.",
        mime_type="image/jpeg",
    )
    async def poster_resource(task_id: str) -> bytes:
        generation = await _guard(service.get(task_id))
        poster = await service.poster(generation)
        if poster is None:
            raise ResourceError(
                f"Generation {task_id} has no saved video yet ({generation.status}); wait for it, then read this again."
            )
        return poster

    async def list_resources(ctx: Any, params: PaginatedRequestParams | None) -> ListResourcesResult:
        watchers.seen(_connection(ctx.session))
        await service.refresh()
        generations = service.known()
        return ListResourcesResult(
            resources=[
                Resource(
                    uri=g.uri,
                    name=f"generation {g.task_id}",
                    title=g.prompt[:60],
                    description=f"{g.status} {g.progress}%",
                    mime_type="application/json",
                )
                for g in generations
            ]
        )

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        watchers.seen(_connection(ctx.session))
        watchers.subscriptions.setdefault(str(params.uri), weakref.WeakSet()).add(_connection(ctx.session))
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        watchers.subscriptions.get(str(params.uri), weakref.WeakSet()).discard(_connection(ctx.session))
        return EmptyResult()

    async def set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        watchers.seen(_connection(ctx.session))
        watchers.levels[_connection(ctx.session)] = params.level
        return EmptyResult()

    lowlevel.add_request_handler("resources/list", PaginatedRequestParams, list_resources)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    _advertise_list_changes(lowlevel)

    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if isinstance(ref, ResourceTemplateReference) and argument.name == "task_id":
            ids = [g.task_id for g in service.known()]
            matches = [i for i in ids if i.startswith(argument.value)]
            return Completion(values=matches[:100], total=len(matches), has_more=len(matches) > 100)
        if isinstance(ref, PromptReference):
            from veo_mcp.prompts import complete_prompt_argument

            return complete_prompt_argument(ref.name, argument.name, argument.value)
        return None


def _advertise_list_changes(lowlevel: Any) -> None:
    """Make every transport announce `resources.listChanged` (the SDK defaults it to off for 2025-era sessions)."""
    original: Callable[..., Any] = lowlevel.create_initialization_options

    def with_list_changes(notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any) -> Any:
        return original(notification_options or NotificationOptions(resources_changed=True), *args, **kwargs)

    lowlevel.create_initialization_options = with_list_changes
