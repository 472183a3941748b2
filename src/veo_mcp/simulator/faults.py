"""Faults the simulator can inject, by configuration or through `POST /_sim/faults`.

A fault applies to the next `count` requests of its endpoint, in the order faults were added.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from veo_mcp.evolink import catalog

Endpoint = Literal["create", "get", "download", "upload", "any"]
FaultKind = Literal[
    "status",
    "delay",
    "drop_after_accept",
    "malformed_json",
    "truncate",
    "slow_body",
    "fail_task",
    "redirect",
    "stall",
]

# Which endpoints each fault kind makes sense for.
_APPLIES_TO: dict[FaultKind, frozenset[str]] = {
    "status": frozenset({"create", "get", "download", "upload"}),
    "delay": frozenset({"create", "get", "download", "upload"}),
    "drop_after_accept": frozenset({"create"}),
    "malformed_json": frozenset({"create", "get"}),
    "truncate": frozenset({"download"}),
    "slow_body": frozenset({"download"}),
    "fail_task": frozenset({"create"}),
    "redirect": frozenset({"download"}),
    "stall": frozenset({"create"}),
}


class Fault(BaseModel):
    """One injected fault. Fields other than `kind`, `endpoint` and `count` apply to some kinds only."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind = Field(
        description="status: answer with `status`; delay: wait `seconds` (after creating the task when "
        "`after_accept`; simulated seconds when `on_clock`, so `POST /_sim/clock` ends it); drop_after_accept: create the task, then drop the connection before the body; "
        "malformed_json: answer 200 with broken JSON (a create still creates the task); truncate: serve only "
        "`fraction` of a download; slow_body: serve a download at `bytes_per_s`; fail_task: the next created task fails "
        "with `error_code` at `fraction` progress; stall: the next created task stops progressing at `fraction` (it "
        "stays processing); redirect: answer a download with 302 to `location`. A status fault with "
        "`echo_authorization` puts the request's Authorization header into its error message (a careless proxy does "
        "that)."
    )
    endpoint: Endpoint = "any"
    count: int = Field(1, ge=1, le=100_000)
    status: int = Field(503, ge=400, le=599)
    retry_after: float | None = Field(None, ge=0)
    seconds: float = Field(0.0, ge=0, le=3600)
    after_accept: bool = False
    on_clock: bool = False
    fraction: float = Field(0.5, ge=0, le=1)
    error_code: str = "service_error"
    bytes_per_s: int = Field(65_536, ge=1)
    location: str = "http://127.0.0.1:9/latest/meta-data/"
    echo_authorization: bool = False

    @field_validator("error_code")
    @classmethod
    def _known_code(cls, code: str) -> str:
        if code not in catalog.TASK_ERROR_CODES:
            raise ValueError(f"error_code must be one of {', '.join(catalog.TASK_ERROR_CODES)}")
        return code

    def applies_to(self, endpoint: str) -> bool:
        return endpoint in _APPLIES_TO[self.kind] and self.endpoint in ("any", endpoint)


class FaultQueue:
    """Pending faults; `take` consumes one use of the first fault that applies."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self._pending: list[tuple[Fault, int]] = [(fault, fault.count) for fault in faults or []]

    def add(self, fault: Fault) -> None:
        self._pending.append((fault, fault.count))

    def clear(self) -> None:
        self._pending.clear()

    def take(self, endpoint: str) -> Fault | None:
        for position, (fault, left) in enumerate(self._pending):
            if fault.applies_to(endpoint):
                if left <= 1:
                    del self._pending[position]
                else:
                    self._pending[position] = (fault, left - 1)
                return fault
        return None

    def describe(self) -> list[dict[str, object]]:
        return [{**fault.model_dump(), "remaining": left} for fault, left in self._pending]
