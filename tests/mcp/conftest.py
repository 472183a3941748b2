"""Every test here runs on both protocol eras (see the `era` fixture)."""

import pytest


@pytest.fixture(autouse=True)
def _both_eras(era: str) -> str:
    return era
