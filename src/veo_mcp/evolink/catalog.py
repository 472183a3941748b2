"""Everything we know - and everything we assume - about EvoLink's Veo 3.1 API, in one place.

The product page (shared/seed) and `shared/api/evolink-veo31.md` are the sources. Every value the page does not state
is marked ASSUMED here and nowhere else, so a correction is one edit in this module.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, get_args

if TYPE_CHECKING:
    from veo_mcp.evolink.schemas import VideoRequest

# --- endpoints -----------------------------------------------------------------------------------------------

DEFAULT_BASE_URL: Final = "https://api.evolink.ai"
DEFAULT_FILES_BASE_URL: Final = "https://files-api.evolink.ai"
CREATE_PATH: Final = "/v1/videos/generations"
TASK_PATH: Final = "/v1/tasks/{task_id}"
# ASSUMED: task ids use letters, digits, '-' and '_' only (the page shows "task-unified-1756817821-4x3rx6ny"). Anything
# else is refused before it can reach a URL path ("..?x=1" must never become "GET /v1?x=1").
TASK_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
# How many redirects a result link may take before the download gives up (each hop is checked like the first).
MAX_RESULT_REDIRECTS: Final = 5
# The embedded simulator's address inside this process (no network: its transport routes to it in memory). A
# loopback port nothing listens on, so that even a client built without that transport sends the key nowhere.
SIM_IN_PROCESS_BASE_URL: Final = "http://127.0.0.1:1"
# The file service (API doc §7), on its own base URL.
UPLOAD_STREAM_PATH: Final = "/api/v1/files/upload/stream"
UPLOAD_BASE64_PATH: Final = "/api/v1/files/upload/base64"
UPLOAD_TTL_S: Final = 72 * 3600
# Image types the video API takes by URL (the file service also takes GIF, the video API does not).
IMAGE_MIME_TYPES: Final = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
# ASSUMED: a failed upload answers with HTTP status equal to its body's `code`; quota exhaustion says "quota" in
# `msg`; an unsupported type uses code 415.
UPLOAD_QUOTA_WORD: Final = "quota"
UPLOAD_UNSUPPORTED_TYPE_CODE: Final = 415
# How long an uploaded URL must still be valid for us to reuse it instead of uploading again: long enough for
# EvoLink to fetch it while the generation is pending.
UPLOAD_REUSE_MARGIN_S: Final = 3600

# --- enumerations (the API's exact words) --------------------------------------------------------------------

ModelId = Literal["veo-3.1-fast-generate-preview", "veo3.1-fast", "veo3.1-pro"]
AspectRatio = Literal["auto", "16:9", "9:16"]
GenerationType = Literal["TEXT", "FIRST&LAST", "REFERENCE"]
Quality = Literal["720p", "1080p", "4k"]
Duration = Literal[4, 6, 8]
PersonGeneration = Literal["allow_adult", "dont_allow"]
ResizeMode = Literal["pad", "crop"]
TaskStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]

MODEL_IDS: Final[tuple[ModelId, ...]] = get_args(ModelId)
ASPECT_RATIOS: Final[tuple[AspectRatio, ...]] = get_args(AspectRatio)
GENERATION_TYPES: Final[tuple[GenerationType, ...]] = get_args(GenerationType)
QUALITIES: Final[tuple[Quality, ...]] = get_args(Quality)
DURATIONS: Final[tuple[Duration, ...]] = get_args(Duration)
PERSON_GENERATION: Final[tuple[PersonGeneration, ...]] = get_args(PersonGeneration)
RESIZE_MODES: Final[tuple[ResizeMode, ...]] = get_args(ResizeMode)
TASK_STATUSES: Final[tuple[TaskStatus, ...]] = get_args(TaskStatus)
FINISHED_STATUSES: Final[frozenset[str]] = frozenset({"completed", "failed", "cancelled"})

# --- request defaults and limits (documented) ----------------------------------------------------------------

DEFAULT_MODEL: Final[ModelId] = "veo-3.1-fast-generate-preview"
DEFAULT_ASPECT_RATIO: Final[AspectRatio] = "auto"
DEFAULT_QUALITY: Final[Quality] = "720p"
DEFAULT_DURATION: Final[Duration] = 4
DEFAULT_GENERATE_AUDIO: Final = True
DEFAULT_ENHANCE_PROMPT: Final = True
DEFAULT_N: Final = 1
DEFAULT_PERSON_GENERATION: Final[PersonGeneration] = "allow_adult"
DEFAULT_RESIZE_MODE: Final[ResizeMode] = "pad"
MIN_N: Final = 1
MAX_N: Final = 4
MIN_SEED: Final = 1
MAX_SEED: Final = 4_294_967_295
MAX_PROMPT_TOKENS: Final = 2000
MAX_CALLBACK_URL_CHARS: Final = 2048
MAX_IMAGE_BYTES: Final = 10 * 1024 * 1024
IMAGE_EXTENSIONS: Final = (".jpg", ".jpeg", ".png", ".webp")
RESULT_LINK_TTL_S: Final = 24 * 3600
# ASSUMED: no render takes longer than this (the page gives only each task's own estimate). A create whose outcome is
# unknown may be a task rendering upstream: it counts against the account's concurrency for this long.
LONGEST_RENDER_S: Final = 900.0
USD_PER_CREDIT: Final = 1 / 72
# ASSUMED: the page gives no file sizes. Generous bytes per second of video, used to refuse a request before it is
# paid for when the output folder's disk cannot hold its videos (Veo's MP4s are H.264 at a few Mbit/s; 4k more).
VIDEO_BYTES_PER_SECOND: Final[dict[Quality, int]] = {"720p": 1_500_000, "1080p": 3_000_000, "4k": 10_000_000}

# ASSUMED: the page gives no tokenizer. We over-count so that we never send a prompt the API refuses:
# one token per 3 ASCII characters (English averages ~4) and one token per other character (CJK is ~1 per char).
PROMPT_ASCII_CHARS_PER_TOKEN: Final = 3

# ASSUMED: the page gives no body-size limit; 413 is documented, so the simulator refuses bodies above this.
MAX_REQUEST_BODY_BYTES: Final = 1024 * 1024

# ASSUMED: hostnames that are internal by definition (RFC 6761/6762 and common private suffixes). Literal IPs are
# judged by the `ipaddress` module (loopback, private, link-local, reserved, multicast, unspecified).
INTERNAL_HOST_SUFFIXES: Final = (".localhost", ".local", ".internal", ".lan", ".home.arpa")
INTERNAL_HOSTNAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

# --- failure codes of a task (documented) --------------------------------------------------------------------

TASK_ERROR_CODES: Final = (
    "content_policy_violation",
    "invalid_parameters",
    "image_dimension_mismatch",
    "image_processing_error",
    "request_cancelled",
    "resource_not_found",
    "generation_timeout",
    "quota_exceeded",
    "resource_exhausted",
    "generation_failed_no_content",
    "service_error",
    "service_unavailable",
    "unknown_error",
)
RETRYABLE_TASK_ERROR_CODES: Final = frozenset(
    {
        "generation_timeout",
        "quota_exceeded",
        "resource_exhausted",
        "generation_failed_no_content",
        "service_error",
        "service_unavailable",
        "unknown_error",
    }
)
TASK_ERROR_ADVICE: Final[dict[str, str]] = {
    "content_policy_violation": "The prompt or image was refused by the content policy; rephrase the prompt "
    "(avoid real people, brands, violence) or use another image, then create a new generation.",
    "invalid_parameters": "Upstream refused the parameters; check them against list_models and create a new "
    "generation.",
    "image_dimension_mismatch": "The images do not fit the requested aspect ratio; use images of the same shape "
    "as the aspect ratio, or set resize_mode to 'pad' or 'crop'.",
    "image_processing_error": "An input image could not be processed; use a valid JPEG, PNG or WebP under 10 MB "
    "at a public URL.",
    "request_cancelled": "The generation was cancelled; create a new one if you still want it.",
    "resource_not_found": "An input image URL could not be fetched; make sure it is public and still valid.",
    "generation_timeout": "The generation timed out upstream; it was not billed. Try again.",
    "quota_exceeded": "Upstream capacity quota was exceeded; it was not billed. Wait a few minutes and try again.",
    "resource_exhausted": "Upstream is out of capacity; it was not billed. Wait a few minutes and try again.",
    "generation_failed_no_content": "The model produced no video; it was not billed. Try again, perhaps with a "
    "reworded prompt.",
    "service_error": "Upstream had an internal error; it was not billed. Try again.",
    "service_unavailable": "Upstream is unavailable; it was not billed. Try again in a few minutes.",
    "unknown_error": "The generation failed for an unknown reason; it was not billed. Try again.",
}


def advice_for_task_error(code: str | None) -> str:
    """What the user should do about a failed task, even for a code we have never seen."""
    if code and code in TASK_ERROR_ADVICE:
        return TASK_ERROR_ADVICE[code]
    return "The generation failed; it was not billed. Check the error message and try again."


# --- per-model capabilities and prices ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Price:
    """USD per second of video, per video."""

    standard_no_audio: float  # 720p and 1080p
    standard_audio: float
    uhd_no_audio: float  # 4k
    uhd_audio: float

    def per_second(self, quality: Quality, generate_audio: bool) -> float:
        if quality == "4k":
            return self.uhd_audio if generate_audio else self.uhd_no_audio
        return self.standard_audio if generate_audio else self.standard_no_audio


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    id: ModelId
    title: str
    description: str
    generation_types: tuple[GenerationType, ...]
    durations: tuple[Duration, ...]
    qualities: tuple[Quality, ...]
    aspect_ratios: tuple[AspectRatio, ...]
    max_images: dict[GenerationType, int]
    min_images: dict[GenerationType, int]
    # aspect ratios allowed in REFERENCE mode; ASSUMED: the page says REFERENCE "is limited to 16:9"
    reference_aspect_ratios: tuple[AspectRatio, ...]
    # duration REFERENCE output is fixed at, if any; None means any of `durations`
    reference_fixed_duration: Duration | None
    supports_audio: bool
    price: Price | None  # None: not published (estimated with UNPUBLISHED_PRICE_CEILING, said so)
    assumed: tuple[str, ...]  # what in this entry is our reading, not the page's words


VEO_31_FAST_PRICE: Final = Price(standard_no_audio=0.08, standard_audio=0.12, uhd_no_audio=0.24, uhd_audio=0.2808)

# ASSUMED: EvoLink publishes no price for its Lite endpoints (veo3.1-fast, veo3.1-pro). Their cost is estimated with
# a ceiling: the highest published Veo 3.1 price we could source, Google's own list price for Veo 3.1 Standard at 4K
# with audio ($0.60 per second, $4.80 for 8 s; Gemini API / Vertex AI, checked 2026-12). EvoLink resells Veo below
# Google's list prices (its Fast price is under Google's), so budgets and confirmations that count this ceiling hold;
# once a task is created, what EvoLink reserved (`usage.credits_reserved`) is what the budgets count.
UNPUBLISHED_PRICE_CEILING: Final = Price(standard_no_audio=0.60, standard_audio=0.60, uhd_no_audio=0.60, uhd_audio=0.60)
UNPUBLISHED_PRICE_SOURCE: Final = "the highest published Veo 3.1 price (Google's Veo 3.1 Standard at 4K, $0.60/s)"

_IMAGE_MODES_MIN: Final[dict[GenerationType, int]] = {"TEXT": 0, "FIRST&LAST": 1, "REFERENCE": 1}

MODELS: Final[dict[ModelId, ModelCapabilities]] = {
    "veo-3.1-fast-generate-preview": ModelCapabilities(
        id="veo-3.1-fast-generate-preview",
        title="Veo 3.1 Fast (preview)",
        description="The documented preview endpoint: text-to-video, first/last-frame and reference images, "
        "audio, negative prompt, person and resize controls. REFERENCE output is fixed at 8 s.",
        generation_types=("TEXT", "FIRST&LAST", "REFERENCE"),
        durations=DURATIONS,
        qualities=QUALITIES,
        aspect_ratios=ASPECT_RATIOS,
        max_images={"TEXT": 0, "FIRST&LAST": 2, "REFERENCE": 3},
        min_images=_IMAGE_MODES_MIN,
        reference_aspect_ratios=("auto", "16:9"),
        reference_fixed_duration=8,
        supports_audio=True,
        price=VEO_31_FAST_PRICE,
        assumed=(
            "REFERENCE mode is 16:9 only ('auto' is sent as 16:9)",
            "REFERENCE takes 1-3 images",
        ),
    ),
    "veo3.1-fast": ModelCapabilities(
        id="veo3.1-fast",
        title="Veo 3.1 Fast (Lite endpoint, beta)",
        description="The 'Fast' Lite endpoint: same request shape; REFERENCE mode with up to 3 images, 16:9 only. "
        "Price not published.",
        generation_types=("TEXT", "FIRST&LAST", "REFERENCE"),
        durations=DURATIONS,
        qualities=QUALITIES,
        aspect_ratios=ASPECT_RATIOS,
        max_images={"TEXT": 0, "FIRST&LAST": 2, "REFERENCE": 3},
        min_images=_IMAGE_MODES_MIN,
        reference_aspect_ratios=("auto", "16:9"),
        reference_fixed_duration=None,
        supports_audio=True,
        price=None,
        assumed=(
            "same request shape and options as the preview endpoint",
            "generate_audio is honoured",
            "REFERENCE is 16:9 only ('auto' is sent as 16:9)",
        ),
    ),
    "veo3.1-pro": ModelCapabilities(
        id="veo3.1-pro",
        title="Veo 3.1 Pro (Lite endpoint, beta)",
        description="The 'Pro' Lite endpoint: text-to-video and first/last-frame. Price not published.",
        generation_types=("TEXT", "FIRST&LAST"),
        durations=DURATIONS,
        qualities=QUALITIES,
        aspect_ratios=ASPECT_RATIOS,
        max_images={"TEXT": 0, "FIRST&LAST": 2, "REFERENCE": 0},
        min_images=_IMAGE_MODES_MIN,
        reference_aspect_ratios=(),
        reference_fixed_duration=None,
        supports_audio=True,
        price=None,
        assumed=(
            "same request shape and options as the preview endpoint",
            "no REFERENCE mode (the page offers it only on the Fast and preview endpoints)",
        ),
    ),
}


# ASSUMED: with no generation_type, 0 images means TEXT, 1-2 FIRST&LAST (documented) and 3 REFERENCE (the only
# mode that takes three).
def default_generation_type(image_count: int) -> GenerationType:
    if image_count == 0:
        return "TEXT"
    if image_count <= 2:
        return "FIRST&LAST"
    return "REFERENCE"


def usd_to_credits(usd: float) -> float:
    return round(usd / USD_PER_CREDIT, 4)


# --- what the simulator charges for the models whose price is not published (ASSUMED: below the ceiling above,
# like a reseller's price; the simulator reports it as `usage.credits_reserved`, as EvoLink does) -------------------
SIM_UNPUBLISHED_PRICES: Final[dict[ModelId, Price]] = {
    "veo3.1-fast": VEO_31_FAST_PRICE,
    "veo3.1-pro": Price(standard_no_audio=0.16, standard_audio=0.24, uhd_no_audio=0.40, uhd_audio=0.48),
}

# --- simulator timing (ASSUMED from observed behaviour of comparable services) ---------------------------------

# An 8 s 720p clip takes roughly 60-90 s; shorter clips are quicker, higher quality and more videos slower.
SIM_BASE_SECONDS_PER_VIDEO_SECOND: Final = 9.4
SIM_QUALITY_FACTOR: Final[dict[Quality, float]] = {"720p": 1.0, "1080p": 1.3, "4k": 2.2}
SIM_EXTRA_VIDEO_FACTOR: Final = 0.35  # each video beyond the first adds 35 %
SIM_PENDING_FRACTION: Final = 0.05  # share of the run spent queued
SIM_IMAGE_FETCH_TIMEOUT_S: Final = 5.0  # how long EvoLink's fetch of an input image may take before the task fails


def expected_video_bytes(request: VideoRequest) -> int:
    """A generous size of the videos `request` makes (see VIDEO_BYTES_PER_SECOND)."""
    return VIDEO_BYTES_PER_SECOND[request.quality] * request.effective_duration * request.n


# What people (and models) often call the request's fields, for "did you mean" when an argument is unknown: words
# that are not spelled like the field, so closeness of spelling would not find them.
FIELD_SYNONYMS: Final[dict[str, str]] = {
    "resolution": "quality",
    "res": "quality",
    "size": "quality",
    "ratio": "aspect_ratio",
    "aspect": "aspect_ratio",
    "orientation": "aspect_ratio",
    "length": "duration",
    "seconds": "duration",
    "audio": "generate_audio",
    "sound": "generate_audio",
    "count": "n",
    "num_videos": "n",
    "number_of_videos": "n",
    "images": "image_urls",
    "image": "image_urls",
    "image_url": "image_urls",
    "negative": "negative_prompt",
    "mode": "generation_type",
    "webhook": "callback_url",
}


def closest_field(name: str, declared: Sequence[str]) -> str | None:
    """The declared field `name` most likely means: a known synonym, else the closest spelling (or None)."""
    folded = name.strip().casefold().replace("-", "_").replace(" ", "_")
    synonym = FIELD_SYNONYMS.get(folded)
    if synonym in declared:
        return synonym
    close = difflib.get_close_matches(folded, list(declared), n=1)
    return close[0] if close else None
