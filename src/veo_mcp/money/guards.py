"""Money guards: limits, confirmation and duplicate detection, decided before anything is sent.

The rules (all from settings, all checked locally):
- a per-request cap and a daily budget (both off by default) refuse a request outright, naming both numbers;
- a brake on runaway loops, on by default: an hourly budget (VEO_MCP_HOURLY_BUDGET, $10) and a create rate
  (VEO_MCP_MAX_CREATES_PER_MINUTE, 10); each refusal says which limit, what is left and how to raise it;
- above `confirm_above_usd` (default $2.00) the user must confirm: through MCP elicitation when the client can ask,
  otherwise by calling again with `confirm_cost: true`;
- an unknown price counts as "above" for confirmation and is refused when a cap or budget is set (we cannot
  promise to stay under a limit we cannot compute);
- the same request (same normalized payload) within `duplicate_window_s` returns the earlier generation;
- on a shared server, server-wide budgets (VEO_MCP_SERVER_HOURLY_BUDGET, VEO_MCP_SERVER_DAILY_BUDGET) cap what every
  user together may commit on the one EvoLink key; every refusal says which limit, for whom, and who can raise it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from veo_mcp.errors import VeoError
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.settings import Settings
from veo_mcp.storage import Spending, SpendingWindows


class MoneyError(VeoError):
    """A money rule stopped the request before anything was sent."""

    action = "fix_request"


class LimitExceededError(MoneyError):
    """A configured spending limit would be passed; nothing was sent."""

    default_advice = "Ask for a cheaper video (shorter, lower quality, fewer videos, no audio) or raise the limit."
    action = "raise_limit"


class CreateRateError(LimitExceededError):
    """The runaway-loop create rate brake: no create is left in the current 60 seconds (more are, a minute later)."""


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


def _estimated(estimate: CostEstimate) -> str:
    """`estimated at $0.96`, or for a model without a published price the ceiling it was estimated with."""
    if estimate.known:
        return f"estimated at ${estimate.usd:.2f}"
    return (
        f"estimated at up to ${estimate.usd:.2f} (EvoLink publishes no price for {estimate.model}; that is a ceiling)"
    )


def windows_at(now: float) -> SpendingWindows:
    """The spending windows the limits look at: today (UTC), the last 60 minutes, the last 60 seconds."""
    return SpendingWindows(day=start_of_today(now), hour=now - 3600.0, minute=now - 60.0)


def check_spending(settings: Settings, estimate: CostEstimate, spending: Spending) -> None:
    """Every limit that depends on what was spent before: the server's budgets (everyone's spending), then the
    caller's daily and hourly budgets and create rate."""
    check_server_budgets(settings, estimate, spending)
    check_daily_budget(settings, estimate, spending.today_usd)
    check_hourly_budget(settings, estimate, spending.last_hour_usd)
    check_create_rate(settings, spending.creates_last_minute)


def check_server_budgets(settings: Settings, estimate: CostEstimate, spending: Spending) -> None:
    """The server-wide budgets: every user's creates together, against the one EvoLink key's caps."""
    for budget, spent, window, variable in (
        (settings.server_daily_budget_usd, spending.server_today_usd, "today (UTC)", "VEO_MCP_SERVER_DAILY_BUDGET"),
        (
            settings.server_hourly_budget_usd,
            spending.server_last_hour_usd,
            "in the last 60 minutes",
            "VEO_MCP_SERVER_HOURLY_BUDGET",
        ),
    ):
        if budget is None:
            continue
        kind = "daily" if variable == "VEO_MCP_SERVER_DAILY_BUDGET" else "hourly"
        if spent + estimate.usd > budget + 1e-9:
            left = max(0.0, budget - spent)
            raise LimitExceededError(
                f"This request is {_estimated(estimate)}, but only ${left:.2f} is left of this server's "
                f"{kind} budget of ${budget:.2f}, which every user of the server shares ({variable}; "
                f"${spent:.2f} committed by all users {window}). Nothing was sent.",
                advice=f"The limit is for everyone together, not for you alone: wait until earlier requests leave "
                f"the window, or ask for a cheaper video. Only the server's operator can raise {variable}.",
            )


def check_hourly_budget(settings: Settings, estimate: CostEstimate, spent_last_hour_usd: float) -> None:
    budget = settings.hourly_budget_usd
    if budget <= 0:
        return
    if spent_last_hour_usd + estimate.usd > budget + 1e-9:
        left = max(0.0, budget - spent_last_hour_usd)
        raise LimitExceededError(
            f"This request is {_estimated(estimate)}, but only ${left:.2f} of the hourly budget of "
            f"${budget:.2f} is left (VEO_MCP_HOURLY_BUDGET; ${spent_last_hour_usd:.2f} committed in the last 60 "
            "minutes). Nothing was sent.",
            advice="This brake stops runaway loops. Wait until earlier requests leave the 60-minute window, ask "
            "for a cheaper video, or raise VEO_MCP_HOURLY_BUDGET (0 turns it off) in the server's environment.",
        )


