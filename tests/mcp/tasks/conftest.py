"""Task tests choose their eras: those that read tasks on each era ask for the `era` fixture; those that create
tasks (2026-07-28 only for the SDK client) and check what was asked or created run once."""

import pytest


@pytest.fixture(autouse=True)
def _both_eras() -> None:
    """Overrides tests/mcp's autouse fixture: asking for `era` is explicit here."""
