"""Money guards: limits, confirmation and duplicate detection, decided before anything is sent.

The rules (all from settings, all checked locally):
- a per-request cap and a daily budget (both off by default) refuse a request outright, naming both numbers;
- above `confirm_above_usd` (default $2.00) the user must confirm: through MCP elicitation when the client can ask,
  otherwise by calling again with `confirm_cost: true`;
- an unknown price counts as "above" for confirmation and is refused when a cap or budget is set (we cannot
  promise to stay under a limit we cannot compute);
- the same request (same normalized payload) within `duplicate_window_s` returns the earlier generation.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from veo_mcp.errors import VeoError
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.settings import Settings


class MoneyError(VeoError):
    """A money rule stopped the request before anything was sent."""

    action = "fix_request"


class LimitExceededError(MoneyError):
    """A configured spending limit would be passed; nothing was sent."""

    default_advice = "Ask for a cheaper video (shorter, lower quality, fewer videos, no audio) or raise the limit."
    action = "raise_limit"


class ConfirmationRequiredError(MoneyError):
    """The request costs more than the confirmation threshold and nobody confirmed it; nothing was sent."""

    action = "confirm_cost"


def fingerprint(payload: dict[str, Any]) -> str:
    """Identity of a request for duplicate detection: its normalized API payload, hashed."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def start_of_today(now: float) -> float:
    """Midnight UTC of `now`'s day: the daily budget resets then."""
    day = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def check_request_limit(settings: Settings, estimate: CostEstimate) -> None:
    cap = settings.max_cost_per_request_usd
    if cap is None:
        return
    if estimate.usd is None:
        raise LimitExceededError(
            f"The price of {estimate.model} is not published, and a per-request limit of ${cap:.2f} is set "
            "(VEO_MCP_MAX_COST_PER_REQUEST); veo-mcp cannot prove this request stays under it. Nothing was sent.",
            advice="Use a model with a known price (list_models), or unset VEO_MCP_MAX_COST_PER_REQUEST.",
        )
    if estimate.usd > cap + 1e-9:
        raise LimitExceededError(
            f"This request is estimated at ${estimate.usd:.2f}, above the per-request limit of ${cap:.2f} "
            "(VEO_MCP_MAX_COST_PER_REQUEST). Nothing was sent."
        )


def check_daily_budget(settings: Settings, estimate: CostEstimate, spent_today_usd: float) -> None:
    budget = settings.daily_budget_usd
    if budget is None:
        return
    if estimate.usd is None:
        raise LimitExceededError(
            f"The price of {estimate.model} is not published, and a daily budget of ${budget:.2f} is set "
            "(VEO_MCP_DAILY_BUDGET); veo-mcp cannot prove this request stays within it. Nothing was sent.",
            advice="Use a model with a known price (list_models), or unset VEO_MCP_DAILY_BUDGET.",
        )
    if spent_today_usd + estimate.usd > budget + 1e-9:
        raise LimitExceededError(
            f"This request is estimated at ${estimate.usd:.2f}; with ${spent_today_usd:.2f} already committed today "
            f"(UTC) that passes the daily budget of ${budget:.2f} (VEO_MCP_DAILY_BUDGET). Nothing was sent.",
            advice="Wait until tomorrow (UTC), ask for a cheaper video, or raise VEO_MCP_DAILY_BUDGET.",
        )


def needs_confirmation(settings: Settings, estimate: CostEstimate) -> bool:
    return estimate.usd is None or estimate.usd > settings.confirm_above_usd + 1e-9


def confirmation_question(settings: Settings, estimate: CostEstimate) -> str:
    if estimate.usd is None:
        return (
            f"EvoLink publishes no price for {estimate.model}, so the cost of this video ({estimate.billed_seconds} s "
            "of video) cannot be estimated and may be above the "
            f"${settings.confirm_above_usd:.2f} confirmation threshold. Generate it anyway?"
        )
    return (
        f"This video is estimated at {estimate.summary}, above the ${settings.confirm_above_usd:.2f} "
        "confirmation threshold. Generate it?"
    )


def confirmation_required(settings: Settings, estimate: CostEstimate) -> ConfirmationRequiredError:
    return ConfirmationRequiredError(
        f"{confirmation_question(settings, estimate)} Nothing was sent.",
        advice=(
            "Show the user this cost and ask; if they agree, call generate_video again with the same arguments "
            "and confirm_cost: true (VEO_MCP_CONFIRM_ABOVE sets the threshold)."
        ),
    )


def declined(estimate: CostEstimate) -> ConfirmationRequiredError:
    return ConfirmationRequiredError(
        f"The user did not confirm the cost ({estimate.summary}); nothing was sent.",
        advice="Ask what they would like instead, e.g. a shorter or lower-quality video (estimate_cost).",
    )
