"""The SQL of a large extract: unload an already-run query's result with COPY INTO to an external S3 stage.

The extract query runs once; its row count decides between streaming and unloading, and the unload reads the
same result back with RESULT_SCAN(<query id>) (Snowflake keeps a result for 24 hours), cast and renamed to the
schema the streamed path writes. Pure string building, no connection. The stage name and the query id are not
bindable, so they are validated instead.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

#: extracts above this many rows are unloaded when the spec sets unload_stage but no threshold
DEFAULT_UNLOAD_THRESHOLD_ROWS = 1_000_000

#: Snowflake's recommended Parquet file size for unloads (bytes); many files let readers work in parallel
MAX_FILE_SIZE_BYTES = 256 * 1024 * 1024

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]*"
_STAGE_NAME = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER}){{0,2}}$")
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9_.=/-]+")
_QUERY_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


def validate_stage(stage: str) -> str:
    """The stage name, without a leading '@'; only unquoted [database.][schema.]name identifiers are allowed."""
    name = stage.removeprefix("@")
    if not _STAGE_NAME.match(name):
        raise ValueError(
            f"warehouse.unload_stage {stage!r} is not a stage name: use [database.][schema.]name "
            f"made of letters, digits, _ and $ (unquoted identifiers)"
        )
    return name


def unload_prefix(dest_uri: str) -> str:
    """The folder under the stage for this extract: dest_uri's path without its extension, ending in '/'.

    It is derived from the run's destination, so a retried task unloads to the same place.
    """
    path = urlparse(dest_uri).path.strip("/")
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    return _UNSAFE_PATH_CHARS.sub("_", stem) + "/"


def result_scan_sql(query_id: str, select_list: str) -> str:
    """The result of query `query_id`, read again without running the query: SELECT <select_list> FROM it."""
    if not _QUERY_ID.match(query_id):
        raise ValueError(f"not a Snowflake query id: {query_id!r}")
    return f"SELECT {select_list} FROM TABLE(RESULT_SCAN('{query_id}'))"


def show_stage_sql(stage: str) -> tuple[str, list[str]]:
    """SHOW STAGES for `stage`, and its bound LIKE pattern (the schema scope is an identifier, validated)."""
    *scope, name = validate_stage(stage).split(".")
    return f"SHOW STAGES LIKE %s IN SCHEMA {'.'.join(scope)}".rstrip(), [name]


def stage_location(stage: str, prefix: str) -> str:
    """The quoted stage location of an unload: '@stage/prefix/' (quoted: run keys may hold '=' and '.')."""
    return f"'@{validate_stage(stage)}/{prefix}'"


def remove_sql(stage: str, prefix: str) -> str:
    """Delete an earlier attempt's files: OVERWRITE only replaces files of the same name."""
    return f"REMOVE {stage_location(stage, prefix)}"


def copy_into_sql(query_id: str, select_list: str, stage: str, prefix: str) -> str:
    """Unload query `query_id`'s result, through `select_list`, as Parquet files (with column names) under
    @stage/prefix/."""
    return (
        f"COPY INTO {stage_location(stage, prefix)} FROM ({result_scan_sql(query_id, select_list)}) "
        f"FILE_FORMAT = (TYPE = PARQUET) HEADER = TRUE OVERWRITE = TRUE "
        f"MAX_FILE_SIZE = {MAX_FILE_SIZE_BYTES}"
    )
