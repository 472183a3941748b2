"""Independent clients in their own processes: the era is theirs to negotiate, so these tests run once."""

import pytest


@pytest.fixture(autouse=True)
def _both_eras() -> None:
    """Overrides tests/mcp's autouse fixture (each client here speaks the era it speaks)."""
