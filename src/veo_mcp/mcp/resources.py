"""Generations as MCP resources: `veo://generations/{task_id}` (JSON state) and `.../poster` (JPEG), listed
dynamically, subscribable on both protocol eras, with task-id completion; and batches, `veo://batches/{batch_id}`."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp_types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    EmptyResult,
    ListResourcesResult,
    PromptReference,
    Resource,
    ResourceTemplateReference,
    SetLevelRequestParams,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)

from veo_mcp.app import App
from veo_mcp.core.batches import BATCH_URI_PREFIX, UnknownBatchError
from veo_mcp.core.generation import URI_PREFIX, Generation
from veo_mcp.errors import VeoError
from veo_mcp.evolink.errors import NotFoundError
from veo_mcp.local.posters import poster_of
from veo_mcp.mcp.notifications import Watchers
from veo_mcp.mcp.presenters import one_line, running, with_urls
from veo_mcp.mcp.prompts import complete_prompt_argument
from veo_mcp.mcp.sdk_seams import add_legacy_method, advertise_resource_list_changes, connection_of


class GenerationList:
    """Middleware answering `resources/list` with the generations known now (the SDK lists only static ones)."""

    def __init__(self, app: App) -> None:
        self._app = app

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "resources/list":
            return await call_next(ctx)
        if not self._app.configured:
            return ListResourcesResult(resources=[])
        registry = running(self._app).registry
        await registry.refresh()
        return ListResourcesResult(
            resources=[
                Resource(
                    uri=g.uri,
                    name=f"generation {g.task_id}",
                    title=one_line(g.prompt, 60),
                    description=f"{g.status} {g.progress}%",
                    mime_type="application/json",
                )
                for g in registry.known()
            ]
        )


async def _generation(app: App, task_id: str) -> Generation:
    """The generation a resource URI names, or a resource error that names the id and says what to do."""
    try:
        return await app.parts.registry.get(task_id)
    except NotFoundError:
        raise ResourceNotFoundError(
            f"Unknown generation '{task_id}': neither this server nor EvoLink knows that task id. Use a task_id "
            "from generate_video or list_generations (resources/list shows the generations known here)."
        ) from None
    except VeoError as error:
        raise ResourceError(f"Generation '{task_id}' cannot be read now: {error}") from None


def register_resources(server: MCPServer, app: App, watchers: Watchers) -> None:
    @server.resource(
        URI_PREFIX + "{task_id}",
        name="generation",
        title="Video generation",
        description="State of one video generation as JSON (the same as get_generation). Subscribe for updates.",
        mime_type="application/json",
    )
    async def generation_resource(task_id: str) -> str:
        generation = await _generation(app, task_id)
        state = await with_urls(app, generation.state())
        return json.dumps(state.model_dump(mode="json"), indent=2)

    @server.resource(
        URI_PREFIX + "{task_id}/poster",
        name="poster",
        title="Poster frame",
        description="A JPEG frame (≤ 100 KB) of the generation's first saved video.",
        mime_type="image/jpeg",
    )
    async def poster_resource(task_id: str) -> bytes:
        generation = await _generation(app, task_id)
        poster = await poster_of(generation, app.settings.data_dir)
        if poster is None:
            raise ResourceError(
                f"Generation {task_id} has no saved video yet ({generation.status}); wait for it, then read this again."
            )
        return poster

    @server.resource(
        BATCH_URI_PREFIX + "{batch_id}",
        name="batch",
        title="Video batch",
        description="Progress of one batch as JSON (the same as get_batch): every item's status. Subscribe for updates.",
        mime_type="application/json",
    )
    async def batch_resource(batch_id: str) -> str:
        batches = app.parts.batches
        try:
            batch = await batches.get(batch_id)
        except UnknownBatchError:
            raise ResourceNotFoundError(
                f"Unknown batch '{batch_id}': use a batch_id from generate_batch (batch ids look like 'batch-…')."
            ) from None
        return json.dumps((await batches.state(batch)).model_dump(mode="json"), indent=2)

    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if isinstance(ref, ResourceTemplateReference) and argument.name == "task_id":
            known = running(app).registry.known() if app.configured else []
            matches = [g.task_id for g in known if g.task_id.startswith(argument.value)]
            return Completion(values=matches[:100], total=len(matches), has_more=len(matches) > 100)
        if isinstance(ref, PromptReference):
            return complete_prompt_argument(ref.name, argument.name, argument.value)
        return None

    _serve_legacy_subscriptions(server, watchers)


def _serve_legacy_subscriptions(server: MCPServer, watchers: Watchers) -> None:
    """`resources/subscribe`, `resources/unsubscribe` and `logging/setLevel` for 2025-era clients."""

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        watchers.subscribe(str(params.uri), connection_of(ctx.session))
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        watchers.unsubscribe(str(params.uri), connection_of(ctx.session))
        return EmptyResult()

    async def set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        watchers.levels[connection_of(ctx.session)] = params.level
        return EmptyResult()

    add_legacy_method(server, "resources/subscribe", SubscribeRequestParams, subscribe)
    add_legacy_method(server, "resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    add_legacy_method(server, "logging/setLevel", SetLevelRequestParams, set_level)
    advertise_resource_list_changes(server)
