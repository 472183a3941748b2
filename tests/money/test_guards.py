"""The money guards one by one: each limit at its exact boundary, and every refusal word for word.

The refusals are what the assistant reads and repeats to the user, so their words are the behaviour: which limit,
the numbers, that nothing was sent, and how to raise the limit. The MCP-level tests (test_money.py, test_limits.py)
show the same rules through real sessions; here each rule is pinned where it is decided.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers import service_settings
from veo_mcp.evolink import estimate_cost, parse_video_request
from veo_mcp.evolink.costs import CostEstimate
from veo_mcp.money import guards
from veo_mcp.money.guards import ConfirmationRequiredError, LimitExceededError
from veo_mcp.settings import Settings
from veo_mcp.storage import Spending, SpendingWindows

FAST = "veo-3.1-fast-generate-preview"
EIGHT_S_1080P = estimate_cost(parse_video_request({"prompt": "x", "duration": 8, "quality": "1080p"}))  # $0.96
EIGHT_S_4K = estimate_cost(parse_video_request({"prompt": "x", "duration": 8, "quality": "4k"}))  # $2.2464
UNPRICED = estimate_cost(parse_video_request({"prompt": "x", "model": "veo3.1-pro"}))  # a ceiling: $2.40
NOON = datetime(2026, 3, 14, 12, 30, 15, tzinfo=UTC).timestamp()


def limits(tmp_path: Path, **values: object) -> Settings:
    return service_settings(tmp_path, **values)


ZERO = {"today_usd": 0.0, "last_hour_usd": 0.0, "creates_last_minute": 0}


def spent(today: float = 0.0, hour: float = 0.0, creates: int = 0) -> Spending:
    return Spending(today_usd=today, last_hour_usd=hour, creates_last_minute=creates)


def priced(usd: float) -> CostEstimate:
    return EIGHT_S_1080P.model_copy(update={"usd": usd})


def test_the_estimates_these_tests_use() -> None:
    assert (EIGHT_S_1080P.usd, EIGHT_S_4K.usd, UNPRICED.usd) == (0.96, 2.2464, 2.4)
    assert (EIGHT_S_1080P.known, UNPRICED.known) == (True, False)


# --- the daily budget ---------------------------------------------------------------------------------------------


def test_the_daily_budget_admits_exactly_what_is_left_and_refuses_a_cent_more(tmp_path: Path) -> None:
    settings = limits(tmp_path, daily_budget_usd=2.0)
    guards.check_daily_budget(settings, EIGHT_S_1080P, 1.04)  # 1.04 + 0.96 == 2.00: exactly the budget
    guards.check_daily_budget(settings, priced(0.0), 2.0)  # a free request when all is spent
    with pytest.raises(LimitExceededError) as refused:
        guards.check_daily_budget(settings, EIGHT_S_1080P, 1.05)
    assert refused.value.message == (
        "This request is estimated at $0.96; with $1.05 already committed today (UTC) that passes the daily budget "
        "of $2.00 (VEO_MCP_DAILY_BUDGET). Nothing was sent."
    )
    assert refused.value.advice == "Wait until tomorrow (UTC), ask for a cheaper video, or raise VEO_MCP_DAILY_BUDGET."
    assert refused.value.action == "raise_limit"


def test_the_daily_budget_is_off_unless_set_and_counts_an_unpublished_price_at_its_ceiling(tmp_path: Path) -> None:
    guards.check_daily_budget(limits(tmp_path), priced(1_000.0), 1_000.0)
    guards.check_daily_budget(limits(tmp_path, daily_budget_usd=2.4), UNPRICED, 0.0)  # the ceiling fits exactly
    with pytest.raises(LimitExceededError) as refused:
        guards.check_daily_budget(limits(tmp_path, daily_budget_usd=2.4), UNPRICED, 0.01)
    assert refused.value.message == (
        "This request is estimated at up to $2.40 (EvoLink publishes no price for veo3.1-pro; that is a ceiling); "
        "with $0.01 already committed today (UTC) that passes the daily budget of $2.40 (VEO_MCP_DAILY_BUDGET). "
        "Nothing was sent."
    )


# --- the hourly budget --------------------------------------------------------------------------------------------


def test_the_hourly_budget_admits_exactly_what_is_left_and_says_what_is_left(tmp_path: Path) -> None:
    settings = limits(tmp_path, hourly_budget_usd=10.0)
    guards.check_hourly_budget(settings, EIGHT_S_1080P, 9.04)  # exactly $10.00
    with pytest.raises(LimitExceededError) as refused:
        guards.check_hourly_budget(settings, EIGHT_S_1080P, 9.6)
    assert refused.value.message == (
        "This request is estimated at $0.96, but only $0.40 of the hourly budget of $10.00 is left "
        "(VEO_MCP_HOURLY_BUDGET; $9.60 committed in the last 60 minutes). Nothing was sent."
    )
    assert refused.value.advice == (
        "This brake stops runaway loops. Wait until earlier requests leave the 60-minute window, ask for a cheaper "
        "video, or raise VEO_MCP_HOURLY_BUDGET (0 turns it off) in the server's environment."
    )
    with pytest.raises(LimitExceededError, match=r"only \$0\.00 of the hourly budget"):
        guards.check_hourly_budget(settings, EIGHT_S_1080P, 12.0)  # already past it (another process): $0 left
    with pytest.raises(LimitExceededError, match=r"only \$0\.50 of the hourly budget of \$0\.50"):
        guards.check_hourly_budget(limits(tmp_path, hourly_budget_usd=0.5), EIGHT_S_1080P, 0.0)  # a budget under $1


def test_the_hourly_budget_zero_is_off_and_an_unpublished_price_counts_at_its_ceiling(tmp_path: Path) -> None:
    guards.check_hourly_budget(limits(tmp_path, hourly_budget_usd=0), priced(500.0), 500.0)
    guards.check_hourly_budget(limits(tmp_path, hourly_budget_usd=10.0), UNPRICED, 7.6)  # exactly $10.00
    with pytest.raises(LimitExceededError) as refused:
        guards.check_hourly_budget(limits(tmp_path, hourly_budget_usd=10.0), UNPRICED, 7.61)
    assert refused.value.message.startswith(
        "This request is estimated at up to $2.40 (EvoLink publishes no price for veo3.1-pro; that is a ceiling), "
        "but only $2.39 of the hourly budget of $10.00 is left"
    )


# --- the create rate ----------------------------------------------------------------------------------------------


def test_the_create_rate_admits_the_limit_and_no_more(tmp_path: Path) -> None:
    settings = limits(tmp_path, max_creates_per_minute=3)
    guards.check_create_rate(settings, 2)  # the third of three
    with pytest.raises(LimitExceededError) as refused:
        guards.check_create_rate(settings, 3)
    assert refused.value.message == (
        "3 generations were started in the last 60 seconds; the limit is 3 per minute "
        "(VEO_MCP_MAX_CREATES_PER_MINUTE), so none is left right now. Nothing was sent."
    )
    assert refused.value.advice == (
        "This brake stops runaway loops. Wait a minute and call again, or raise VEO_MCP_MAX_CREATES_PER_MINUTE "
        "(0 turns it off) in the server's environment."
    )
    guards.check_create_rate(limits(tmp_path, max_creates_per_minute=0), 10_000)  # 0: off
    with pytest.raises(LimitExceededError, match="the limit is 1 per minute"):
        guards.check_create_rate(limits(tmp_path, max_creates_per_minute=1), 1)


# --- the per-request cap ------------------------------------------------------------------------------------------


def test_the_per_request_cap_admits_its_own_amount_and_names_both_numbers(tmp_path: Path) -> None:
    settings = limits(tmp_path, max_cost_per_request_usd=0.96)
    guards.check_request_limit(settings, EIGHT_S_1080P)  # exactly the cap
    guards.check_request_limit(limits(tmp_path), EIGHT_S_4K)  # no cap
    guards.check_request_limit(limits(tmp_path), UNPRICED)
    guards.check_request_limit(limits(tmp_path, max_cost_per_request_usd=2.4), UNPRICED)  # its ceiling, exactly
    with pytest.raises(LimitExceededError) as refused:
        guards.check_request_limit(settings, priced(0.97))
    assert refused.value.message == (
        "This request is estimated at $0.97, above the per-request limit of $0.96 (VEO_MCP_MAX_COST_PER_REQUEST). "
        "Nothing was sent."
    )
    assert refused.value.advice == LimitExceededError.default_advice
    with pytest.raises(LimitExceededError) as unknown:
        guards.check_request_limit(settings, UNPRICED)
    assert unknown.value.message == (
        "This request is estimated at up to $2.40 (EvoLink publishes no price for veo3.1-pro; that is a ceiling), "
        "above the per-request limit of $0.96 (VEO_MCP_MAX_COST_PER_REQUEST). Nothing was sent."
    )


# --- all spending limits at once ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spending", "refusal"),
    [
        (spent(today=4.5), "daily budget of $5.00"),
        (spent(hour=2.5), "hourly budget of $3.00"),
        (spent(creates=2), "the limit is 2 per minute"),
        (spent(today=4.04, hour=2.04, creates=1), None),  # each exactly at its limit
    ],
)
def test_check_spending_applies_every_limit(tmp_path: Path, spending: Spending, refusal: str | None) -> None:
    settings = limits(tmp_path, daily_budget_usd=5.0, hourly_budget_usd=3.0, max_creates_per_minute=2)
    if refusal is None:
        guards.check_spending(settings, EIGHT_S_1080P, spending)
        return
    with pytest.raises(LimitExceededError, match=refusal.replace("$", r"\$")):
        guards.check_spending(settings, EIGHT_S_1080P, spending)


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone 10 hours ahead of UTC: local dates and times must not leak into UTC ones."""
    monkeypatch.setenv("TZ", "Etc/GMT-10")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_windows_are_today_in_utc_the_last_hour_and_the_last_minute(far_from_utc: None) -> None:
    midnight = datetime(2026, 3, 14, tzinfo=UTC).timestamp()
    assert guards.start_of_today(NOON) == midnight
    assert guards.start_of_today(NOON + 0.25) == midnight  # a fraction of a second too
    assert guards.start_of_today(midnight) == midnight
    late = datetime(2026, 3, 14, 23, 0, tzinfo=UTC).timestamp()  # already the 15th where this process lives
    assert guards.start_of_today(late) == midnight
    assert guards.windows_at(NOON) == SpendingWindows(day=midnight, hour=NOON - 3600, minute=NOON - 60)


