"""The generate pipeline: validate → addresses → reuse → guards → confirm → upload → record → send.

`plan` runs every check that needs no answer from anybody and says whether the user must confirm the cost; the MCP
layer asks (on any protocol era) and hands the answer to `generate`, which plans again (nothing is trusted from the
first round), then uploads local images, records the create and sends it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from veo_mcp.background.callbacks import CallbackHub, IssuedCallback
from veo_mcp.context import current_principal
from veo_mcp.core.generation import Generation
from veo_mcp.core.registry import Registry
from veo_mcp.evolink import VideoRequest, catalog, estimate_cost, parse_video_request
from veo_mcp.evolink.addresses import Resolver, resolved_internal_reason
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.evolink.errors import InvalidRequestError
from veo_mcp.evolink.schemas import Task
from veo_mcp.local.files import check_output_folder
from veo_mcp.local.images import LocalImage
from veo_mcp.local.uploads import ImageUploads
from veo_mcp.money import guards
from veo_mcp.money.ledger import CreateLedger, ReuseReason
from veo_mcp.settings import Settings
from veo_mcp.storage import CreateRecord

if TYPE_CHECKING:
    from veo_mcp.evolink.client import EvoLinkClient

# What the user said about the cost: yes, no, closed the question without answering (not a lasting "no": the next
# call asks again), or nothing because nobody could ask them (then `confirm_cost` counts).
Consent = Literal["given", "declined", "dismissed", "unasked"]


@dataclass(frozen=True, slots=True)
class GenerateOutcome:
    generation: Generation
    # Why no new create was sent: the same request_id was used before, or an identical request is recent.
    reused: ReuseReason | None = None
    # Something went wrong locally after EvoLink accepted the create (the task exists all the same).
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked request: what it costs, and either the earlier create that answers it or the cost question."""

    request: VideoRequest
    payload: dict[str, Any]
    fingerprint: str
    estimate: CostEstimate
    earlier: tuple[CreateRecord, ReuseReason] | None
    question: str | None


