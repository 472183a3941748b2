"""A generation as veo-mcp knows it: the request we sent, what upstream last said, and what we saved.

`Generation` is the mutable record the tracker updates; `GenerationState` is its public snapshot, the JSON of the
`veo://generations/{task_id}` resource and the structured result of `get_generation`/`wait_for_generation`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel, Field

from veo_mcp.context import LOCAL_PRINCIPAL
from veo_mcp.evolink import catalog
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.evolink.schemas import Task

URI_PREFIX = "veo://generations/"
EXPIRED_ADVICE = (
    "The result links expired before the video was saved; it cannot be fetched any more. Generate it again if you "
    "still need it."
)

# none: not saved yet; saving: a download is running; saved: every video is on disk; expired: the links died
# before we saved them (final); failed: the last attempt failed (`download_error` says why; a next automatic attempt,
# if any, is due at `download_retry_at`; download_video tries at once).
DownloadState = Literal["none", "saving", "saved", "expired", "failed"]


# A running generation whose progress has not moved for this long is reported as stalled (VEO_MCP_STALL_AFTER
# overrides it): twice the render time upstream estimated, but never less than STALL_MIN_S (a queue or a slow
# start is normal), and STALL_WITHOUT_ESTIMATE_S when upstream gave no estimate.
STALL_MIN_S = 120.0
STALL_WITHOUT_ESTIMATE_S = 600.0


def stall_threshold(estimated_time_s: float | None, configured_s: float | None) -> float:
    """Seconds without progress after which a running generation counts as stalled."""
    if configured_s is not None:
        return configured_s
    if estimated_time_s is None:
        return STALL_WITHOUT_ESTIMATE_S
    return max(STALL_MIN_S, 2 * estimated_time_s)


def spoken_duration(seconds: float) -> str:
    """`45 s`, `6 min`, `2 h 5 min`: how long something took, for a sentence."""
    whole = max(0, round(seconds))
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def generation_uri(task_id: str) -> str:
    return f"{URI_PREFIX}{task_id}"


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


class SavedFile(BaseModel):
    path: str = Field(description="Absolute path of the MP4.")
    bytes: int
    index: int = Field(0, description="Which video (0-based).")
    url: str | None = Field(None, description="HTTP only: an expiring link to the video.")


class GenerationState(BaseModel):
    """Everything known about one generation, as an assistant or a person needs it."""

    task_id: str
    uri: str
    status: str = Field(description="pending, processing, completed, failed or cancelled.")
    progress: int = Field(description="Percent complete, 0-100.")
    model: str
    prompt: str
    finished: bool = Field(description="Completed, failed or cancelled.")
    eta_seconds: int | None = Field(None, description="Seconds left (estimate); null when stalled.")
    elapsed_seconds: int = Field(0, description="Seconds since creation (until finished).")
    stalled: bool = Field(False, description="No progress for unusually long; it may still finish.")
    estimated_cost_usd: float | None = None
    result_urls: list[str] = Field(default_factory=list, description="Video links, once completed.")
    results_expire_at: str | None = Field(None, description="When the links stop working.")
    files: list[SavedFile] = Field(default_factory=list, description="Videos saved here.")
    error_code: str | None = None
    error_message: str | None = None
    advice: str | None = Field(None, description="What to do next.")
    retryable: bool | None = Field(None, description="If failed: may trying again succeed?")
    created_at: str | None = None
    updated_at: str | None = None
    download_status: DownloadState = Field("none", description="expired: the links died before saving.")
    download_error: str | None = Field(None, description="Why the last save failed.")
    download_next_attempt_at: str | None = Field(None, description="When a failed save is retried by itself.")
    request_id: str | None = None
    poster_uri: str | None = Field(None, description="Resource with a JPEG frame, once saved.")
    simulated: bool
    notes: list[str] = Field(default_factory=list)


@dataclass
class Generation:
    """The tracker's record of one upstream task. `changed` is set (and replaced) at every change."""

    task_id: str
    model: str
    prompt: str
    request: dict[str, Any]
    simulated: bool
    estimate: CostEstimate | None = None
    status: str = "pending"
    progress: int = 0
    estimated_time_s: float | None = None
    result_urls: list[str] = field(default_factory=list)
    files: list[SavedFile] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    notes: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    completed_at: float | None = None
    changed: anyio.Event = field(default_factory=anyio.Event)
    last_task: Task | None = None
    request_id: str | None = None
    fingerprint: str | None = None
    download_state: DownloadState = "none"
    download_error: str | None = None
    download_attempts: int = 0
    # In memory only: when the next automatic save is due, whether the last save failed on this machine (a folder or
    # a full disk: the user must act, or room must appear), since when the result link has been refused, and since
    # when upstream has not known the task (brief 403/404s are retried, sustained ones are final).
    download_retry_at: float | None = None
    download_blocked: bool = False
    link_failing_since: float | None = None
    unknown_since: float | None = None
    # False once a cancelled MCP task stopped veo-mcp polling and saving it; asking about it again resumes.
    followed: bool = True
    # When status or progress last moved (None: not seen in this process; the stored updated_at stands in).
    progress_at: float | None = None
    # VEO_MCP_STALL_AFTER, set by the registry (None: derived from the estimate).
    stall_after_s: float | None = None
    # Whom it belongs to (`veo_mcp.context`): only that principal sees it, hears about it and pays for it.
    owner: str = LOCAL_PRINCIPAL
    # Set by the registry: whether veo-mcp saves the video by itself once rendered (VEO_MCP_AUTO_DOWNLOAD), so a
    # wait goes on until it is saved and no answer asks for download_video.
    saves_itself: bool = True

    @property
    def uri(self) -> str:
        return generation_uri(self.task_id)

    @property
    def finished(self) -> bool:
        return self.status in catalog.FINISHED_STATUSES

    def apply(self, task: Task) -> bool:
        """Take in what upstream said; True when anything a watcher cares about changed."""
        self.last_task = task
        if task.estimated_time is not None:
            self.estimated_time_s = task.estimated_time
        before = (self.status, self.progress, tuple(self.result_urls), self.error_code)
        self.status = task.status
        self.progress = 100 if task.status == "completed" else task.progress
        if task.results:
            self.result_urls = list(task.results)
        if task.error is not None:
            self.error_code = task.error.code
            self.error_message = task.error.message
        if self.finished and self.completed_at is None:
            self.completed_at = time.time()
        if before == (self.status, self.progress, tuple(self.result_urls), self.error_code):
            return False
        if before[:2] != (self.status, self.progress):
            self.progress_at = time.time()
        self.mark_changed()
        return True

    def adopt(self, stored: Generation) -> bool:
        """Take in a newer record of the same task written by another process; True when anything changed."""
        if stored.updated_at <= self.updated_at:
            return False
        for name in (
            "status",
            "progress",
            "estimated_time_s",
            "result_urls",
            "error_code",
            "error_message",
            "completed_at",
            "download_state",
            "download_error",
            "download_attempts",
        ):
            setattr(self, name, getattr(stored, name))
        known = {f.path for f in self.files}
        self.files.extend(f for f in stored.files if f.path not in known)
        self.progress_at = stored.updated_at
        self.mark_changed()
        self.updated_at = stored.updated_at
        return True

    def absorb(self, stored: Generation) -> None:
        """Take from what the store kept only what is newer than this record (see `merged`): what another process
        finished or saved. Nothing this record knows is taken back, even if it changed while the store was written
        (no change event: the change that caused the write is being announced already)."""
        final = merged(stored, self)
        if final.finished and not self.finished:
            for name in ("status", "progress", "result_urls", "error_code", "error_message", "completed_at"):
                setattr(self, name, getattr(final, name))
        known = {f.path for f in self.files}
        self.files.extend(f for f in final.files if f.path not in known)
        if final.download_state in ("saved", "expired") and self.download_state not in ("saved", "expired"):
            self.download_state, self.download_error = final.download_state, final.download_error
        self.download_attempts = max(self.download_attempts, final.download_attempts)

    def forget_missing_files(self) -> bool:
        """Drop saved files that no longer exist on disk (moved or deleted by the user); True when any was dropped.

        A video reported as saved must be there; while the links live, it can be fetched again."""
        present = [f for f in self.files if Path(f.path).is_file()]
        if len(present) == len(self.files):
            return False
        self.files = present
        if self.download_state == "saved":
            self.download_state = "none"
        self.mark_changed()
        return True

    def save_settled(self, deadline: float | None = None) -> bool:
        """Whether there is nothing more to wait for: finished, and (if completed) its videos saved, the links gone,
        or the save failed in a way a wait cannot see through (a local problem, or no automatic attempt due before
        `deadline`). A wait ends here, so its answer carries the paths or why there are none."""
        if not self.finished:
            return False
        if self.status != "completed" or self.download_state in ("saved", "expired") or self.links_expired:
            return True
        if self.download_state == "failed":
            retry = self.download_retry_at
            return self.download_blocked or retry is None or (deadline is not None and retry >= deadline)
        return not self.saves_itself and self.download_state != "saving"

    def mark_changed(self) -> None:
        self.updated_at = time.time()
        event, self.changed = self.changed, anyio.Event()
        event.set()

    @property
    def last_progress_at(self) -> float:
        return self.progress_at if self.progress_at is not None else self.updated_at

    def stalls_at(self) -> float | None:
        """When this running generation counts as stalled if its progress does not move before (None: finished)."""
        if self.finished:
            return None
        return self.last_progress_at + stall_threshold(self.estimated_time_s, self.stall_after_s)

    def stalled(self, now: float | None = None) -> bool:
        moment = self.stalls_at()
        return moment is not None and (time.time() if now is None else now) >= moment

    def elapsed_seconds(self, now: float | None = None) -> int:
        end = self.completed_at if self.finished and self.completed_at is not None else now or time.time()
        return max(0, round(end - self.created_at))

    @property
    def links_expired(self) -> bool:
        """The result links died before every video was saved: nothing can be fetched any more."""
        if self.download_state == "expired":
            return True
        expires = self.links_expire_at
        return expires is not None and time.time() > expires and self.download_state != "saved"

    def stall_advice(self) -> str:
        """What to tell the user about a stalled generation (the same words in every answer that mentions it)."""
        quiet = spoken_duration(time.time() - self.last_progress_at)
        return (
            f"No progress for {quiet} (at {self.progress}% after {spoken_duration(self.elapsed_seconds())}): "
            "the render looks stuck upstream. It may still finish, and veo-mcp keeps checking and saves it if it "
            f"does. Tell the user it is taking unusually long; check later with get_generation (task_id "
            f"'{self.task_id}') instead of waiting now."
        )

    def eta_seconds(self) -> int | None:
        if self.finished or self.estimated_time_s is None or self.stalled():
            return None
        remaining = self.estimated_time_s * (100 - self.progress) / 100
        elapsed_cap = self.estimated_time_s - (time.time() - self.created_at)
        return max(1, math.ceil(min(remaining, max(elapsed_cap, remaining / 4))))

    @property
    def links_expire_at(self) -> float | None:
        """When the result links stop working (ASSUMED: 24 h after we first saw the task completed)."""
        return self.completed_at + catalog.RESULT_LINK_TTL_S if self.completed_at and self.result_urls else None

    def next_step(self) -> str:
        """What to do next, in one sentence: the same words in every answer about this state (get, wait, a repeated
        generate, an MCP task), so no two answers about one generation disagree."""
        ref = f"task_id '{self.task_id}'"
        if self.status == "failed":
            return catalog.advice_for_task_error(self.error_code)
        if self.status == "cancelled":
            return "The generation was cancelled; create a new one if you still want it."
        if self.status != "completed":
            if self.stalled():
                return self.stall_advice()
            eta = self.eta_seconds()
            left = f" (about {eta} s left)" if eta is not None else ""
            return f"Still rendering{left}: call wait_for_generation with {ref} again."
        if self.download_state == "saved" or (self.files and self.download_state == "none"):
            return "Done: the video is saved at the path in files."
        if self.links_expired:
            return EXPIRED_ADVICE
        if self.download_state == "failed":
            return self._save_failed_advice(ref)
        if self.download_state == "saving" or self.saves_itself:
            return f"Rendered; veo-mcp is saving the video now: wait_for_generation with {ref} returns its path."
        return f"Rendered: call download_video with {ref} to save the video before the links expire."

    def _save_failed_advice(self, ref: str) -> str:
        said = f"Saving the video failed: {self.download_error or 'no reason was recorded'}"
        said = said if said.endswith((".", "!", "?")) else f"{said}."
        if self.download_retry_at is not None:
            when = f"at {_iso(self.download_retry_at)}"
            if self.download_blocked:
                return f"{said} veo-mcp tries again by itself {when}; fix the cause first."
            return f"{said} veo-mcp tries again by itself {when}; wait_for_generation with {ref} returns the path."
        if self.download_blocked:
            return f"{said} veo-mcp saves it by itself once that is fixed, while the links live."
        return f"{said} Call download_video with {ref} to try again."

    def state(self) -> GenerationState:
        expires = self.links_expire_at
        retryable = self.error_code in catalog.RETRYABLE_TASK_ERROR_CODES if self.status == "failed" else None
        advice = self.next_step()
        return GenerationState(
            task_id=self.task_id,
            uri=self.uri,
            status=self.status,
            progress=self.progress,
            model=self.model,
            prompt=self.prompt,
            finished=self.finished,
            eta_seconds=self.eta_seconds(),
            elapsed_seconds=self.elapsed_seconds(),
            stalled=self.stalled(),
            estimated_cost_usd=self.estimate.usd if self.estimate else None,
            result_urls=list(self.result_urls),
            results_expire_at=_iso(expires),
            files=list(self.files),
            error_code=self.error_code,
            error_message=self.error_message,
            advice=advice,
            retryable=retryable,
            created_at=_iso(self.created_at),
            updated_at=_iso(self.updated_at),
            download_status=self.download_state,
            download_error=self.download_error,
            download_next_attempt_at=_iso(self.download_retry_at),
            request_id=self.request_id,
            poster_uri=f"{self.uri}/poster" if self.files else None,
            simulated=self.simulated,
            notes=list(self.notes),
        )