def test_a_standing_no_says_when_in_utc(tmp_path: Path, far_from_utc: None) -> None:
    standing = guards.still_declined(limits(tmp_path, decline_window_s=600), EIGHT_S_4K, NOON, NOON + 60)
    assert " at 12:30:15 UTC;" in standing.message


# --- confirmation ---------------------------------------------------------------------------------------------------


def test_confirmation_is_needed_above_the_threshold_only_and_always_for_an_unknown_price(tmp_path: Path) -> None:
    settings = limits(tmp_path, confirm_above_usd=0.96)
    assert not guards.needs_confirmation(settings, EIGHT_S_1080P)  # exactly the threshold: no question
    assert guards.needs_confirmation(settings, priced(0.97))
    assert guards.needs_confirmation(settings, UNPRICED)
    assert not guards.needs_confirmation(limits(tmp_path, confirm_above_usd=1000), priced(999.99))


def test_the_cost_question_and_the_refusal_say_the_cost_and_the_threshold(tmp_path: Path) -> None:
    settings = limits(tmp_path)  # threshold $2.00
    question = (
        "This video is estimated at $2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s, above the $2.00 "
        "confirmation threshold. Generate it?"
    )
    assert guards.confirmation_question(settings, EIGHT_S_4K) == question
    assert guards.confirmation_question(settings, UNPRICED) == (
        "This video costs at most $2.40 (173 credits): 1 × 4 s at 720p with audio; EvoLink publishes no price for "
        "veo3.1-pro, so it is estimated with the highest published Veo 3.1 price (Google's Veo 3.1 Standard at "
        "4K, $0.60/s), above the $2.00 confirmation threshold. Generate it?"
    )
    closed = guards.dismissed(EIGHT_S_4K)
    assert closed.message == (
        "The cost question ($2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s) was closed without an answer; "
        "nothing was sent."
    )
    assert closed.advice == (
        "Ask the user whether they want it at this cost; calling again with the same arguments asks them again."
    )
    required = guards.confirmation_required(settings, EIGHT_S_4K)
    assert isinstance(required, ConfirmationRequiredError) and required.action == "confirm_cost"
    assert required.message == f"{question} Nothing was sent."
    assert required.advice == (
        "Show the user this cost and ask; if they agree, call generate_video again with the same arguments and "
        "confirm_cost: true (VEO_MCP_CONFIRM_ABOVE sets the threshold)."
    )


