"""dbt profiles from the warehouse: DuckDB from its path, Snowflake from an Airflow connection (AIRFLOW_CONN_*)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlprovider.spec.model import Warehouse
from airflow_mlprovider.transforms.build_runner import run_dbt_build
from airflow_mlprovider.transforms.profiles import profile_for, snowflake_profile
from tests.transforms.seeded_warehouse import EXAMPLE_PROJECT

CONN_ID = "snowflake_dbt"


def set_connection(monkeypatch: pytest.MonkeyPatch, password: str = "pw-of-ml-user", **extra: Any) -> None:
    conn = {
        "conn_type": "snowflake",
        "login": "ml_user",
        "password": password,
        "schema": "features",
        "extra": {"account": "xy12345", "database": "analytics", "warehouse": "ml_wh", "role": "ml_role", **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


def test_snowflake_profile_with_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch)

    profile = profile_for(Warehouse(type="snowflake", conn_id=CONN_ID), target="prod")

    assert profile == {
        "target": "prod",
        "outputs": {
            "prod": {
                "type": "snowflake",
                "account": "xy12345",
                "user": "ml_user",
                "password": "pw-of-ml-user",
                "role": "ml_role",
                "database": "analytics",
                "warehouse": "ml_wh",
                "schema": "features",
                "threads": 4,
            }
        },
    }


def test_snowflake_profile_with_a_private_key_that_dbt_can_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from dbt.adapters.snowflake.auth import private_key_from_string

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key-passphrase"),
    ).decode()
    # the provider's convention: the key in private_key_content, its passphrase in the password
    set_connection(monkeypatch, password="key-passphrase", private_key_content=pem, region="eu-west-1")

    output = snowflake_profile(CONN_ID)["outputs"]["mlprovider"]

    assert "password" not in output
    assert output["account"] == "xy12345.eu-west-1"
    assert output["private_key_passphrase"] == "key-passphrase"
    loaded = private_key_from_string(output["private_key"], output["private_key_passphrase"])
    assert loaded.private_numbers() == key.private_numbers()


def test_the_provider_s_base64_private_key_content_is_mapped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """apache-airflow-providers-snowflake >= 6.3 stores private_key_content base64-encoded."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from dbt.adapters.snowflake.auth import private_key_from_string

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    set_connection(monkeypatch, password="", private_key_content=base64.b64encode(pem).decode())

    output = snowflake_profile(CONN_ID)["outputs"]["mlprovider"]

    assert private_key_from_string(output["private_key"]).private_numbers() == key.private_numbers()


def test_profiles_use_no_private_api() -> None:
    """The hook's _get_conn_params() is private: a provider release may change it without notice."""
    import ast
    import inspect

    from airflow_mlprovider.transforms import profiles

    private = [
        node.attr for node in ast.walk(ast.parse(inspect.getsource(profiles)))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
    ]
    assert private == []


def test_a_connection_without_account_or_database_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, account="", database="")

    with pytest.raises(ValueError, match=r"'snowflake_dbt' cannot be mapped to a dbt profile: .*account, database"):
        snowflake_profile(CONN_ID)


def test_duckdb_profile_and_missing_settings() -> None:
    profile = profile_for(Warehouse(type="duckdb", path="/data/warehouse.duckdb"))

    assert profile == {
        "target": "mlprovider",
        "outputs": {
            "mlprovider": {
                "type": "duckdb", "path": "/data/warehouse.duckdb", "schema": "main", "threads": 1, "keep_open": False
            }
        },
    }  # fmt: skip
    with pytest.raises(ValueError, match="warehouse.path is required"):
        profile_for(Warehouse(type="duckdb"))
    with pytest.raises(ValueError, match="warehouse.conn_id is required"):
        profile_for(Warehouse(type="snowflake"))


def test_dbt_snowflake_builds_the_example_project_on_fakesnow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The profile comes from the Airflow connection; dbt-snowflake's own connector talks to fakesnow's server."""
    import fakesnow
    import snowflake.connector

    with fakesnow.server() as server:
        set_connection(monkeypatch, host=server["host"], port=server["port"])
        with snowflake.connector.connect(database="analytics", schema="features", **server) as conn:
            conn.cursor().execute(
                "CREATE TABLE sales AS SELECT DATEADD(day, seq4(), '2024-01-01'::DATE) AS day, 'north' AS store, "
                "2.5 AS price, FALSE AS promo, 100 + seq4() AS units_sold FROM TABLE(GENERATOR(ROWCOUNT => 30))"
            )
        profile = snowflake_profile(CONN_ID)
        assert profile["outputs"]["mlprovider"]["host"] == "127.0.0.1"
        # the stand-in speaks http only (real Snowflake: https, the default)
        profile["outputs"]["mlprovider"]["protocol"] = "http"

        results = run_dbt_build(EXAMPLE_PROJECT, None, None, profile)

        with snowflake.connector.connect(database="analytics", schema="features", **server) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT units_lag_7 FROM sales_features ORDER BY day")
            lags = [row[0] for row in cursor.fetchall()]
    assert {node.status for node in results} == {"success", "pass"}
    assert lags == [None] * 7 + list(range(100, 123))