def merged(stored: Generation, incoming: Generation) -> Generation:
    """What to store when `incoming` (one process's record) meets `stored` (what any process wrote last).

    Several processes may share one data folder and each holds its own copy of a generation; a write must never
    take back what another process already knows: a finished status stays finished, saved files stay recorded
    (while they exist), a saved or expired download stays so. Everything else is the incoming record's.
    """
    result = dataclasses.replace(incoming, files=list(incoming.files), notes=list(incoming.notes))
    if stored.finished and not incoming.finished:
        for name in ("status", "progress", "result_urls", "error_code", "error_message", "completed_at"):
            setattr(result, name, getattr(stored, name))
    known = {f.path for f in result.files}
    result.files.extend(f for f in stored.files if f.path not in known and Path(f.path).is_file())
    stored_final = stored.download_state in ("saved", "expired")
    still_there = stored.download_state == "expired" or all(Path(f.path).is_file() for f in stored.files)
    if stored_final and incoming.download_state not in ("saved", "expired") and still_there:
        result.download_state, result.download_error = stored.download_state, stored.download_error
    result.download_attempts = max(stored.download_attempts, incoming.download_attempts)
    result.updated_at = max(stored.updated_at, incoming.updated_at)
    result.owner = stored.owner  # a generation never changes hands
    return result
