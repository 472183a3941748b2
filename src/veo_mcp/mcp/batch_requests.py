"""generate_batch's arguments as checked items, and its one cost question, through the SDK's resolver markers.

- `prepared_batch`: the items (or the prompt's variants) with the shared defaults under them, each checked into a
  request; local image files are checked against the same folders as generate_video's (asking the client for its
  roots when one is given). Every invalid item is named in one refusal; nothing is sent.
- `batch_consent`: one question for the whole batch when its total is above the threshold and the client can ask.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types import ListRootsResult
from pydantic import BaseModel, Field

from veo_mcp.app import App
from veo_mcp.core.batches import (
    MAX_ITEMS,
    BatchError,
    PreparedItem,
    item_arguments,
    item_label,
    item_request,
    problems_text,
    unknown_field,
)
from veo_mcp.errors import VeoError
from veo_mcp.evolink import VideoRequest, catalog
from veo_mcp.local.images import allowed_folders, inspect_images, placeholder_url
from veo_mcp.mcp.arguments import (
    REQUEST_FIELDS,
    AspectArg,
    AudioArg,
    CallbackArg,
    CountArg,
    DurationArg,
    EnhanceArg,
    ImageFilesArg,
    ImagesArg,
    ModeArg,
    ModelArg,
    NegativeArg,
    PersonArg,
    PromptArg,
    QualityArg,
    ResizeArg,
    SeedArg,
)
from veo_mcp.mcp.checking import check, rules_of
from veo_mcp.mcp.presenters import as_tool_error, running
from veo_mcp.mcp.questions import (
    CostConfirmation,
    Unasked,
    by_name,
    can_ask_user,
    client_roots,
    given_arguments,
    root_folders,
)

ItemsArg = Annotated[
    list[dict[str, Any]] | None,
    Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description='generate_video arguments per video, e.g. {"prompt": "a cat"}.',
    ),
]
BatchPromptArg = Annotated[str | None, Field(description="With variants: the prompt of every video.")]
VariantsArg = Annotated[
    dict[str, list[Any]] | None,
    Field(
        description='Argument → values, a video per combination: {"aspect_ratio": ["16:9", "9:16"], "duration": [4, 8]}.'
    ),
]
# The shared defaults: every generate_video argument the items may set, except the prompt (given with variants).
SHARED_FIELDS: tuple[str, ...] = (*(name for name in REQUEST_FIELDS if name != "prompt"), "image_files")


class BatchConfirmation(CostConfirmation):
    """What the user is asked (MCP elicitation) before an expensive batch."""

    confirm: bool = Field(description="Generate every video of this batch at the estimated total cost?")


def _shared_defaults(arguments: dict[str, Any], given: set[str] | None) -> dict[str, Any]:
    """The shared defaults the caller actually gave (without `given`: the values that differ from the defaults)."""
    defaults = {}
    for name in SHARED_FIELDS:
        value = arguments.get(name)
        if value is None:
            continue
        field = VideoRequest.model_fields.get(name)
        if (given is not None and name in given) or (given is None and (field is None or value != field.default)):
            defaults[name] = value
    return defaults


class _ItemArguments(BaseModel):
    """What one item may set: generate_video's arguments that describe the video (the same types, so the same
    rule reads them: "8" → 8, "4K" → "4k"; see `veo_mcp.mcp.checking`)."""

    prompt: PromptArg
    model: ModelArg = catalog.DEFAULT_MODEL
    aspect_ratio: AspectArg = "auto"
    duration: DurationArg = catalog.DEFAULT_DURATION
    quality: QualityArg = catalog.DEFAULT_QUALITY
    generate_audio: AudioArg = True
    n: CountArg = 1
    image_urls: ImagesArg = None
    image_files: ImageFilesArg = None
    generation_type: ModeArg = None
    negative_prompt: NegativeArg = None
    seed: SeedArg = None
    enhance_prompt: EnhanceArg = True
    person_generation: PersonArg = "allow_adult"
    resize_mode: ResizeArg = "pad"
    callback_url: CallbackArg = None


ITEM_RULES = rules_of(_ItemArguments.model_json_schema())


def read_item(arguments: dict[str, Any], label: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """An item's arguments under the same rule as generate_video's, and notes on what was normalised."""
    problems = [
        problem.removesuffix(" Nothing was sent.")
        for name, value in arguments.items()
        if (problem := unknown_field({name: value}, label)) is not None
    ]
    checked = check(ITEM_RULES, {name: value for name, value in arguments.items() if name in ITEM_RULES})
    if checked.problems:
        problems.append(f"{label}: {' '.join(checked.problems)}")
    if problems:  # every problem of the item at once, not one per attempt
        raise BatchError(" ".join(problems))
    return checked.arguments, tuple(f"{label}: {note}" for note in checked.notes)


async def _prepare_item(
    app: App, index: int, given: dict[str, Any], label: str, roots: ListRootsResult | None
) -> PreparedItem:
    arguments, notes = read_item(given, label)
    image_files = arguments.get("image_files")
    if not image_files:
        return PreparedItem(index, arguments, item_request(arguments, label), notes=notes)
    if arguments.get("image_urls"):
        raise BatchError(f"{label}: give either image_urls or image_files, not both.")
    try:
        images = await inspect_images(list(image_files), allowed_folders(app.settings.image_dirs, root_folders(roots)))
    except VeoError as error:
        raise BatchError(f"{label}: {error.message}", advice=error.advice) from None
    placeholders = [placeholder_url(image, app.settings.files_base_url) for image in images]
    try:
        request = item_request({**arguments, "image_urls": placeholders}, label, placeholders)
    except VeoError as error:
        raise BatchError(error.message.replace("image_urls", "image_files")) from None
    return PreparedItem(index, arguments, request, images, notes)


async def _batch_roots(ctx: Context, items: list[dict[str, Any]] | None, image_files: list[str] | None) -> Any:
    """The client's roots, asked for only when some item (or the shared defaults) names local image files."""
    named = list(image_files or []) + [path for item in items or [] for path in item.get("image_files") or []]
    return await client_roots(ctx, named or None)


