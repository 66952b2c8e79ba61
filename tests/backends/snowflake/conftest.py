"""Fake Snowflake for the warehouse tests: fakesnow patches the connector, so the real SnowflakeHook runs on DuckDB
(with the connector's Arrow batches and a record of the statements run: tests/snowflake_standin.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import snowflake_standin
from snowflake_standin import extend_fakesnow

from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore

CONN_ID = "snowflake_test"


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
    extend_fakesnow(monkeypatch)
    # REMOVE and COPY INTO <stage> (unload) are not implemented by fakesnow: it acknowledges them unrun
    with fakesnow.patch(nop_regexes=[r"^REMOVE '@", r"^COPY INTO '@"]):
        conn = snowflake.connector.connect(database="analytics", schema="features")
        with conn.cursor() as cursor:
            yield cursor
        conn.close()


@pytest.fixture
def snowflake_conn_id(fake_snowflake: Any) -> str:
    return CONN_ID


@pytest.fixture
def store() -> FilesystemArtifactStore:
    return FilesystemArtifactStore()


@pytest.fixture
def dest(tmp_path: Path) -> str:
    """Where the operator would put the raw extract (a file:// run URI)."""
    return f"file://{tmp_path}/artifacts/demand/runs/manual__2024-03-01/data/raw.parquet"


@pytest.fixture
def executed_sql(fake_snowflake: Any) -> list[str]:
    """The statements run on fake Snowflake so far in this test."""
    return snowflake_standin.EXECUTED
