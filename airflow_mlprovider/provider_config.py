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


#: executors that run every task on the scheduler's own machine
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


def remote_executor() -> str | None:
    """The first executor of `[core] executor` that may run a task on another machine (None: all are local).

    Entries are names, class paths or `alias:class path`, comma-separated."""
    for entry in conf.get("core", "executor", fallback="LocalExecutor").split(","):
        name = entry.split(":")[-1].strip().rsplit(".", 1)[-1]
        if name and name not in LOCAL_EXECUTORS:
            return name
    return None


def require_shared_path(location: str, setting: str) -> None:
    """Refuse a local path (`setting` = `location`) when workers on other machines could not see it.

    A registry on one worker's disk looks empty from another worker: the run would go on, wrongly, instead of
    failing. Allowed when `[mlprovider] shared_filesystem` says every worker mounts the same file system."""
    executor = remote_executor()
    if executor is None or conf.getboolean(SECTION, "shared_filesystem", fallback=False):
        return
    raise ValueError(
        f"{setting} {location} is a path on this worker's disk, but [core] executor {executor} may run the next "
        f"task on another machine, which would not see it. Set {setting} to s3://bucket/... (or use a Snowflake "
        "warehouse), or, if every worker mounts this path from shared storage (NFS, EFS), set [mlprovider] "
        "shared_filesystem = True (docs/deploy.md)"
    )
