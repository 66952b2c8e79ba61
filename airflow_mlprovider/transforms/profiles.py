"""dbt profiles rendered from the spec's warehouse: DuckDB from its path, Snowflake from the Airflow connection.

A profile here is dbt's per-project mapping {"target": name, "outputs": {name: {...}}}; the runner writes it
to a private, temporary profiles.yml. Credentials never come from the spec.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_mlprovider.spec.model import Warehouse

#: the output name when the spec's data.dbt has no target
DEFAULT_TARGET = "mlprovider"


def profile_for(warehouse: Warehouse, target: str | None = None) -> dict[str, Any]:
    """The dbt profile that builds into the spec's warehouse."""
    if warehouse.type == "snowflake":
        if not warehouse.conn_id:
            raise ValueError("warehouse.conn_id is required for warehouse type 'snowflake' (an Airflow connection id)")
        return snowflake_profile(warehouse.conn_id, target)
    if not warehouse.path:
        raise ValueError("warehouse.path is required for warehouse type 'duckdb' (the database file)")
    return duckdb_profile(warehouse.path, target)


def duckdb_profile(path: str, target: str | None = None) -> dict[str, Any]:
    """dbt-duckdb into the database file at `path`, schema main (where the extract SQL finds the models).

    keep_open false: dbt-duckdb otherwise holds the file (and its write lock) open after the build returns,
    and the extract that follows cannot open it read-only.
    """
    output = {"type": "duckdb", "path": path, "schema": "main", "threads": 1, "keep_open": False}
    return _single_output(target, output)


def snowflake_profile(conn_id: str, target: str | None = None, threads: int = 4) -> dict[str, Any]:
    """dbt-snowflake with the account, user, key or password, role, database, warehouse and schema of `conn_id`."""
    from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

    # the hook resolves the connection's fields and extras (and loads the private key) as its own connections do
    params = SnowflakeHook(snowflake_conn_id=conn_id)._get_conn_params()
    missing = [key for key in ("account", "user", "database", "schema") if not params.get(key)]
    if missing:
        raise ValueError(
            f"Airflow connection {conn_id!r} lacks {', '.join(missing)} for dbt: set login (user), "
            f"schema, and the extras account and database"
        )
    account = f"{params['account']}.{params['region']}" if params.get("region") else params["account"]
    output: dict[str, Any] = {
        "type": "snowflake",
        "account": account,
        "user": params["user"],
        "database": params["database"],
        "schema": params["schema"],
        "threads": threads,
    }
    for key in ("role", "warehouse", "host", "port"):
        if params.get(key):
            output[key] = params[key]
    if params.get("private_key"):
        # the hook gives the key as unencrypted DER; dbt-snowflake takes that base64-encoded
        output["private_key"] = base64.b64encode(params["private_key"]).decode()
    elif params.get("authenticator") == "oauth":
        output.update(authenticator="oauth", token=params["token"])
    else:
        output["password"] = params["password"]
        if params.get("authenticator") not in (None, "", "snowflake"):
            output["authenticator"] = params["authenticator"]
    return _single_output(target, output)


def _single_output(target: str | None, output: dict[str, Any]) -> dict[str, Any]:
    name = target or DEFAULT_TARGET
    return {"target": name, "outputs": {name: output}}
