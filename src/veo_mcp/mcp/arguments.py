"""The tools' arguments: one annotated type per API parameter, shared by every tool that takes it (their schemas
cannot drift), and the step from tool arguments to a checked `VideoRequest`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from pydantic.fields import FieldInfo

from veo_mcp.evolink import InvalidRequestError, catalog, parse_video_request
from veo_mcp.evolink.catalog import (
    AspectRatio,
    Duration,
    GenerationType,
    ModelId,
    PersonGeneration,
    Quality,
    ResizeMode,
)
from veo_mcp.evolink.schemas import VideoRequest


def _describe(field: str) -> str:
    return VideoRequest.model_fields[field].description or field


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
        description="Local images instead of image_urls (absolute paths, same rules), uploaded to EvoLink; only "
        "from the client's roots or VEO_MCP_IMAGE_DIRS.",
    ),
]
ModeArg = Annotated[GenerationType | None, Field(description=_describe("generation_type"))]
NegativeArg = Annotated[str | None, Field(description=_describe("negative_prompt"))]
SeedArg = Annotated[int | None, Field(ge=catalog.MIN_SEED, le=catalog.MAX_SEED, description=_describe("seed"))]
EnhanceArg = Annotated[bool, Field(description=_describe("enhance_prompt"))]
PersonArg = Annotated[PersonGeneration, Field(description=_describe("person_generation"))]
ResizeArg = Annotated[ResizeMode, Field(description=_describe("resize_mode"))]
CallbackArg = Annotated[str | None, Field(description=_describe("callback_url"))]


def wait_seconds(max_wait_s: float) -> tuple[FieldInfo, float]:
    """The `timeout_seconds` argument of wait_for_generation and wait_for_batch (one limit for both, stated in the
    schema: VEO_MCP_MAX_WAIT), and its default: nine tenths of the limit, leaving the client room to receive the
    answer before its own timeout."""
    top = f"{max_wait_s:g}"
    limit = Field(
        ge=0,
        le=max_wait_s,
        description=f"Most seconds to wait, 0-{top} (0: answer now; VEO_MCP_MAX_WAIT sets {top}).",
    )
    return limit, round(max_wait_s * 0.9, 1)


RequestIdArg = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description="Your id for this request: calling again with it (after a timeout or restart) returns the "
        "first call's generation and never pays twice.",
    ),
]
ConfirmCostArg = Annotated[
    bool,
    Field(
        description="true once the user agreed to the cost; needed above the confirmation threshold when the "
        "client cannot ask the user."
    ),
]
AllowDuplicateArg = Annotated[
    bool,
    Field(description="true to pay for a new take of a request made recently (else that generation is returned)."),
]
TaskIdArg = Annotated[str, Field(min_length=1, description="Task id from generate_video.")]

# The tool arguments that are API request fields (the rest steer veo-mcp itself).
REQUEST_FIELDS: tuple[str, ...] = tuple(VideoRequest.model_fields)


def video_request(
    arguments: dict[str, Any], given: Collection[str] | None = None, *, own_image_urls: Collection[str] = ()
) -> VideoRequest:
    """Build the request from the tool's arguments, passing only those the caller gave.

    Defaults left implicit let the schema apply mode-specific rules (REFERENCE's fixed duration, say), while a value
    the caller did give is checked even when it equals the default (`duration: 4` with three reference images is
    refused, not silently turned into 8 s). Without `given`, values that differ from the defaults count as given.
    `own_image_urls` are veo-mcp's own stand-ins for local files (never user URLs to judge).
    """
    explicit = {
        name: value
        for name, value in arguments.items()
        if name in VideoRequest.model_fields
        and value is not None
        and (name in given if given is not None else value != VideoRequest.model_fields[name].default)
    }
    try:
        return parse_video_request(explicit, uploaded_image_urls=own_image_urls)
    except InvalidRequestError as error:
        raise ToolError(str(error)) from None
