"""The embedded warehouse waits for another process's DuckDB lock instead of failing at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from airflow_mlprovider.backends.local.duckdb_lock import is_lock_conflict, waiting_for_lock
from airflow_mlprovider.backends.local.duckdb_warehouse import DuckDBWarehouse
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.spec.model import Warehouse

HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])  # read-write: other processes can neither write nor read
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_extract_waits_for_a_writer_in_another_process(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(10)")
    holder = _hold_lock(db, 2.0)
    try:
        result = DuckDBWarehouse(Warehouse(type="duckdb", path=str(db))).extract(
            "SELECT x FROM t WHERE x < ?", [5], (tmp_path / "out.parquet").as_uri(), FilesystemArtifactStore()
        )
    finally:
        holder.wait(timeout=30)
    assert result.rows == 5


def test_only_lock_conflicts_are_retried_and_only_until_the_deadline() -> None:
    calls, sleeps = [], []

    def locked() -> None:
        calls.append(1)
        raise duckdb.IOException('IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held')

    with pytest.raises(duckdb.IOException):
        waiting_for_lock(locked, "test", timeout_s=3.0, sleep=sleeps.append)
    assert len(calls) >= 2 and all(s <= 15 for s in sleeps)

    def broken() -> None:
        calls.append(1)
        raise ValueError("syntax error")

    calls.clear()
    with pytest.raises(ValueError):
        waiting_for_lock(broken, "test", sleep=sleeps.append)
    assert calls == [1]


def test_a_lock_conflict_is_recognised_through_a_wrapping_error() -> None:
    try:
        try:
            raise duckdb.IOException("IO Error: Could not set lock on file x")
        except duckdb.IOException as inner:
            raise RuntimeError("dbt build could not run") from inner
    except RuntimeError as outer:
        assert is_lock_conflict(outer)
    assert not is_lock_conflict(RuntimeError("another problem"))