def prepared_batch(app: App) -> Callable[..., Awaitable[list[PreparedItem]]]:
    async def prepare_batch(
        ctx: Context, arguments: dict[str, Any], roots: ListRootsResult | None
    ) -> list[PreparedItem]:
        try:
            listed = item_arguments(
                items=arguments["items"],
                prompt=arguments["prompt"],
                variants=arguments["variants"],
                defaults=_shared_defaults(arguments, given_arguments(ctx)),
            )
        except BatchError as error:
            raise ToolError(str(error)) from None
        varied = list(arguments["variants"] or {})
        prepared, problems = [], []
        for index, item in enumerate(listed):
            try:
                prepared.append(await _prepare_item(app, index, item, item_label(index, item, varied), roots))
            except VeoError as error:
                problems.append(error.message)
        if problems:
            raise ToolError(problems_text(problems, len(listed)))
        return prepared

    roots_type = Annotated[ListRootsResult | None, Resolve(_batch_roots)]
    return by_name(prepare_batch, ["items", "variants", *REQUEST_FIELDS, "image_files"], {"roots": roots_type})


def batch_consent(app: App, prepare: Callable[..., Awaitable[list[PreparedItem]]]) -> Callable[..., Awaitable[Any]]:
    """The resolver that asks the user once about the whole batch's cost when it needs it and the client can ask."""

    async def ask_about_batch(
        ctx: Context, arguments: dict[str, Any], prepared: list[PreparedItem]
    ) -> Elicit[BatchConfirmation] | Unasked:
        plan = await as_tool_error(
            running(app).batches.plan(
                prepared, request_id=arguments["request_id"], allow_duplicate=arguments["allow_duplicate"]
            )
        )
        if plan.question is None or not can_ask_user(ctx):
            return Unasked(confirm=False)
        return Elicit(plan.question, BatchConfirmation)

    prepared_type = Annotated[list[PreparedItem], Resolve(prepare)]
    return by_name(ask_about_batch, ["request_id", "allow_duplicate"], {"prepared": prepared_type})