class GeneratePipeline:
    def __init__(
        self,
        *,
        settings: Settings,
        ledger: CreateLedger,
        registry: Registry,
        uploads: ImageUploads,
        client: Callable[[], EvoLinkClient],
        resolver: Resolver,
        simulated: bool,
        callbacks: CallbackHub,
        output_folder: Callable[[], Path] | None = None,
    ) -> None:
        self._callbacks = callbacks
        self._output_folder = output_folder
        self._settings = settings
        self._ledger = ledger
        self._registry = registry
        self._uploads = uploads
        self._client = client
        self._resolver = resolver
        self._simulated = simulated

    async def plan(
        self, request: VideoRequest, *, request_id: str | None, allow_duplicate: bool, local_images: bool
    ) -> Plan:
        """Every check that needs nobody's answer; raises the refusal (limits, addresses) when one fails."""
        payload = request.to_api_payload()
        fingerprint = guards.fingerprint(payload)
        estimate = estimate_cost(request)
        earlier = await self._earlier(request_id, fingerprint, allow_duplicate)
        if earlier is None:
            if not local_images:
                await self.check_addresses(request)
            guards.check_request_limit(self._ledger.settings(), estimate)
            await self._ledger.check_spending(estimate)
            await self._ledger.check_not_declined(fingerprint, estimate)
            self.check_output([request])
        question = (
            guards.confirmation_question(self._ledger.settings(), estimate)
            if earlier is None and guards.needs_confirmation(self._ledger.settings(), estimate)
            else None
        )
        return Plan(request, payload, fingerprint, estimate, earlier, question)

    def check_output(self, requests: list[VideoRequest]) -> None:
        """Refuse before anything is sent when the videos could not be saved: the folder they go to (the caller's)
        cannot be written, or its disk lacks room for them. Only when veo-mcp saves videos by itself."""
        if self._output_folder is None:
            return
        bytes_per_video = 256_000  # the simulator's test patterns are small
        needed = sum(
            bytes_per_video if self._simulated else catalog.expected_video_bytes(request) for request in requests
        )
        check_output_folder(self._output_folder(), needed)

    async def _earlier(
        self, request_id: str | None, fingerprint: str, allow_duplicate: bool
    ) -> tuple[CreateRecord, ReuseReason] | None:
        if (record := await self._ledger.for_request(request_id)) is not None:
            return record, "request_id"
        if (duplicate := await self._ledger.recent_duplicate(fingerprint, allow_duplicate)) is not None:
            return duplicate, "duplicate"
        return None

    async def generate(
        self,
        request: VideoRequest,
        *,
        request_id: str | None = None,
        allow_duplicate: bool = False,
        consent: Consent = "unasked",
        confirm_cost: bool = False,
        images: list[LocalImage] | None = None,
    ) -> GenerateOutcome:
        """Create a generation unless an earlier one answers this request (see the module docstring).

        With `images` (local files, already inspected), `request` carries placeholder URLs; the files are uploaded
        only once every check has passed and the cost is confirmed, and the real URLs replace the placeholders.
        """
        plan = await self.plan(
            request, request_id=request_id, allow_duplicate=allow_duplicate, local_images=bool(images)
        )
        if plan.earlier is not None:
            return await self._earlier_outcome(*plan.earlier)
        if plan.question is not None:
            if consent == "declined":
                await self._ledger.record_decline(plan.fingerprint)
            _require_consent(self._ledger.settings(), plan, consent, confirm_cost)
        request, payload, notes = await self.uploaded(request, plan.payload, images)
        callback = self._callbacks.issue() if request.callback_url is None else None
        record, reused = await self._ledger.begin(
            request_id=request_id,
            fingerprint=plan.fingerprint,
            allow_duplicate=allow_duplicate,
            model=request.model,
            prompt=request.prompt,
            payload=payload,
            estimate=plan.estimate,
            callback_hash=callback.hash if callback else None,
        )
        if reused is not None:
            return await self._earlier_outcome(record, reused)
        # Our callback URL is not the caller's request: it stays out of the fingerprint and the recorded payload.
        sent = request if callback is None else request.model_copy(update={"callback_url": callback.url})
        task = await self._ledger.send(record, lambda watch: self._client().create_generation(sent, watch))
        return await self._accepted(task, request, payload, plan, notes, request_id, record, callback)

    async def _accepted(
        self,
        task: Task,
        request: VideoRequest,
        payload: dict[str, Any],
        plan: Plan,
        notes: list[str],
        request_id: str | None,
        record: CreateRecord,
        callback: IssuedCallback | None,
    ) -> GenerateOutcome:
        """EvoLink made the task: it is recorded and followed, whoever stopped waiting for the answer (shielded from
        the first statement on, before anything can suspend)."""
        with anyio.CancelScope(shield=True):
            generation = Generation(
                task_id=task.id,
                model=request.model,
                prompt=request.prompt,
                request=payload,
                simulated=self._simulated,
                estimate=plan.estimate,
                notes=notes,
                request_id=request_id,
                fingerprint=plan.fingerprint,
                owner=current_principal(),
            )
            generation.apply(task)
            if (warning := await self._ledger.accept(record, generation)) is not None:
                generation.notes.insert(0, warning)
            if callback is not None:
                self._callbacks.expect(task.id)
            await self._registry.add(generation)
        return GenerateOutcome(generation, warning=warning)

    async def uploaded(
        self, request: VideoRequest, payload: dict[str, Any], images: list[LocalImage] | None
    ) -> tuple[VideoRequest, dict[str, Any], list[str]]:
        """The request with its local images uploaded (their real URLs replace the placeholders), and its notes."""
        notes = list(request.notes)
        if not images:
            return request, payload, notes
        urls, upload_notes = await self._uploads.file_urls(images)
        request = parse_video_request({**payload, "image_urls": urls}, uploaded_image_urls=urls)
        return request, request.to_api_payload(), notes + upload_notes

    async def _earlier_outcome(self, record: CreateRecord, reason: ReuseReason) -> GenerateOutcome:
        """The answer for a request an earlier create already covers; never sends anything."""
        task_id = await self._ledger.settled(record, reason)
        return GenerateOutcome(await self._registry.get(task_id), reason)

    async def check_addresses(self, request: VideoRequest) -> None:
        """Refuse image and callback hosts that resolve into a private network (the lexical rules ran already)."""
        checks = [("image_urls", url) for url in request.image_urls or ()]
        if request.callback_url:
            checks.append(("callback_url", request.callback_url))
        for field, url in checks:
            reason = await resolved_internal_reason(url, self._resolver)
            if reason is not None:
                raise InvalidRequestError(
                    f"{field}: {url!r} cannot be used: EvoLink's servers cannot reach it ({reason}).",
                    field=field,
                    advice="Use a public address; nothing was sent or charged.",
                )


def _require_consent(settings: Settings, plan: Plan, consent: Consent, confirm_cost: bool) -> None:
    """Above the threshold: the user's own answer decides; `confirm_cost` counts only when nobody could ask."""
    if consent == "given":
        return
    if consent == "declined":
        raise guards.declined(plan.estimate)
    if consent == "dismissed":
        raise guards.dismissed(plan.estimate)
    if not confirm_cost:
        raise guards.confirmation_required(settings, plan.estimate)
