from __future__ import annotations

import pytest

from tests.registry.memory_store import DictArtifactStore


@pytest.fixture
def dict_store() -> DictArtifactStore:
    return DictArtifactStore()
