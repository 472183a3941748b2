"""Request and response models that mirror the EvoLink Veo 3.1 API, constraint for constraint.

`VideoRequest` refuses locally everything the API would refuse (and a few things EvoLink could never serve, like
internal image URLs), so no money is at stake for a bad request. `parse_video_request` turns pydantic's errors into
one `InvalidRequestError` whose sentences name the field, the value and what is allowed. The simulator validates with
these same models, so client and simulator cannot drift.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from veo_mcp.evolink import catalog
from veo_mcp.evolink.addresses import callback_url_problem, image_url_problem
from veo_mcp.evolink.catalog import (
    AspectRatio,
    Duration,
    GenerationType,
    ModelId,
    PersonGeneration,
    Quality,
    ResizeMode,
)
from veo_mcp.evolink.errors import FieldIssue, InvalidRequestError

_CUSTOM = "veo_request"


def _quoted(values: tuple[object, ...]) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


# What each field allows, in words: the second half of every refusal sentence.
ALLOWED: dict[str, str] = {
    "model": f"use one of {_quoted(catalog.MODEL_IDS)}",
    "prompt": f"use a non-empty text of at most {catalog.MAX_PROMPT_TOKENS} tokens",
    "aspect_ratio": f"use one of {_quoted(catalog.ASPECT_RATIOS)}",
    "image_urls": "use a list of 1 to 3 public http(s) image URLs ending in " + ", ".join(catalog.IMAGE_EXTENSIONS),
    "generation_type": f"use one of {_quoted(catalog.GENERATION_TYPES)}, or leave it out to follow the image count",
    "enhance_prompt": "use true or false",
    "callback_url": f"use a public https:// URL of at most {catalog.MAX_CALLBACK_URL_CHARS} characters",
    "quality": f"use one of {_quoted(catalog.QUALITIES)}",
    "duration": f"use one of {_quoted(catalog.DURATIONS)} (seconds, a whole number)",
    "generate_audio": "use true or false",
    "n": f"use a whole number from {catalog.MIN_N} to {catalog.MAX_N}",
    "negative_prompt": "use a text describing what must not appear",
    "seed": f"use a whole number from {catalog.MIN_SEED} to {catalog.MAX_SEED}",
    "person_generation": f"use one of {_quoted(catalog.PERSON_GENERATION)}",
    "resize_mode": f"use one of {_quoted(catalog.RESIZE_MODES)}",
}


def estimate_prompt_tokens(text: str) -> int:
    """A deliberately high token count (see catalog.PROMPT_ASCII_CHARS_PER_TOKEN): we never under-count."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / catalog.PROMPT_ASCII_CHARS_PER_TOKEN) + (len(text) - ascii_chars)


def _refuse(field: str, sentence: str) -> PydanticCustomError:
    """A refusal whose sentence is already complete; `field` is what it is about (for `param`)."""
    return PydanticCustomError(_CUSTOM, sentence, {"field": field})


