"""The simulated EvoLink service: tasks, their lifecycle on a (speedable) clock, billing and the ledger.

State is computed from the clock when asked, not advanced by background jobs, so the simulator is cheap with
thousands of tasks and deterministic under `advance()`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
import string
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from veo_mcp.evolink import catalog
from veo_mcp.evolink.schemas import VideoRequest, parse_video_request
from veo_mcp.simulator.clock import SharedClock, SimClock
from veo_mcp.simulator.faults import Fault
from veo_mcp.simulator.media import VideoSpec, dimensions, render_mp4
from veo_mcp.simulator.state import SimulatorState, StoredTask


class SimulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speed: float = Field(1.0, gt=0, description="How many times faster than real time tasks run.")
    api_key: str | None = Field(None, description="The only key accepted; None accepts any non-empty key.")
    link_ttl_s: float = Field(
        catalog.RESULT_LINK_TTL_S, gt=0, description="Result link lifetime, in simulated seconds."
    )
    balance_usd: float | None = Field(None, description="Credit available; None is unlimited.")
    max_active_tasks: int | None = Field(None, ge=1, description="Concurrency limit (429 beyond it).")
    allow_private_callbacks: bool = Field(
        False,
        description="Accept and call callback URLs on this machine (loopback), which real EvoLink refuses as it "
        "refuses every internal address; for tests and trials of callbacks on one machine.",
    )
    video_short_side: int = Field(144, ge=16, le=2160, description="Short side of rendered videos, in pixels.")
    video_fps: int = Field(12, ge=1, le=60)
    faults: list[Fault] = Field(default_factory=list)
    result_bytes: int | None = Field(
        None,
        ge=0,
        le=4_000_000_000,
        description="Pad every result MP4 with a trailing 'free' box to this size (for download benchmarks).",
    )
    upload_quota_files: int | None = Field(
        100, ge=0, description="Uploads the file service accepts before answering 'quota exceeded'; None: no limit."
    )
    state_dir: Path | None = Field(
        None,
        description="Keep the simulated account (tasks, uploads, counts, clock) in this folder, shared by every "
        "process using it; None: in memory, for this process only.",
    )
    files_public_url: str = Field(
        "https://files.evolink-simulator.test",
        description="Where uploaded files say they live (`file_url`). A public-looking name, as EvoLink's CDN has, "
        "so the create accepts it; the simulator serves the same paths on its own address too.",
    )


@dataclass
class SimUpload:
    file_id: str
    file_name: str
    original_name: str
    mime_type: str
    data: bytes
    uploaded_at: float  # simulated seconds
    uploaded_wall: float

    def expired(self, now: float) -> bool:
        return now > self.uploaded_at + catalog.UPLOAD_TTL_S


@dataclass
class SimTask:
    id: str
    request: VideoRequest
    created_wall: int
    started_at: float  # simulated seconds
    total_s: float
    pending_s: float
    cost_usd: float | None
    failure: tuple[str, float] | None = None  # (error code, progress fraction at which it fails)
    stall_at: float | None = None  # progress fraction at which it stops moving, for good
    results_token: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    frames: tuple[bytes, ...] = ()  # uploaded images the video starts (and, with two, ends) with
    base_url: str = ""  # the address the create came in on (result links in callbacks point there)
    gets: int = 0  # status GETs answered for this task
    callback_attempts: int = 0
    callback_delivered: bool = False

    def body(self) -> dict[str, Any]:
        """What is kept of the task in a state folder (its images and counters are kept beside it)."""
        return {
            "request": self.request.to_api_payload(),
            "callback_url": self.request.callback_url,
            "created_wall": self.created_wall,
            "started_at": self.started_at,
            "total_s": self.total_s,
            "pending_s": self.pending_s,
            "cost_usd": self.cost_usd,
            "failure": list(self.failure) if self.failure else None,
            "stall_at": self.stall_at,
            "results_token": self.results_token,
            "base_url": self.base_url,
        }

    @classmethod
    def from_stored(cls, task_id: str, stored: StoredTask) -> SimTask:
        body = stored.body
        payload = {k: v for k, v in body["request"].items() if k != "callback_url"}
        request = parse_video_request(payload, uploaded_image_urls=payload.get("image_urls") or ())
        if body["callback_url"]:  # checked when it was created (a loopback one only when allowed)
            request = request.model_copy(update={"callback_url": body["callback_url"]})
        failure = body["failure"]
        return cls(
            id=task_id,
            request=request,
            created_wall=body["created_wall"],
            started_at=body["started_at"],
            total_s=body["total_s"],
            pending_s=body["pending_s"],
            cost_usd=body["cost_usd"],
            failure=(str(failure[0]), float(failure[1])) if failure else None,
            stall_at=body["stall_at"],
            results_token=body["results_token"],
            frames=stored.frames,
            base_url=body["base_url"],
            gets=stored.gets,
            callback_attempts=stored.callback_attempts,
            callback_delivered=stored.callback_delivered,
        )

    def phase(self, now: float) -> tuple[str, int]:
        """(status, progress) at simulated time `now`."""
        elapsed = now - self.started_at
        if elapsed < self.pending_s:
            return "pending", 0
        run = max(self.total_s - self.pending_s, 1e-9)
        fraction = (elapsed - self.pending_s) / run
        if self.failure is not None and fraction >= self.failure[1]:
            return "failed", int(100 * self.failure[1])
        if self.stall_at is not None and fraction >= self.stall_at:
            return "processing", max(1, min(99, int(100 * self.stall_at)))
        if fraction >= 1:
            return "completed", 100
        return "processing", max(1, min(99, int(100 * fraction)))

    def completed_at(self) -> float:
        return self.started_at + self.total_s

    def ends_at(self) -> float:
        """When (simulated seconds) the task completes or fails; never, for a task that stalls first."""
        if self.stall_at is not None and (self.failure is None or self.stall_at < self.failure[1]):
            return math.inf
        if self.failure is None:
            return self.completed_at()
        return self.started_at + self.pending_s + max(self.total_s - self.pending_s, 1e-9) * self.failure[1]


_ALPHABET = string.ascii_lowercase + string.digits


def new_task_id(now_wall: int) -> str:
    return f"task-unified-{now_wall}-{''.join(secrets.choice(_ALPHABET) for _ in range(8))}"


def charge_usd(request: VideoRequest) -> float:
    """What the simulated account charges for `request`: the published price, or for a model whose price is not
    published the simulator's own (catalog.SIM_UNPUBLISHED_PRICES), below the ceiling veo-mcp estimates with."""
    price = catalog.MODELS[request.model].price or catalog.SIM_UNPUBLISHED_PRICES[request.model]
    return round(price.per_second(request.quality, request.generate_audio) * request.effective_duration * request.n, 4)


