"""Fake Snowflake for the warehouse tests: fakesnow patches the connector, so the real SnowflakeHook runs on DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends.snowflake.snowflake_testing import CONN_ID, FolderStore


@pytest.fixture
def fake_snowflake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An Airflow connection `snowflake_test` (from the environment) to a fresh fake Snowflake; yields a cursor."""
    import fakesnow
    import snowflake.connector

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "snowflake",
                "login": "ml_user",
                "password": "not-a-secret",
                "schema": "features",
                "extra": {"account": "test_account", "database": "analytics", "warehouse": "ml_wh", "role": "ml_role"},
            }
        ),
    )
    # REMOVE and COPY INTO <stage> (unload) are not implemented by fakesnow: it acknowledges them unrun
    with fakesnow.patch(nop_regexes=[r"^REMOVE '@", r"^COPY INTO '@"]):
        conn = snowflake.connector.connect(database="analytics", schema="features")
        with conn.cursor() as cursor:
            yield cursor
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "store")
