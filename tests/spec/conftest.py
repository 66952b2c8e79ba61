from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_defaults_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLPROVIDER_DEFAULTS_FILE from the developer's shell must not change what these tests load."""
    monkeypatch.delenv("MLPROVIDER_DEFAULTS_FILE", raising=False)
