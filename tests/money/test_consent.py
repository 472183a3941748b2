"""The confirmation step of the generate pipeline: above the threshold only the user's own answer counts where a
client could ask them, `confirm_cost` counts only where nobody could ask, and a no is remembered."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import running_harness
from veo_mcp.core.pipeline import Consent
from veo_mcp.evolink import parse_video_request
from veo_mcp.money import guards
from veo_mcp.money.guards import ConfirmationRequiredError

pytestmark = pytest.mark.legacy_era  # the pipeline itself, no MCP session: once is enough

COSTLY = parse_video_request({"prompt": "a glacier calving", "quality": "4k", "duration": 8})  # $2.2464
CHEAP = parse_video_request({"prompt": "a leaf falling", "duration": 4})  # $0.48
ASKED = (
    "This video is estimated at $2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s, above the $2.00 "
    "confirmation threshold. Generate it? Nothing was sent."
)
DECLINED = (
    "The user did not confirm the cost ($2.25 (162 credits): 1 × 8 s at 4k with audio, $0.2808/s); nothing was sent."
)


@pytest.mark.parametrize(
    ("consent", "confirm_cost", "refusal"),
    [
        ("given", False, None),
        ("given", True, None),
        ("unasked", True, None),
        ("unasked", False, ASKED),
        ("declined", False, DECLINED),
        ("declined", True, DECLINED),  # the model cannot say yes for a user who said no
    ],
)
async def test_above_the_threshold_the_answer_decides(
    tmp_path: Path, consent: Consent, confirm_cost: bool, refusal: str | None
) -> None:
    async with running_harness(tmp_path) as harness:
        parts = harness.app.parts
        if refusal is None:
            created = await parts.pipeline.generate(COSTLY, consent=consent, confirm_cost=confirm_cost)
            assert created.reused is None and created.generation.estimate is not None
            assert created.generation.estimate.usd == pytest.approx(2.2464)
        else:
            with pytest.raises(ConfirmationRequiredError) as refused:
                await parts.pipeline.generate(COSTLY, consent=consent, confirm_cost=confirm_cost)
            assert refused.value.message == refusal
        declined_at = await parts.store.declined_since(guards.fingerprint(COSTLY.to_api_payload()), 0)
    assert (declined_at is not None) is (consent == "declined")  # a no is remembered, nothing else is
    assert harness.ledger()["requests"]["create"] == (1 if refusal is None else 0)


@pytest.mark.parametrize("consent", ["unasked", "declined", "given"])
async def test_below_the_threshold_nobody_is_asked_and_nothing_is_refused(tmp_path: Path, consent: Consent) -> None:
    async with running_harness(tmp_path) as harness:
        created = await harness.app.parts.pipeline.generate(CHEAP, consent=consent)
        declined_at = await harness.app.parts.store.declined_since(guards.fingerprint(CHEAP.to_api_payload()), 0)
    assert created.reused is None and declined_at is None
    assert harness.ledger()["requests"]["create"] == 1
