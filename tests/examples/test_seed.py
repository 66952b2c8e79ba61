from __future__ import annotations

from pathlib import Path

import duckdb

from airflow_mlprovider.examples.seed import SALES_FIRST_DAY, SALES_LAST_DAY, STORES, seed_warehouse


def _contents(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("sales", "tumors")}


def test_seeding_twice_gives_the_same_rows_and_replaces_the_tables(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "w.duckdb", tmp_path / "b" / "w.duckdb"
    counts = seed_warehouse(str(first))
    assert seed_warehouse(str(first)) == counts  # replaced, not appended
    seed_warehouse(str(second))
    assert _contents(first) == _contents(second)
    days = (SALES_LAST_DAY - SALES_FIRST_DAY).days + 1
    assert counts == {"sales": days * len(STORES), "tumors": 569}


def test_tables_have_the_columns_the_example_specs_select(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    seed_warehouse(str(path))
    with duckdb.connect(str(path), read_only=True) as con:
        sales = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sales'").fetchall())
        tumors = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'tumors'").fetchall()]
        one_per_store_day = con.execute("SELECT count(*) = count(DISTINCT (day, store)) FROM sales").fetchone()[0]
        malignant_share = con.execute("SELECT avg(malignant) FROM tumors").fetchone()[0]
    assert sales == {"day": "DATE", "store": "VARCHAR", "price": "DOUBLE", "promo": "BOOLEAN", "units_sold": "BIGINT"}
    assert tumors[:3] == ["id", "received_at", "mean_radius"] and tumors[-1] == "malignant" and len(tumors) == 33
    assert one_per_store_day
    assert 0.3 < malignant_share < 0.45  # sklearn's data: 212 malignant of 569
