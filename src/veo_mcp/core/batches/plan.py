"""A batch before anything is sent: its items, checked one by one, and what identifies them.

Items come either as a list of `generate_video` argument objects or as a prompt with variants (a map from argument
name to a list of values; the batch is their cartesian product, in the order the variants are given). Shared defaults
apply to every item; an item's own values win. Every item is checked before anything is sent, and every refusal
names the item (and the field). `request_id`s are derived per item, so a retried batch never pays twice: with the
caller's `request_id` from it and the item's request (an unchanged item of an edited batch keeps its id); without one,
from the batch's own id.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from veo_mcp.context import LOCAL_PRINCIPAL, current_principal
from veo_mcp.errors import VeoError
from veo_mcp.evolink import InvalidRequestError, VideoRequest, catalog, estimate_cost, parse_video_request
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.local.images import LocalImage
from veo_mcp.money import guards

MAX_ITEMS = 50
SHOWN_PROBLEMS = 10
# What one item may set: the API's request fields and local image files. request_id, confirm_cost and
# allow_duplicate belong to the whole batch.
ITEM_FIELDS: tuple[str, ...] = (*VideoRequest.model_fields, "image_files")
BATCH_ONLY = ("request_id", "confirm_cost", "allow_duplicate")


class BatchError(VeoError):
    """The batch as given cannot be queued; nothing was sent."""

    default_advice = "Nothing was sent or charged: correct that and call generate_batch again."
    action = "fix_request"


def refused_item(index: int, error: VeoError) -> VeoError:
    """`error` (a money rule, say) as the refusal of item `index`, keeping its kind and advice."""
    refused = VeoError(f"items[{index}]: {error.message}", advice=error.advice)
    refused.action = error.action
    return refused


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """One item's arguments, checked into a request; `images` are the local files behind placeholder URLs."""

    index: int
    arguments: dict[str, Any]
    request: VideoRequest
    images: list[LocalImage] | None = None
    notes: tuple[str, ...] = ()  # how its arguments were read (normalisations), to report


@dataclass(frozen=True, slots=True)
class PlannedItem:
    item: PreparedItem
    payload: dict[str, Any]
    fingerprint: str
    estimate: CostEstimate
    request_id: str


def item_label(index: int, arguments: Mapping[str, Any], varied: Sequence[str] = ()) -> str:
    shown = ", ".join(f"{name} {arguments[name]!r}" for name in varied if name in arguments)
    return f"items[{index}]" + (f" ({shown})" if shown else "")


