"""The create ledger: a create is recorded before it is sent, and an ambiguous one is never sent again.

Why a module of its own: this is where money is at stake. Every create goes `begin` (a "sending" row, with the
daily budget checked inside the same write transaction) → `send` (accepted with its task id, forgotten when EvoLink
certainly refused it, or "outcome unknown" when nobody can tell) — and a later call that matches an earlier create
(same `request_id`, or an identical recent request) gets that create back through `settled`, never a second send.

Everything here is per principal (`veo_mcp.context.current_principal()`): a request_id, the duplicate guard and
every spending limit concern the caller's own creates, and a user of the users file may have a daily budget and a
confirmation threshold of their own (`settings()`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from veo_mcp.context import LOCAL_PRINCIPAL, current_principal
from veo_mcp.core.generation import Generation
from veo_mcp.errors import VeoError
from veo_mcp.evolink import catalog, parse_video_request
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.evolink.errors import EvoLinkError, OutcomeUnknownError, SendWatch, TemporaryError
from veo_mcp.evolink.schemas import Task
from veo_mcp.money import guards
from veo_mcp.settings import Settings
from veo_mcp.storage import CreateRecord, DatabaseWriteError, Earlier, Store
from veo_mcp.storage.owners import process_owner
from veo_mcp.users import UsersFile

ReuseReason = Earlier
# A task looked up by id answers an outcome-unknown create sent at most this long before upstream created it.
ADOPT_WINDOW_S = 900.0
ADOPT_CLOCK_SKEW_S = 60.0

logger = logging.getLogger(__name__)


class CreateLedger:
    def __init__(self, store: Store, settings: Settings, users: UsersFile | None = None) -> None:
        self._store = store
        self._base_settings = settings
        self._users = users
        # Accepted creates whose record could not be written yet (disk full): key → generation. Kept until written,
        # so a retry in this process still gets the task, and retried by `keep_recording`.
        self._unrecorded: dict[str, Generation] = {}

    @property
    def _settings(self) -> Settings:
        return self.settings()

    def settings(self) -> Settings:
        """The money settings as they apply to the current principal: a users-file user's own daily budget and
        confirmation threshold replace VEO_MCP_DAILY_BUDGET and VEO_MCP_CONFIRM_ABOVE."""
        user = None if self._users is None else self._users.user(current_principal())
        if user is None:
            return self._base_settings
        update: dict[str, float] = {}
        if user.daily_budget_usd is not None:
            update["daily_budget_usd"] = user.daily_budget_usd
        if user.confirm_threshold_usd is not None:
            update["confirm_above_usd"] = user.confirm_threshold_usd
        return self._base_settings.model_copy(update=update) if update else self._base_settings

    async def for_request(self, request_id: str | None) -> CreateRecord | None:
        if request_id is None:
            return None
        return await self._store.create_for_request(request_id, current_principal())

    def _duplicate_since(self, allow_duplicate: bool) -> float | None:
        window = self._settings.duplicate_window_s
        return None if allow_duplicate or window <= 0 else time.time() - window

    async def recent_duplicate(self, fingerprint: str, allow_duplicate: bool) -> CreateRecord | None:
        since = self._duplicate_since(allow_duplicate)
        return None if since is None else await self._store.recent_duplicate(fingerprint, since, current_principal())

    async def check_spending(self, estimate: CostEstimate) -> None:
        """The spending limits as they stand now (checked again inside the create's transaction)."""
        spending = await self._store.spending(guards.windows_at(time.time()), current_principal())
        guards.check_spending(self._settings, estimate, spending)

    async def unconfirmed(self) -> list[CreateRecord]:
        """The current principal's creates whose outcome is unknown (or that are being sent now), newest first."""
        return await self._store.unconfirmed_creates(current_principal())

    async def unresolved_creates(self) -> int:
        """How many creates (everyone's) may be rendering upstream without a task id known here: being sent now, or
        of unknown outcome and not old enough to have finished (`catalog.LONGEST_RENDER_S`). The account's
        concurrency counts them as running until they are resolved."""
        return await self._store.unresolved_create_count(time.time() - catalog.LONGEST_RENDER_S)

    async def record_decline(self, fingerprint: str) -> None:
        if self._settings.decline_window_s > 0:
            await self._store.record_decline(_declined_key(fingerprint))

    async def check_not_declined(self, fingerprint: str, estimate: CostEstimate) -> None:
        """Refuse a request the user declined within the decline window (without asking them again)."""
        window = self._settings.decline_window_s
        if window <= 0:
            return
        now = time.time()
        declined_at = await self._store.declined_since(_declined_key(fingerprint), now - window)
        if declined_at is not None:
            raise guards.still_declined(self._settings, estimate, declined_at, now)

    async def begin(
        self,
        *,
        request_id: str | None,
        fingerprint: str,
        allow_duplicate: bool,
        model: str,
        prompt: str,
        payload: dict[str, Any],
        estimate: CostEstimate,
        callback_hash: str | None = None,
    ) -> tuple[CreateRecord, ReuseReason | None]:
        """Record a create about to be sent; or the earlier create that covers it, with why.

        The request_id lookup, the duplicate guard and every spending limit are decided in the store's write
        transaction, together with the record itself: two processes sharing the data folder cannot both pass.
        """
        settings = self._settings
        return await self._store.begin_create(
            request_id=request_id,
            fingerprint=fingerprint,
            duplicate_since=self._duplicate_since(allow_duplicate),
            model=model,
            prompt=prompt,
            payload=payload,
            estimate_usd=estimate.usd,
            windows=guards.windows_at(time.time()),
            check=lambda spending: guards.check_spending(settings, estimate, spending),
            callback_hash=callback_hash,
            principal=current_principal(),
        )

    async def check_batch(self, total: CostEstimate) -> None:
        """The daily and hourly budgets for a whole batch, before any of it is sent."""
        spending = await self._store.spending(guards.windows_at(time.time()), current_principal())
        guards.check_batch_budgets(self._settings, total, spending)

    async def send(self, record: CreateRecord, send: Callable[[SendWatch], Awaitable[Task]]) -> Task:
        """Send the recorded create once; an unclear outcome is recorded as such and never resent.

        What became of the create is written whatever else happens (shielded). Interrupted (the caller went away,
        the server stops), it is "outcome unknown" if a request may have been on the wire (`SendWatch`), and
        forgotten - its request_id free again - if the sender says nothing was created."""
        store = self._store
        watch = SendWatch()
        try:
            return await send(watch)
        except OutcomeUnknownError as error:
            with anyio.CancelScope(shield=True):
                await store.mark_create_unknown(record.key, error.message)
            raise OutcomeUnknownError(
                f"{error.message} veo-mcp recorded it as 'outcome unknown' (the list of generations shows it) and "
                "will not send it again by itself.",
                sent=error.sent,
                status_code=error.status_code,
            ) from None
        except EvoLinkError:
            with anyio.CancelScope(shield=True):
                await store.forget_create(record.key)  # certainly refused or never delivered: nothing billed
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                if watch.in_doubt:
                    await store.mark_create_unknown(
                        record.key, "The create was interrupted while being sent; EvoLink may have accepted it."
                    )
                else:
                    await store.forget_create(record.key)  # stopped before sending, or after a definite "no"
            raise

    async def accept(self, record: CreateRecord, generation: Generation) -> str | None:
        """Record that EvoLink accepted the create, and what it reserved for it (`usage.credits_reserved`: the
        budgets count that, not our estimate). None when recorded; otherwise a warning for the caller, who must
        still get the task id: the task exists and is being paid for, whatever happened to our disk."""
        try:
            await self._store.accept_create(record.key, generation, reserved_usd(generation.last_task))
            return None
        except DatabaseWriteError as error:
            failure = error
        logger.error("accepted task %s could not be recorded: %s", generation.task_id, failure.message)
        try:
            await self._store.link_create(record.key, generation.task_id)
        except DatabaseWriteError:
            self._unrecorded[record.key] = generation
        return (
            f"Warning: EvoLink accepted task {generation.task_id}, but veo-mcp could not record it on disk "
            f"({failure.message}) It is tracked in memory and recorded as soon as the disk allows; keep the task id."
        )

    async def adopt(self, task: Task) -> CreateRecord | None:
        """The create of the current principal that `task` (looked up by id, not known here) answers, joined to it.

        Candidates are the creates whose answer was never recorded - of unknown outcome, or still "sending" because
        their sender died or could not write (its database was out of reach) - that could have made the task (see
        `could_have_made`). Joined only when exactly one could: from then on its request_id answers with this task.
        """
        if task.created is None:
            return None
        here = process_owner()
        candidates = [
            record
            for record in await self._store.unconfirmed_creates(current_principal())
            if record.task_id is None
            and could_have_made(record, task)
            and not (record.state == "sending" and record.owner == here)  # in flight here: its own answer tells
        ]
        if len(candidates) != 1:
            return None
        joined = await self.join(candidates[0], task)
        if joined is not None:
            logger.info("task %s answers the create sent at %s; linked", task.id, candidates[0].created_at)
        return joined

    async def join(self, record: CreateRecord, task: Task) -> CreateRecord | None:
        """Record that `record`'s create made `task` (its callback said so, or a read by id matched it); None when
        the create or the task was joined to another meanwhile."""
        self._unrecorded.pop(record.key, None)
        return await self._store.join_create(record.key, task.id)

    async def keep_recording(self, interval_s: float = 5.0) -> None:
        """Write the accepted creates that could not be recorded, until there are none (runs in the background)."""
        while True:
            await anyio.sleep(interval_s)
            for key, generation in list(self._unrecorded.items()):
                try:
                    await self._store.accept_create(key, generation, reserved_usd(generation.last_task))
                except DatabaseWriteError:
                    break
                del self._unrecorded[key]

    async def settled(self, record: CreateRecord, reason: ReuseReason) -> str:
        """The task id of an earlier create that covers this request, once it is no longer being sent.

        Raises `OutcomeUnknownError` when its outcome is unknown (it is not sent again) and `TemporaryError` when
        another live call is still sending it after the request timeout.
        """
        if (unrecorded := self._unrecorded.get(record.key)) is not None:
            return unrecorded.task_id
        deadline = time.monotonic() + self._settings.request_timeout_s + self._settings.connect_timeout_s
        while record.state == "sending":
            if not await self._store.owner_alive(record.owner):
                await self._store.recover_interrupted_creates()
            elif time.monotonic() > deadline:
                raise TemporaryError(
                    "An identical request is still being sent by another call; it will not be sent twice.",
                    advice="Call generate_video again in a few seconds with the same arguments to get its task_id.",
                )
            else:
                await anyio.sleep(0.1)
            record = await self._store.create_record(record.key) or record
        if record.state == "outcome_unknown":
            raise _unknown_outcome(record, reason)
        if record.task_id is None:  # pragma: no cover - an accepted record always has its task id
            raise TemporaryError("The earlier request has no task id recorded.")
        return record.task_id


def could_have_made(record: CreateRecord, task: Task) -> bool:
    """Whether `record`'s create could have made `task`: the same model and length of video, created upstream at
    most `ADOPT_WINDOW_S` after the create was recorded (EvoLink's clock may differ from ours by
    `ADOPT_CLOCK_SKEW_S`)."""
    if task.created is None or record.model != task.model:
        return False
    if not -ADOPT_CLOCK_SKEW_S <= task.created - record.created_at <= ADOPT_WINDOW_S:
        return False
    length = task.task_info.video_duration if task.task_info is not None else None
    return length is None or requested_length(record) in (None, length)


def requested_length(record: CreateRecord) -> int | None:
    """Seconds of video `record`'s create asked for (None when its payload no longer parses)."""
    try:
        return parse_video_request(
            record.payload, uploaded_image_urls=record.payload.get("image_urls") or []
        ).effective_duration
    except VeoError:
        return None


def reserved_usd(task: Task | None) -> float | None:
    """What EvoLink says it reserved for `task`, in USD (None when it did not say)."""
    credits = task.usage.credits_reserved if task is not None and task.usage is not None else None
    return None if credits is None else round(credits * catalog.USD_PER_CREDIT, 4)


def _declined_key(fingerprint: str) -> str:
    """A 'no' is the decliner's own: another principal's identical request is asked about afresh."""
    principal = current_principal()
    return fingerprint if principal == LOCAL_PRINCIPAL else f"{principal}:{fingerprint}"


def _unknown_outcome(record: CreateRecord, reason: ReuseReason) -> OutcomeUnknownError:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.created_at))
    earlier = "A call with this request_id" if reason == "request_id" else "An identical request"
    return OutcomeUnknownError(
        f"{earlier} was sent at {when} and its outcome is unknown ({record.message}); it is not sent again, "
        "so you are not charged twice.",
        sent=record.payload,
        advice="Check your EvoLink dashboard's task list: if the task is there, use get_generation with its id; "
        + (
            "if not, call again with a new request_id."
            if reason == "request_id"
            else "if not, call generate_video again with allow_duplicate: true."
        ),
    )
