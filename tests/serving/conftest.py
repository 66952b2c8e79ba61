"""Fixtures: two tiny model artifacts and a real server on a free 127.0.0.1 port."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_mlprovider.serving.server import EndpointServer
from tests.serving.serving_testing import TOKEN, make_artifact


@pytest.fixture
def artifacts(tmp_path: Path) -> dict[str, Path]:
    return {"champion": make_artifact(tmp_path / "champion", 2.0), "candidate": make_artifact(tmp_path / "candidate", 3.0)}


@pytest.fixture
def server() -> EndpointServer:
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, seed=7) as running:
        yield running
