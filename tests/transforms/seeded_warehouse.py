"""A copy of the demo's seeded DuckDB warehouse (the `sales` table of examples/seed.py) for dbt tests."""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path

EXAMPLE_PROJECT = str(Path(__file__).resolve().parents[2] / "dag_specs" / "dbt")


@cache
def _seeded_original() -> Path:
    from airflow_mlprovider.examples.seed import seed_warehouse

    path = Path(tempfile.mkdtemp(prefix="mlprovider-seeded-")) / "warehouse.duckdb"
    seed_warehouse(str(path))
    return path


def seeded_copy(folder: Path) -> str:
    """A fresh copy of the seeded warehouse in `folder` (seeded once per test session)."""
    target = folder / "warehouse.duckdb"
    shutil.copyfile(_seeded_original(), target)
    return str(target)