def item_arguments(
    *,
    items: Sequence[Mapping[str, Any]] | None,
    prompt: str | None,
    variants: Mapping[str, Sequence[Any]] | None,
    defaults: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Each item's arguments: the shared defaults with the item's own values over them."""
    if (items is None) == (prompt is None):
        raise BatchError("Give either items (a list of generate_video argument objects) or prompt with variants.")
    if items is not None:
        if variants:
            raise BatchError("variants go with prompt, not with items: give each item its own values instead.")
        listed = [dict(item) for item in items]
    else:
        if not variants:
            raise BatchError(
                'variants is missing: a batch from one prompt needs variants, e.g. {"aspect_ratio": ["16:9", '
                '"9:16"], "duration": [4, 6, 8]} (6 items). For a single video use generate_video.'
            )
        listed = _product(str(prompt), variants)
    if not listed:
        raise BatchError("The batch has no items.")
    if len(listed) > MAX_ITEMS:
        raise BatchError(f"The batch has {len(listed)} items; at most {MAX_ITEMS} are allowed per batch.")
    return [{**defaults, **item} for item in listed]


def _product(prompt: str, variants: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    for name, values in variants.items():
        _check_field(name, "variants")
        if not isinstance(values, list | tuple) or not values:
            raise BatchError(f"variants.{name} must be a non-empty list of values, e.g. [4, 8].")
    count = 1
    for values in variants.values():
        count *= len(values)
    if count > MAX_ITEMS:
        raise BatchError(f"The variants make {count} items; at most {MAX_ITEMS} are allowed per batch.")
    names = list(variants)
    return [
        {"prompt": prompt, **dict(zip(names, combination, strict=True))}
        for combination in itertools.product(*(variants[name] for name in names))
    ]


def _check_field(name: str, where: str) -> None:
    if name in ITEM_FIELDS:
        return
    if name in BATCH_ONLY:
        raise BatchError(f"{where}: {name} is set once for the whole batch, as an argument of generate_batch.")
    close = catalog.closest_field(name, ITEM_FIELDS)
    hint = f" Did you mean '{close}'?" if close else ""
    raise BatchError(f"{where}: '{name}' is not a generate_video argument.{hint}")


def unknown_field(arguments: Mapping[str, Any], label: str) -> str | None:
    """The refusal for the first argument of an item that is not a generate_video argument, or None."""
    try:
        for name in arguments:
            _check_field(name, label)
    except BatchError as error:
        return error.message
    return None


def item_request(arguments: Mapping[str, Any], label: str, own_image_urls: Sequence[str] = ()) -> VideoRequest:
    """An item's request (image files excluded: the caller turns them into URLs, `own_image_urls`, which are not
    judged as user URLs); refusals name the item."""
    explicit = {k: v for k, v in arguments.items() if k in VideoRequest.model_fields and v is not None}
    try:
        return parse_video_request(explicit, uploaded_image_urls=own_image_urls)
    except InvalidRequestError as error:
        raise InvalidRequestError(f"{label}: {error.message}", field=error.field, issues=error.issues) from None


def problems_text(problems: Sequence[str], total: int) -> str:
    """One refusal for every invalid item (the first few named), saying once that nothing was sent."""
    cleaned = [problem.strip().removesuffix("Nothing was sent.").strip().rstrip(".") for problem in problems]
    shown = "; ".join(cleaned[:SHOWN_PROBLEMS])
    more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    end = "" if (shown + more).endswith(("?", "!")) else "."
    return (
        f"{len(problems)} of {total} items cannot be sent: {shown}{more}{end} Nothing was sent or charged: fix "
        "those items and call generate_batch again."
    )


def batch_fingerprint(fingerprints: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(fingerprints)).encode()).hexdigest()


def batch_id_for(request_id: str | None, fingerprint: str) -> str:
    """A request_id names one batch per set of requests and principal; without one every call is a batch of its
    own. The local user's ids are what they always were; another principal's hash their name, the request_id and the
    fingerprint as one JSON list, so no characters in a request_id can make it another principal's (the store keys
    batches by principal too)."""
    if request_id is None:
        return f"batch-{uuid.uuid4().hex[:20]}"
    principal = current_principal()
    scoped = (
        f"{request_id}\n{fingerprint}"
        if principal == LOCAL_PRINCIPAL
        else json.dumps([principal, request_id, fingerprint])
    )
    return "batch-" + hashlib.sha256(scoped.encode()).hexdigest()[:20]


def planned_items(
    prepared: Sequence[PreparedItem], request_id: str | None, allow_duplicate: bool
) -> tuple[list[PlannedItem], str, str]:
    """Every item with its payload, fingerprint, estimate and derived request_id; the batch's fingerprint and id."""
    payloads = [item.request.to_api_payload() for item in prepared]
    fingerprints = [guards.fingerprint(payload) for payload in payloads]
    if not allow_duplicate:
        _refuse_identical(prepared, fingerprints)
    fingerprint = batch_fingerprint(fingerprints)
    batch_id = batch_id_for(request_id, fingerprint)
    seen: Counter[str] = Counter()
    planned = []
    for item, payload, item_fingerprint in zip(prepared, payloads, fingerprints, strict=True):
        occurrence = seen[item_fingerprint]
        seen[item_fingerprint] += 1
        derived = (
            f"{request_id}:{item_fingerprint[:24]}:{occurrence}"
            if request_id is not None
            else f"{batch_id}:{item.index}"
        )
        planned.append(PlannedItem(item, payload, item_fingerprint, estimate_cost(item.request), derived))
    return planned, fingerprint, batch_id


def _refuse_identical(prepared: Sequence[PreparedItem], fingerprints: Sequence[str]) -> None:
    first: dict[str, int] = {}
    for item, fingerprint in zip(prepared, fingerprints, strict=True):
        if fingerprint in first:
            raise BatchError(
                f"items[{first[fingerprint]}] and items[{item.index}] are the same request; the second would only return "
                "the first one's video. Nothing was sent.",
                advice="Change one of them (a different seed gives another take), or pass allow_duplicate: true "
                "to pay for both.",
            )
        first[fingerprint] = item.index