def test_a_no_and_a_standing_no_are_refusals_that_say_what_to_do(tmp_path: Path) -> None:
    no = guards.declined(EIGHT_S_4K)
    assert no.message == (
        "The user did not confirm the cost ($2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s); "
        "nothing was sent."
    )
    assert no.advice == "Ask what they would like instead, e.g. a shorter or lower-quality video (estimate_cost)."
    settings = limits(tmp_path, decline_window_s=600)
    standing = guards.still_declined(settings, EIGHT_S_4K, declined_at=NOON, now=NOON + 150)
    assert standing.message == (
        "The user declined this exact request ($2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s) at "
        "12:30:15 UTC; it stays declined for about 8 more minute(s) and was not sent or asked again."
    )
    assert standing.advice == (
        "Ask the user what they want instead (a shorter, lower-quality or different video); a changed request is "
        "asked about afresh (VEO_MCP_DECLINE_WINDOW sets how long a no stands)."
    )
    assert "about 1 more minute(s)" in guards.still_declined(settings, EIGHT_S_4K, NOON, NOON + 599).message
    assert isinstance(standing, ConfirmationRequiredError)


def test_a_fingerprint_is_the_hash_of_the_normalized_payload() -> None:
    payload = {"prompt": "é", "model": FAST, "duration": 8}
    canonical = '{"duration":8,"model":"veo-3.1-fast-generate-preview","prompt":"é"}'
    assert guards.fingerprint(payload) == hashlib.sha256(canonical.encode()).hexdigest()
    assert guards.fingerprint(dict(reversed(payload.items()))) == guards.fingerprint(payload)
    assert guards.fingerprint({**payload, "duration": 6}) != guards.fingerprint(payload)


