"""Questions a tool call needs answered by the client or the user, asked through the SDK's resolver markers.

Why resolvers: on 2026-07-28 sessions a server cannot send `elicitation/create` or `roots/list` mid-call (there is
no back-channel); the resolver markers carry the question in an `InputRequiredResult` there, and as a standalone
request on 2025-era sessions. So cost confirmation and shared folders work on every protocol era.

- `client_roots`: the client's roots, asked only when local image files are given and the client declares roots.
- `prepared_request`: the tool arguments as a checked `VideoRequest` (local images checked, standing in as
  placeholder URLs until they are uploaded).
- `cost_consent`: asks the user about the cost when the pipeline says a create needs confirmation and the client
  can ask; answers `Unasked` when no question is needed or nobody can be asked (then `confirm_cost` counts).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mcp.server.elicitation import AcceptedElicitation, CancelledElicitation, DeclinedElicitation
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, ListRoots, Resolve
from mcp_types import ListRootsResult
from pydantic import BaseModel, Field

from veo_mcp.app import App
from veo_mcp.core.pipeline import Consent
from veo_mcp.evolink.schemas import VideoRequest
from veo_mcp.local.images import LocalImage, allowed_folders, inspect_images, placeholder_url
from veo_mcp.mcp.arguments import REQUEST_FIELDS, video_request
from veo_mcp.mcp.presenters import as_tool_error, running


class CostConfirmation(BaseModel):
    """What the user is asked (MCP elicitation) before an expensive generation."""

    confirm: bool = Field(description="Generate this video at the estimated cost?")


class Unasked(CostConfirmation):
    """Nobody was asked: no confirmation is needed, or the client cannot ask its user."""


CostAnswer = AcceptedElicitation[CostConfirmation] | DeclinedElicitation | CancelledElicitation


def consent_of(answer: CostAnswer) -> Consent:
    """The pipeline's view of the answer: only an accepted 'yes' from the user is consent; a question closed without
    an answer is no consent either, but not a "no" that stands (the next call asks again)."""
    if isinstance(answer, AcceptedElicitation):
        if isinstance(answer.data, Unasked):
            return "unasked"
        return "given" if answer.data.confirm else "declined"
    return "declined" if isinstance(answer, DeclinedElicitation) else "dismissed"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A tool call's request, checked; `images` are the local files behind its placeholder URLs."""

    request: VideoRequest
    images: list[LocalImage] | None


def _by_name(
    body: Callable[..., Awaitable[Any]], names: Sequence[str], dependencies: dict[str, Any]
) -> Callable[..., Awaitable[Any]]:
    """A resolver taking the context, its resolved `dependencies` and the tool arguments `names` by name.

    The SDK plans resolvers from their signatures; building the signature from the tool's own argument list keeps
    one list of request fields instead of a second hand-written copy of it.
    """

    async def resolver(**kwargs: Any) -> Any:
        ctx = kwargs.pop("ctx")
        resolved = {name: kwargs.pop(name) for name in dependencies}
        return await body(ctx, kwargs, **resolved)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter(name, keyword) for name in ("ctx", *dependencies, *names)]
    resolver.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    resolver.__annotations__ = {"ctx": Context, **dependencies}
    resolver.__qualname__ = resolver.__name__ = body.__name__
    return resolver


def _given_arguments(ctx: Context) -> set[str] | None:
    """The argument names the caller actually sent (the validated arguments also hold every default)."""
    try:
        params = ctx.request_context.params
    except ValueError:  # no request: a direct call, not through a session
        return None
    arguments = params.get("arguments") if params else None
    return set(arguments) if isinstance(arguments, dict) else set()


def _can_ask_user(ctx: Context) -> bool:
    """Whether the client declared form elicitation (a bare `elicitation: {}` counts, as the SDK reads it)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def client_roots(ctx: Context, image_files: list[str] | None) -> ListRoots | None:
    """Ask for the client's roots only when they matter: local files were given and the client has roots."""
    capabilities = ctx.client_capabilities
    if not image_files or capabilities is None or capabilities.roots is None or _over_http(ctx):
        return None
    return ListRoots()


def _over_http(ctx: Context) -> bool:
    """Over HTTP the client is another machine: its roots describe its disk, not ours, so they are never asked
    for (and never used to read this server's files)."""
    try:
        return ctx.headers is not None
    except ValueError:  # no request: a direct call
        return False


def _root_folders(listed: ListRootsResult | None) -> list[Path] | None:
    """The local folders among the client's roots: `file://` URIs of this machine with an absolute path."""
    if listed is None:
        return None
    folders = []
    for root in listed.roots:
        parts = urlsplit(str(root.uri))
        path = url2pathname(parts.path)
        if parts.scheme == "file" and parts.netloc in ("", "localhost") and Path(path).is_absolute():
            folders.append(Path(path))
    return folders


def prepared_request(app: App, names: Sequence[str]) -> Callable[..., Awaitable[Prepared]]:
    """The resolver that turns a tool's arguments into a `Prepared` request (see the module docstring)."""

    async def prepare_request(ctx: Context, arguments: dict[str, Any], roots: ListRootsResult | None) -> Prepared:
        given = _given_arguments(ctx)
        image_files = arguments.get("image_files")
        if not image_files:
            return Prepared(video_request(arguments, given), None)
        if arguments.get("image_urls"):
            raise ToolError(
                "Give either image_urls or image_files, not both: the order of first and last frame would be "
                "ambiguous. Nothing was sent."
            )
        allowed = allowed_folders(app.settings.image_dirs, _root_folders(roots))
        images = await as_tool_error(inspect_images(image_files, allowed))
        placeholders = [placeholder_url(image, app.settings.files_base_url) for image in images]
        try:
            given = None if given is None else {*given, "image_urls"}
            request = video_request({**arguments, "image_urls": placeholders}, given, own_image_urls=placeholders)
            return Prepared(request, images)
        except ToolError as error:
            raise ToolError(str(error).replace("image_urls", "image_files")) from None

    roots_type = Annotated[ListRootsResult | None, Resolve(client_roots)]
    return _by_name(prepare_request, [*REQUEST_FIELDS, "image_files"], {"roots": roots_type})


def cost_consent(app: App, prepare: Callable[..., Awaitable[Prepared]]) -> Callable[..., Awaitable[Any]]:
    """The resolver that asks the user about the cost when a create needs it and the client can ask."""

    async def ask_about_cost(
        ctx: Context, arguments: dict[str, Any], prepared: Prepared
    ) -> Elicit[CostConfirmation] | Unasked:
        plan = await as_tool_error(
            running(app).pipeline.plan(
                prepared.request,
                request_id=arguments["request_id"],
                allow_duplicate=arguments["allow_duplicate"],
                local_images=bool(prepared.images),
            )
        )
        if plan.question is None or not _can_ask_user(ctx):
            return Unasked(confirm=False)
        return Elicit(plan.question, CostConfirmation)

    return _by_name(
        ask_about_cost, ["request_id", "allow_duplicate"], {"prepared": Annotated[Prepared, Resolve(prepare)]}
    )


# Shared with the batch tools' resolvers (mcp/batch_requests.py), which ask the same questions for many items.
given_arguments = _given_arguments
by_name = _by_name
root_folders = _root_folders
can_ask_user = _can_ask_user