def render_seconds(request: VideoRequest, identity: str) -> float:
    """How long the real service would take for this request, in seconds (see catalog SIM_* assumptions)."""
    base = catalog.SIM_BASE_SECONDS_PER_VIDEO_SECOND * request.effective_duration
    scaled = base * catalog.SIM_QUALITY_FACTOR[request.quality] * (1 + catalog.SIM_EXTRA_VIDEO_FACTOR * (request.n - 1))
    jitter = 0.85 + 0.3 * (hashlib.sha256(identity.encode()).digest()[0] / 255)
    return scaled * jitter


class SimulatedService:
    """What EvoLink would do, minus the HTTP: the ASGI app in `app.py` is a thin layer over this."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        # With a state folder the account is shared by every process using it (see `simulator.state`); `tasks`,
        # `uploads` and `requests` are then this process's view of it, brought up to date by `sync()`.
        self.state = SimulatorState(config.state_dir / "simulator.sqlite3") if config.state_dir else None
        self.clock: SimClock = SharedClock(config.speed, self.state) if self.state else SimClock(config.speed)
        self.tasks: dict[str, SimTask] = {}
        self.requests: Counter[str] = Counter()
        self.uploads: dict[str, SimUpload] = {}
        self._videos: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._video_cache_limit = 64
        self._synced_seq = 0

    # --- the shared account (a state folder) ------------------------------------------------------------------

    def sync(self) -> None:
        """Take in the tasks other processes created since the last look (nothing to do in memory)."""
        if self.state is None:
            return
        for stored in self.state.tasks_after(self._synced_seq):
            self._synced_seq = stored.seq
            task_id = str(stored.body.get("id") or "")
            if task_id and task_id not in self.tasks:
                self.tasks[task_id] = SimTask.from_stored(task_id, stored)

    def task(self, task_id: str) -> SimTask | None:
        """A task by id, whichever process created it."""
        known = self.tasks.get(task_id)
        if known is None and self.state is not None and (stored := self.state.task(task_id)) is not None:
            known = self.tasks[task_id] = SimTask.from_stored(task_id, stored)
        return known

    def count_request(self, name: str) -> None:
        self.requests[name] += 1
        if self.state is not None:
            self.state.count_request(name)

    def count_get(self, task: SimTask) -> None:
        task.gets += 1
        if self.state is not None:
            self.state.count_task(task.id, "gets")

    def count_callback(self, task: SimTask, *, delivered: bool = False) -> None:
        """One callback attempt (or, with `delivered`, its success)."""
        if delivered:
            task.callback_delivered = True
        else:
            self.count_request("callback")
            task.callback_attempts += 1
        if self.state is not None:
            if delivered:
                self.state.callback_delivered(task.id)
            else:
                self.state.count_task(task.id, "callback_attempts")

    def upload(self, file_id: str) -> SimUpload | None:
        known = self.uploads.get(file_id)
        if known is None and self.state is not None and (stored := self.state.upload(file_id)) is not None:
            body, data = stored
            known = self.uploads[file_id] = SimUpload(data=data, **body)
        return known

    def upload_count(self) -> int:
        return self.state.upload_count() if self.state is not None else len(self.uploads)

    # --- lifecycle ----------------------------------------------------------------------------------------

    def create(
        self,
        request: VideoRequest,
        *,
        failure: Fault | None = None,
        stall: Fault | None = None,
        fails_with: str | None = None,
    ) -> SimTask:
        """A new task; it fails as it leaves the queue with `fails_with` (an error code) when set, as EvoLink fails
        a task whose input image it cannot fetch."""
        wall = int(time.time())
        task_id = new_task_id(wall)
        total = render_seconds(request, task_id)
        cost = charge_usd(request)
        task = SimTask(
            id=task_id,
            request=request,
            created_wall=wall,
            started_at=self.clock.now(),
            total_s=total,
            pending_s=total * catalog.SIM_PENDING_FRACTION,
            cost_usd=cost,
            failure=(fails_with, 0.0) if fails_with else (failure.error_code, failure.fraction) if failure else None,
            stall_at=stall.fraction if stall else None,
            frames=self._frames_for(request),
        )
        self.tasks[task_id] = task
        if self.state is not None:
            self.state.add_task(task_id, {"id": task_id, **task.body()}, task.frames)
        return task

    def remember_base_url(self, task: SimTask, base_url: str) -> None:
        """The address the create came in on (its result links point there), kept with the task."""
        task.base_url = base_url
        if self.state is not None:
            self.state.set_base_url(task.id, base_url)

    def _frames_for(self, request: VideoRequest) -> tuple[bytes, ...]:
        """Uploaded images used as first (and last) frames; REFERENCE images guide style, not frames."""
        if not request.image_urls or request.resolved_generation_type == "REFERENCE":
            return ()
        frames = []
        for url in request.image_urls:
            upload = self.upload_for_url(url)
            if upload is not None:
                frames.append(upload.data)
        return tuple(frames)

    def upload_for_url(self, url: str) -> SimUpload | None:
        """The live upload a `file_url` (on the public name or on our own address) points to."""
        marker = "/u/"
        if marker not in url:
            return None
        file_id = url.split(marker, 1)[1].split("/", 1)[0]
        upload = self.upload(file_id)
        if upload is None or upload.expired(self.clock.now()):
            return None
        return upload

    def store_upload(self, data: bytes, original_name: str, mime_type: str) -> SimUpload:
        file_id = f"file_{secrets.token_hex(8)}"
        extension = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}
        upload = SimUpload(
            file_id=file_id,
            file_name=f"{file_id}{extension.get(mime_type, '')}",
            original_name=original_name,
            mime_type=mime_type,
            data=data,
            uploaded_at=self.clock.now(),
            uploaded_wall=time.time(),
        )
        self.uploads[file_id] = upload
        if self.state is not None:
            body = {k: v for k, v in dataclasses.asdict(upload).items() if k != "data"}
            self.state.add_upload(file_id, body, data)
        return upload

    def upload_object(self, upload: SimUpload) -> dict[str, Any]:
        """The `data` of an upload answer (API doc §7)."""
        wall = datetime.fromtimestamp(upload.uploaded_wall, tz=UTC)
        url = f"{self.config.files_public_url.rstrip('/')}/u/{upload.file_id}/{upload.file_name}"
        return {
            "file_id": upload.file_id,
            "file_name": upload.file_name,
            "original_name": upload.original_name,
            "file_size": len(upload.data),
            "mime_type": upload.mime_type,
            "upload_path": "",
            "file_url": url,
            "download_url": url,
            "upload_time": wall.isoformat(timespec="seconds"),
            "expires_at": (wall + timedelta(seconds=catalog.UPLOAD_TTL_S)).isoformat(timespec="seconds"),
        }

    def active_count(self) -> int:
        self.sync()
        now = self.clock.now()
        return sum(1 for task in self.tasks.values() if task.phase(now)[0] in ("pending", "processing"))

    def committed_usd(self) -> float:
        """Credit reserved or spent: every task that has not failed (failed tasks are not billed)."""
        self.sync()
        now = self.clock.now()
        return sum(task.cost_usd or 0.0 for task in self.tasks.values() if task.phase(now)[0] != "failed")

    def link_expired(self, task: SimTask) -> bool:
        return self.clock.now() > task.completed_at() + self.config.link_ttl_s

    # --- views --------------------------------------------------------------------------------------------

    def task_object(self, task: SimTask, base_url: str) -> dict[str, Any]:
        """The task JSON exactly as `GET /v1/tasks/{id}` returns it (API doc §2)."""
        status, progress = task.phase(self.clock.now())
        request = task.request
        body: dict[str, Any] = {
            "id": task.id,
            "object": "video.generation.task",
            "created": task.created_wall,
            "model": request.model,
            "status": status,
            "progress": progress,
            "type": "video",
            "task_info": {
                "can_cancel": status in ("pending", "processing"),
                "estimated_time": math.ceil(task.total_s / self.config.speed),
                "video_duration": request.effective_duration,
            },
            "usage": {
                "billing_rule": "per_second",
                "credits_reserved": catalog.usd_to_credits(task.cost_usd or 0.0),
                "user_group": "default",
            },
        }
        if status == "completed":
            body["results"] = [self.result_url(task, index, base_url) for index in range(request.n)]
        if status == "failed" and task.failure is not None:
            code = task.failure[0]
            body["error"] = {
                "code": code,
                "message": catalog.advice_for_task_error(code),
                "type": "video_generation_error",
            }
        return body

    def result_url(self, task: SimTask, index: int, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/files/videos/{task.id}/{index}.mp4?token={task.results_token}"

    def video_bytes(self, task: SimTask, index: int) -> bytes:
        key = (task.id, index)
        cached = self._videos.get(key)
        if cached is not None:
            self._videos.move_to_end(key)
            return cached
        request = task.request
        width, height = dimensions(request.effective_aspect_ratio, self.config.video_short_side)
        data = render_mp4(
            VideoSpec(
                width=width,
                height=height,
                seconds=request.effective_duration,
                fps=self.config.video_fps,
                audio=request.generate_audio,
                identity=f"{task.id}/{index}/{request.seed}",
                first_image=task.frames[0] if task.frames else None,
                last_image=task.frames[1] if len(task.frames) > 1 else None,
            )
        )
        self._videos[key] = data
        while len(self._videos) > self._video_cache_limit:
            self._videos.popitem(last=False)
        return data

    def ledger(self) -> dict[str, Any]:
        self.sync()
        if self.state is not None:  # every process's counts
            for task_id, (gets, attempts, delivered) in self.state.counters().items():
                if (known := self.tasks.get(task_id)) is not None:
                    known.gets, known.callback_attempts, known.callback_delivered = gets, attempts, delivered
            self.requests = Counter(self.state.request_counts())
            for file_id in self.state.upload_ids():
                self.upload(file_id)
        now = self.clock.now()
        tasks = []
        total = 0.0
        for task in self.tasks.values():
            status, progress = task.phase(now)
            charged = (task.cost_usd or 0.0) if status == "completed" else 0.0
            total += charged
            tasks.append(
                {
                    "id": task.id,
                    "model": task.request.model,
                    "status": status,
                    "progress": progress,
                    "charged_usd": round(charged, 4),
                    "cost_usd": task.cost_usd,
                    "quality": task.request.quality,
                    "duration": task.request.effective_duration,
                    "n": task.request.n,
                    "generate_audio": task.request.generate_audio,
                    "prompt": task.request.prompt,
                    "gets": task.gets,
                    "callback_attempts": task.callback_attempts,
                    "callback_delivered": task.callback_delivered,
                }
            )
        requests = {name: self.requests.get(name, 0) for name in ("create", "get", "download", "upload", "callback")}
        requests.update({name: count for name, count in self.requests.items() if name not in requests})
        uploads = [
            {"file_id": u.file_id, "bytes": len(u.data), "mime_type": u.mime_type, "original_name": u.original_name}
            for u in self.uploads.values()
        ]
        return {"requests": requests, "tasks": tasks, "uploads": uploads, "total_charged_usd": round(total, 4)}
