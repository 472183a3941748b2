"""How often to ask upstream about a task: guided by its `estimated_time` and progress, bounded, jittered."""

from __future__ import annotations

import random

from veo_mcp.evolink.schemas import Task

# Ask about 20 times over the estimated run; unknown estimates assume a typical 8 s 720p clip (~75 s).
POLLS_PER_ESTIMATE = 20
TYPICAL_ESTIMATE_S = 75.0


def poll_interval_for(task: Task, *, min_s: float, max_s: float, jitter: float = 0.1) -> float:
    """Seconds to wait before the next GET of `task`.

    Near the end (progress ≥ 90) we look more often, so a finished video is noticed quickly; the result is kept
    within [min_s, max_s] and spread by ±`jitter` so many tasks do not poll in lockstep.
    """
    estimate = task.estimated_time or TYPICAL_ESTIMATE_S
    interval = estimate / POLLS_PER_ESTIMATE
    if task.progress >= 90:
        interval /= 2
    interval *= 1 + random.uniform(-jitter, jitter)  # noqa: S311 - spreading load, not security
    return max(min_s, min(max_s, interval))