class VideoRequest(BaseModel):
    """A create request for `POST /v1/videos/generations`, with the API's defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    model: ModelId = Field(catalog.DEFAULT_MODEL, description="Video model id.")
    prompt: str = Field(
        description="What the video shows: subject, action, camera, lighting, sound. At most 2000 tokens."
    )
    aspect_ratio: AspectRatio = Field(
        catalog.DEFAULT_ASPECT_RATIO,
        description="'16:9' landscape, '9:16' portrait, or 'auto' (from the image, or from the prompt).",
    )
    image_urls: list[str] | None = Field(
        None,
        description="Public image URLs (.jpg .jpeg .png .webp, ≤ 10 MB): 1 = first frame, 2 = first and last "
        "frame, up to 3 for REFERENCE.",
    )
    generation_type: GenerationType | None = Field(
        None,
        description="TEXT, FIRST&LAST (1-2 images) or REFERENCE (1-3 style images, 16:9). Default follows the "
        "image count.",
    )
    enhance_prompt: bool = Field(
        catalog.DEFAULT_ENHANCE_PROMPT, description="Translate non-English prompts to English first."
    )
    callback_url: str | None = Field(
        None, description="HTTPS URL EvoLink calls when the task finishes (public, ≤ 2048 chars)."
    )
    quality: Quality = Field(catalog.DEFAULT_QUALITY, description="Resolution.")
    duration: Duration = Field(catalog.DEFAULT_DURATION, description="Length in seconds.")
    generate_audio: bool = Field(catalog.DEFAULT_GENERATE_AUDIO, description="Also generate a soundtrack (costs more).")
    n: int = Field(catalog.DEFAULT_N, ge=catalog.MIN_N, le=catalog.MAX_N, description="How many videos.")
    negative_prompt: str | None = Field(None, description="What must not appear in the video.")
    seed: int | None = Field(
        None, ge=catalog.MIN_SEED, le=catalog.MAX_SEED, description="Random seed for reproducible output."
    )
    person_generation: PersonGeneration = Field(
        catalog.DEFAULT_PERSON_GENERATION, description="Whether adults may appear."
    )
    resize_mode: ResizeMode = Field(catalog.DEFAULT_RESIZE_MODE, description="How images fit the aspect ratio.")

    @field_validator("prompt", mode="after")
    @classmethod
    def _prompt_fits(cls, prompt: str) -> str:
        if not prompt.strip():
            raise _refuse("prompt", "prompt is empty; describe the video to generate.")
        tokens = estimate_prompt_tokens(prompt)
        if tokens > catalog.MAX_PROMPT_TOKENS:
            raise _refuse(
                "prompt",
                f"prompt: about {tokens} tokens by our conservative estimate (1 token per "
                f"{catalog.PROMPT_ASCII_CHARS_PER_TOKEN} ASCII characters, 1 per other character) is over the "
                f"limit of {catalog.MAX_PROMPT_TOKENS} tokens; shorten it.",
            )
        return prompt

    @field_validator("image_urls", mode="after")
    @classmethod
    def _images_fetchable(cls, urls: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if urls is None:
            return None
        # Links the file service itself just returned for our uploads are not user input: they skip the rules meant
        # for user URLs (a local `veo-mcp simulator` serves them on loopback, say).
        trusted: frozenset[str] = (info.context or {}).get("trusted_image_urls", frozenset())
        if len(urls) > 3:
            raise _refuse(
                "image_urls",
                f"image_urls: {len(urls)} images given; at most 3 are allowed (1 = first frame, 2 = first and "
                "last frame, up to 3 for REFERENCE).",
            )
        for index, url in enumerate(urls):
            problem = None if url in trusted else image_url_problem(url)
            if problem:
                raise _refuse(f"image_urls[{index}]", f"image_urls[{index}]: {_short(url)} cannot be used: {problem}.")
        return urls

    @field_validator("callback_url", mode="after")
    @classmethod
    def _callback_acceptable(cls, url: str | None) -> str | None:
        if url is not None:
            problem = callback_url_problem(url)
            if problem:
                raise _refuse("callback_url", f"callback_url: {_short(url)} cannot be used: {problem}.")
        return url

    @model_validator(mode="after")
    def _modes_fit_model(self) -> Self:
        caps = catalog.MODELS[self.model]
        mode = self.resolved_generation_type
        count = len(self.image_urls or ())
        if mode not in caps.generation_types:
            raise _refuse(
                "generation_type",
                f"generation_type: {mode!r} is not available on {self.model}; use one of "
                f"{_quoted(caps.generation_types)}, or a model that offers it (see list_models).",
            )
        lo, hi = caps.min_images[mode], caps.max_images[mode]
        if not lo <= count <= hi:
            wanted = "no images" if hi == 0 else f"{lo} to {hi} image URLs" if lo != hi else f"{lo} image URL(s)"
            raise _refuse("image_urls", f"image_urls: {count} given, but {mode} mode takes {wanted}.")
        if mode == "REFERENCE" and self.aspect_ratio not in caps.reference_aspect_ratios:
            raise _refuse(
                "aspect_ratio",
                f"aspect_ratio: {self.aspect_ratio!r} is not allowed in REFERENCE mode on {self.model}; use "
                f"{_quoted(caps.reference_aspect_ratios)}.",
            )
        fixed = caps.reference_fixed_duration if mode == "REFERENCE" else None
        if fixed is not None and "duration" in self.model_fields_set and self.duration != fixed:
            raise _refuse(
                "duration",
                f"duration: {self.duration} is not allowed in REFERENCE mode on {self.model}; its output is fixed "
                f"at {fixed} seconds (leave duration out or use {fixed}).",
            )
        if self.generate_audio and not caps.supports_audio:
            raise _refuse("generate_audio", f"generate_audio: true is not available on {self.model}; use false.")
        return self

    # --- derived values ---------------------------------------------------------------------------------------

    @property
    def resolved_generation_type(self) -> GenerationType:
        if self.generation_type is not None:
            return self.generation_type
        return catalog.default_generation_type(len(self.image_urls or ()))

    @property
    def effective_duration(self) -> Duration:
        """The duration upstream will render (REFERENCE on the preview endpoint is fixed)."""
        caps = catalog.MODELS[self.model]
        if self.resolved_generation_type == "REFERENCE" and caps.reference_fixed_duration is not None:
            return caps.reference_fixed_duration
        return self.duration

    @property
    def effective_aspect_ratio(self) -> AspectRatio:
        if self.resolved_generation_type == "REFERENCE" and self.aspect_ratio == "auto":
            return "16:9"
        return self.aspect_ratio

    @property
    def notes(self) -> list[str]:
        """Things worth telling the user that are not errors: ignored or adjusted parameters."""
        notes: list[str] = []
        has_images = bool(self.image_urls)
        if not has_images and "resize_mode" in self.model_fields_set:
            notes.append("resize_mode only applies to image-to-video; it was ignored for this text-to-video request.")
        if self.effective_duration != self.duration:
            notes.append(f"REFERENCE output on {self.model} is fixed at {self.effective_duration} s.")
        if self.effective_aspect_ratio != self.aspect_ratio:
            notes.append(f"REFERENCE mode is 16:9 only; aspect_ratio 'auto' is sent as {self.effective_aspect_ratio}.")
        return notes

    def to_api_payload(self) -> dict[str, Any]:
        """The exact JSON body to send: every default made explicit, absent optionals left out."""
        payload: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "aspect_ratio": self.effective_aspect_ratio,
            "generation_type": self.resolved_generation_type,
            "enhance_prompt": self.enhance_prompt,
            "quality": self.quality,
            "duration": self.effective_duration,
            "generate_audio": self.generate_audio,
            "n": self.n,
            "person_generation": self.person_generation,
        }
        if self.image_urls:
            payload["image_urls"] = list(self.image_urls)
            payload["resize_mode"] = self.resize_mode
        for optional in ("callback_url", "negative_prompt", "seed"):
            value = getattr(self, optional)
            if value is not None:
                payload[optional] = value
        return payload


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "…" + text[-4:]


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name or "request"


def describe_validation_error(error: ValidationError) -> tuple[FieldIssue, ...]:
    """One sentence per refused field: `field: value is not allowed; what is allowed.`"""
    issues: list[FieldIssue] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        field = _field_name(loc)
        top = str(loc[0]) if loc else "request"
        value = item.get("input")
        kind = item["type"]
        if kind == _CUSTOM:
            sentence = item["msg"]
            field = str(item.get("ctx", {}).get("field", field))
        elif kind == "missing":
            sentence = f"{field} is required; {ALLOWED.get(top, 'give a value')}."
        elif kind == "extra_forbidden":
            close = catalog.closest_field(top, list(ALLOWED))
            hint = f" Did you mean {close!r}?" if close else ""
            sentence = (
                f"{field} is not a parameter of this API (value {_short(value)}); the parameters are "
                f"{', '.join(ALLOWED)}.{hint}"
            )
        elif kind == "model_type":
            field = "request"
            sentence = f"the request must be a JSON object of parameters, not {_short(value)}."
        else:
            sentence = f"{field}: {_short(value)} is not allowed; {ALLOWED.get(top, item['msg'])}."
        issues.append(FieldIssue(field=field, value=value, sentence=sentence))
    return tuple(issues)


def parse_video_request(data: Mapping[str, Any] | Any, *, uploaded_image_urls: Iterable[str] = ()) -> VideoRequest:
    """Validate raw parameters (e.g. a JSON body) into a `VideoRequest`, or raise `InvalidRequestError`.

    `uploaded_image_urls` are links EvoLink's file service returned for our own uploads: they are not checked as
    user URLs are.
    """
    try:
        return VideoRequest.model_validate(data, context={"trusted_image_urls": frozenset(uploaded_image_urls)})
    except ValidationError as error:
        raise InvalidRequestError.from_issues(describe_validation_error(error)) from None


# --- responses ------------------------------------------------------------------------------------------------


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow")


class TaskInfo(_Tolerant):
    can_cancel: bool | None = None
    estimated_time: float | None = None
    video_duration: float | None = None


class Usage(_Tolerant):
    billing_rule: str | None = None
    credits_reserved: float | None = None
    user_group: str | None = None


class TaskError(_Tolerant):
    code: str | None = None
    message: str | None = None
    type: str | None = None


class Task(_Tolerant):
    """The task object of create and `GET /v1/tasks/{id}`; tolerant of missing and extra fields."""

    id: str
    object: str | None = None
    created: int | None = None
    model: str | None = None
    status: str = "pending"
    progress: int = 0
    type: str | None = None
    results: list[str] = Field(default_factory=list)
    task_info: TaskInfo | None = None
    usage: Usage | None = None
    error: TaskError | None = None

    @field_validator("progress", mode="before")
    @classmethod
    def _clamp_progress(cls, value: Any) -> int:
        try:
            number = int(float(value))
        except (TypeError, ValueError):
            return 0
        return max(0, min(100, number))

    @field_validator("results", mode="before")
    @classmethod
    def _results_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def finished(self) -> bool:
        return self.status in catalog.FINISHED_STATUSES

    @property
    def estimated_time(self) -> float | None:
        return self.task_info.estimated_time if self.task_info else None


class ErrorDetail(_Tolerant):
    code: int | str | None = None
    message: str = ""
    type: str | None = None
    param: str | None = None
    fallback_suggestion: str | None = None


class UploadedFile(_Tolerant):
    """`data` of a successful file-service upload (API doc §7)."""

    file_id: str
    file_name: str | None = None
    original_name: str | None = None
    file_size: int | None = None
    mime_type: str | None = None
    upload_path: str | None = None
    file_url: str
    download_url: str | None = None
    upload_time: str | None = None
    expires_at: str | None = None


class UploadAnswer(_Tolerant):
    """The file service's envelope: `{"success", "code", "msg", "data"}`."""

    success: bool
    code: int | None = None
    msg: str | None = None
    data: UploadedFile | None = None


class ErrorBody(_Tolerant):
    """`{"error": {...}}`: the body of every non-2xx API answer."""

    error: ErrorDetail