def check_create_rate(settings: Settings, creates_last_minute: int) -> None:
    limit = settings.max_creates_per_minute
    if limit > 0 and creates_last_minute >= limit:
        raise CreateRateError(
            f"{creates_last_minute} generations were started in the last 60 seconds; the limit is {limit} per "
            "minute (VEO_MCP_MAX_CREATES_PER_MINUTE), so none is left right now. Nothing was sent.",
            advice="This brake stops runaway loops. Wait a minute and call again, or raise "
            "VEO_MCP_MAX_CREATES_PER_MINUTE (0 turns it off) in the server's environment.",
        )


def check_request_limit(settings: Settings, estimate: CostEstimate) -> None:
    cap = settings.max_cost_per_request_usd
    if cap is None:
        return
    if estimate.usd > cap + 1e-9:
        raise LimitExceededError(
            f"This request is {_estimated(estimate)}, above the per-request limit of ${cap:.2f} "
            "(VEO_MCP_MAX_COST_PER_REQUEST). Nothing was sent."
        )


def check_daily_budget(settings: Settings, estimate: CostEstimate, spent_today_usd: float) -> None:
    budget = settings.daily_budget_usd
    if budget is None:
        return
    if spent_today_usd + estimate.usd > budget + 1e-9:
        raise LimitExceededError(
            f"This request is {_estimated(estimate)}; with ${spent_today_usd:.2f} already committed today "
            f"(UTC) that passes the daily budget of ${budget:.2f} (VEO_MCP_DAILY_BUDGET). Nothing was sent.",
            advice="Wait until tomorrow (UTC), ask for a cheaper video, or raise VEO_MCP_DAILY_BUDGET.",
        )


def needs_confirmation(settings: Settings, estimate: CostEstimate) -> bool:
    return estimate.usd > settings.confirm_above_usd + 1e-9


def confirmation_question(settings: Settings, estimate: CostEstimate) -> str:
    cost = f"is estimated at {estimate.summary}" if estimate.known else f"costs {estimate.summary}"
    return f"This video {cost}, above the ${settings.confirm_above_usd:.2f} confirmation threshold. Generate it?"


def batch_confirmation_question(settings: Settings, total: CostEstimate, count: int) -> str:
    cost = f"is estimated at {total.summary} in total" if total.known else f"costs {total.summary}"
    return (
        f"This batch of {count} generations {cost}, above the ${settings.confirm_above_usd:.2f} confirmation "
        "threshold. Generate all of them?"
    )


def check_batch_budgets(settings: Settings, total: CostEstimate, spending: Spending) -> None:
    """The server's and the caller's daily and hourly budgets applied to a whole batch before any of it is sent."""
    check_server_budgets(settings, total, spending)
    check_daily_budget(settings, total, spending.today_usd)
    check_hourly_budget(settings, total, spending.last_hour_usd)


def confirmation_required(
    settings: Settings, estimate: CostEstimate, question: str | None = None, tool: str = "generate_video"
) -> ConfirmationRequiredError:
    return ConfirmationRequiredError(
        f"{question or confirmation_question(settings, estimate)} Nothing was sent.",
        advice=(
            f"Show the user this cost and ask; if they agree, call {tool} again with the same arguments "
            "and confirm_cost: true (VEO_MCP_CONFIRM_ABOVE sets the threshold)."
        ),
    )


def declined(estimate: CostEstimate) -> ConfirmationRequiredError:
    return ConfirmationRequiredError(
        f"The user did not confirm the cost ({estimate.summary}); nothing was sent.",
        advice="Ask what they would like instead, e.g. a shorter or lower-quality video (estimate_cost).",
    )


def dismissed(estimate: CostEstimate) -> ConfirmationRequiredError:
    return ConfirmationRequiredError(
        f"The cost question ({estimate.summary}) was closed without an answer; nothing was sent.",
        advice="Ask the user whether they want it at this cost; calling again with the same arguments asks them again.",
    )


def still_declined(
    settings: Settings, estimate: CostEstimate, declined_at: float, now: float
) -> ConfirmationRequiredError:
    """The same request again soon after the user said no: refused without asking them again."""
    minutes = max(1, round((declined_at + settings.decline_window_s - now) / 60))
    when = datetime.fromtimestamp(declined_at, tz=UTC).strftime("%H:%M:%S UTC")
    return ConfirmationRequiredError(
        f"The user declined this exact request ({estimate.summary}) at {when}; it stays declined for about "
        f"{minutes} more minute(s) and was not sent or asked again.",
        advice="Ask the user what they want instead (a shorter, lower-quality or different video); a changed "
        "request is asked about afresh (VEO_MCP_DECLINE_WINDOW sets how long a no stands).",
    )
