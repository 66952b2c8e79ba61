"""dbt profiles rendered from the spec's warehouse: DuckDB from its path, Snowflake from the Airflow connection.

A profile here is dbt's per-project mapping {"target": name, "outputs": {name: {...}}}; the runner writes it
to a private, temporary profiles.yml. Credentials never come from the spec.
"""

from __future__ import annotations

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
    """dbt-snowflake from the Airflow connection `conn_id`, through astronomer-cosmos's profile mappings.

    Cosmos picks the mapping that claims the connection (user/password, private key content or file, with or
    without a passphrase) and maps its fields and extras as the Snowflake provider defines them. Cosmos refers to
    secrets as env_var() for its own runs; here they are written into the private profiles.yml the runner keeps
    for one build, so no secret enters the environment.
    """
    from cosmos.profiles import get_automatic_profile_mapping

    try:
        mapping = get_automatic_profile_mapping(conn_id, {"threads": threads})
    except ValueError:
        raise ValueError(
            f"Airflow connection {conn_id!r} cannot be mapped to a dbt profile: a Snowflake connection needs "
            "login (user), schema, the extras account, database and warehouse, and a password or private key"
        ) from None
    if mapping.dbt_profile_type != "snowflake":
        raise ValueError(f"Airflow connection {conn_id!r} is not a Snowflake connection ({mapping.dbt_profile_type})")
    output = dict(mapping.profile)
    secrets = mapping.env_vars
    for field in mapping.secret_fields:
        if output.get(field) == mapping.get_env_var_format(field):
            output[field] = secrets[mapping.get_env_var_name(field)]
    return _single_output(target, output)


def _single_output(target: str | None, output: dict[str, Any]) -> dict[str, Any]:
    name = target or DEFAULT_TARGET
    return {"target": name, "outputs": {name: output}}