# --- batches: one question and the budgets for the total -------------------------------------------------------------


def test_a_batch_is_asked_about_once_for_its_total(tmp_path: Path) -> None:
    settings = limits(tmp_path)
    total = EIGHT_S_4K.model_copy(update={"usd": 6.7392, "summary": "$6.7392 for 3 videos"})
    question = guards.batch_confirmation_question(settings, total, 3)
    assert question == (
        "This batch of 3 generations is estimated at $6.7392 for 3 videos in total, above the $2.00 confirmation "
        "threshold. Generate all of them?"
    )
    required = guards.confirmation_required(settings, total, question, "generate_batch")
    assert required.message == f"{question} Nothing was sent."
    assert required.advice == (
        "Show the user this cost and ask; if they agree, call generate_batch again with the same arguments and "
        "confirm_cost: true (VEO_MCP_CONFIRM_ABOVE sets the threshold)."
    )


@pytest.mark.parametrize(
    ("spending", "refusal"),
    [
        (spent(today=1.04), None),  # each budget exactly reached
        (spent(today=1.05), "daily budget of $2.00"),
        (spent(hour=0.05), "hourly budget of $1.00"),
        (spent(creates=50), None),  # a batch waits its turn for the create rate; only budgets refuse it up front
    ],
)
def test_a_batch_total_meets_the_daily_and_hourly_budgets(
    tmp_path: Path, spending: Spending, refusal: str | None
) -> None:
    settings = limits(tmp_path, daily_budget_usd=2.0, hourly_budget_usd=1.0, max_creates_per_minute=1)
    total = priced(0.96)
    if refusal is None:
        guards.check_batch_budgets(settings, total, spending)
        return
    with pytest.raises(LimitExceededError, match=refusal.replace("$", r"\$")):
        guards.check_batch_budgets(settings, total, spending)


