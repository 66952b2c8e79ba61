"""Create the demo warehouse tables `sales` and `tumors`: the same rows every time, replacing what is there.

    python -m airflow_mlprovider.examples.seed .demo/warehouse.duckdb
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

SALES_FIRST_DAY = dt.date(2024, 1, 1)
SALES_LAST_DAY = dt.date(2025, 12, 31)
STORES = {"north": 120.0, "center": 200.0, "south": 80.0}  # store -> typical units per day
TUMORS_RECEIVED_FROM = dt.date(2024, 1, 1)
TUMORS_RECEIVED_DAYS = 730
_SEED = 20240101


def sales_frame() -> Any:
    """Daily units sold per store: yearly season, weekends, promotions, price elasticity, trend and noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(_SEED)
    days = pd.date_range(SALES_FIRST_DAY, SALES_LAST_DAY, freq="D")
    frames = []
    for store, level in STORES.items():
        n = len(days)
        promo = rng.random(n) < 0.15
        price = np.round(level / 20 * (1 - 0.2 * promo) * rng.normal(1.0, 0.03, n), 2)
        season = 1 + 0.3 * np.sin(2 * np.pi * (days.day_of_year.to_numpy() - 80) / 365.25)
        weekend = np.where(days.day_of_week.to_numpy() >= 5, 1.3, 1.0)
        trend = 1 + 0.1 * np.arange(n) / n
        expected = level * season * weekend * trend * (1 + 0.5 * promo) * (level / 20 / price) ** 0.8
        units = np.maximum(0, np.round(expected + rng.normal(0, 0.08 * level, n))).astype("int64")
        frames.append(
            pd.DataFrame({"day": days.date, "store": store, "price": price, "promo": promo, "units_sold": units})
        )
    return pd.concat(frames, ignore_index=True)


def tumors_frame() -> Any:
    """scikit-learn's bundled breast cancer biopsies with an `id`, a synthetic `received_at` and `malignant` 0/1."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    features = bunch.data.rename(columns=lambda name: name.replace(" ", "_"))
    n = len(features)
    received = [TUMORS_RECEIVED_FROM + dt.timedelta(days=i * TUMORS_RECEIVED_DAYS // n) for i in range(n)]
    head = pd.DataFrame({"id": range(1, n + 1), "received_at": received})
    # sklearn codes malignant as 0; the model predicts the probability of malignancy, so flip it
    label = pd.DataFrame({"malignant": (bunch.target == 0).astype("int64")})
    return pd.concat([head, features, label], axis=1)


def seed_warehouse(path: str) -> dict[str, int]:
    """Create or replace the `sales` and `tumors` tables in the DuckDB file at `path`; returns rows per table."""
    import duckdb

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tables = {"sales": sales_frame(), "tumors": tumors_frame()}
    with duckdb.connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        for name, frame in tables.items():
            con.register("seed_rows", frame)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM seed_rows")
            con.unregister("seed_rows")
        con.execute("COMMIT")
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in tables}


if __name__ == "__main__":
    print(seed_warehouse(sys.argv[1]))
