"""Typed readers of the provider's `[mlprovider]` Airflow config options (declared in get_provider_info)."""

from __future__ import annotations

from airflow.sdk import conf

from airflow_mlprovider.get_provider_info import CONFIG_OPTIONS

SECTION = "mlprovider"


def defaults_file() -> str | None:
    """`[mlprovider] defaults_file`: one defaults file for every spec folder (None: the one beside the specs)."""
    return conf.get(SECTION, "defaults_file", fallback=CONFIG_OPTIONS["defaults_file"]["default"]) or None


def endpoint_conn_id() -> str:
    """`[mlprovider] endpoint_conn_id`: the endpoint server's connection for specs that name none."""
    return conf.get(SECTION, "endpoint_conn_id", fallback=CONFIG_OPTIONS["endpoint_conn_id"]["default"])