def test_a_server_budget_counts_every_users_spending_and_says_who_can_raise_it(tmp_path: Path) -> None:
    settings = limits(tmp_path, server_hourly_budget_usd=2.0, daily_budget_usd=None)
    mine_alone = Spending(today_usd=0, last_hour_usd=0, creates_last_minute=0, server_last_hour_usd=1.04)
    guards.check_spending(settings, EIGHT_S_1080P, mine_alone)  # exactly the server's $2.00
    everyone = mine_alone.model_copy(update={"server_last_hour_usd": 1.05})
    with pytest.raises(LimitExceededError) as refused:
        guards.check_spending(settings, EIGHT_S_1080P, everyone)
    assert refused.value.message == (
        "This request is estimated at $0.96, but only $0.95 is left of this server's hourly budget of $2.00, which "
        "every user of the server shares (VEO_MCP_SERVER_HOURLY_BUDGET; $1.05 committed by all users in the last "
        "60 minutes). Nothing was sent."
    )
    assert "Only the server's operator can raise VEO_MCP_SERVER_HOURLY_BUDGET" in (refused.value.advice or "")
    with pytest.raises(LimitExceededError, match="VEO_MCP_SERVER_DAILY_BUDGET"):
        guards.check_spending(limits(tmp_path, server_daily_budget_usd=1.0), UNPRICED, mine_alone)


def test_the_server_budgets_say_whose_spending_and_which_window(tmp_path: Path) -> None:
    settings = limits(tmp_path, server_daily_budget_usd=2.0, server_hourly_budget_usd=1.5)
    with pytest.raises(LimitExceededError) as daily:
        guards.check_server_budgets(settings, EIGHT_S_1080P, Spending(**{**ZERO, "server_today_usd": 1.5}))
    assert daily.value.message == (
        "This request is estimated at $0.96, but only $0.50 is left of this server's daily budget of "
        "$2.00, which every user of the server shares (VEO_MCP_SERVER_DAILY_BUDGET; $1.50 committed by all users "
        "today (UTC)). Nothing was sent."
    )
    with pytest.raises(LimitExceededError) as hourly:
        guards.check_server_budgets(settings, EIGHT_S_1080P, Spending(**{**ZERO, "server_last_hour_usd": 1.0}))
    assert "hourly budget of $1.50" in hourly.value.message
    assert "$1.00 committed by all users in the last 60 minutes" in hourly.value.message
    guards.check_server_budgets(settings, EIGHT_S_1080P, Spending(**{**ZERO, "server_today_usd": 1.04}))  # fits


def test_a_batch_of_unpriced_models_is_asked_about_as_a_ceiling_not_an_estimate(tmp_path: Path) -> None:
    total = UNPRICED.model_copy(update={"usd": 7.2, "summary": "at most $7.20 for 3 videos"})
    assert guards.batch_confirmation_question(limits(tmp_path), total, 3) == (
        "This batch of 3 generations costs at most $7.20 for 3 videos, above the $2.00 confirmation threshold. "
        "Generate all of them?"
    )
