"""Whole generated DAGs with dag.test() against a running local endpoint server under live traffic:
a faulty candidate is rolled back (the champion serves 100 %), a good one completes and becomes champion."""

from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from tests.integration.conftest import build, edit_spec, states

MODEL = "demand_forecast"
ENDPOINT = "demand-forecast"


class Traffic:
    """Requests from the warehouse's rows, sent continuously until stopped; tallies (status, variant)."""

    def __init__(self, url: str, rows: list[dict]) -> None:
        from airflow_mlprovider.serving.client import EndpointClient

        self.client, self.rows, self.seen = EndpointClient(url, timeout_s=10), rows, Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(2)]

    def _loop(self, offset: int) -> None:
        i = offset
        while not self.stop.wait(0.01):
            status, variant, _ = self.client.invoke(ENDPOINT, self.rows[i % len(self.rows)])
            self.seen[(status, variant)] += 1
            i += 2

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def _rows(warehouse: str) -> list[dict]:
    import duckdb

    with duckdb.connect(warehouse, read_only=True) as con:
        df = con.execute("SELECT strftime(day, '%Y-%m-%d') AS day, store, price, promo FROM sales LIMIT 400").df()
    return df.to_dict(orient="records")


def _configure(*, max_iter: int, fault_injection: float = 0.0):
    def edit(doc: dict) -> None:
        doc["code"]["params"] = {"max_iter": max_iter, "learning_rate": 0.1}
        doc["promote"] = {"min_relative_improvement": 0}
        doc["serving"] = {"endpoint": ENDPOINT, "fault_injection": fault_injection}
        # A fast policy for a test: two steps, checks every second, small minimum counts, and a tolerance of one
        # error-rate point (no error-free champion needs thousands of requests to show its rate is negligible;
        # a candidate failing half its requests is still far beyond it).
        doc["rollout"] = {"steps": [50, 100], "check_interval": 1, "min_requests": 60, "step_timeout": "4m",
                          "timeout": "8m", "max_error_rate_increase": 0.01}

    return edit


def test_faulty_candidate_rolls_back_then_good_candidate_completes(dags_folder: Path, endpoint_server) -> None:
    from airflow_mlprovider.backends import serving_for, store_for
    from airflow_mlprovider.registry.store import ModelRegistry
    from airflow_mlprovider.spec import load_spec_file

    url = endpoint_server.url
    warehouse = next(iter(dags_folder.glob("mlprovider.defaults.yaml"))).read_text()
    rows = _rows(__import__("yaml").safe_load(warehouse)["warehouse"]["path"])

    def registry_and_serving():
        spec = load_spec_file(dags_folder / f"{MODEL}.model.yaml")
        return ModelRegistry(store_for(spec), spec.model_root), serving_for(spec)

    with Traffic(url, rows) as traffic:
        # 1. A weak first model: nothing to compare with, it goes straight to 100 %.
        edit_spec(dags_folder, MODEL, _configure(max_iter=3))
        first = build(dags_folder, MODEL).test(logical_date=datetime(2025, 6, 1, tzinfo=timezone.utc))
        assert first.state == "success", states(first)
        registry, serving = registry_and_serving()
        champion = registry.champion()
        assert list(serving.describe(ENDPOINT).values()) == [100]

        # 2. A better model that fails half its requests: evaluated better, rolled back under traffic.
        edit_spec(dags_folder, MODEL, _configure(max_iter=200, fault_injection=0.5))
        faulty = build(dags_folder, MODEL).test(logical_date=datetime(2025, 6, 2, tzinfo=timezone.utc))
        faulty_states = states(faulty)
        assert faulty_states["rollout.rollback"] == "success", faulty_states
        assert faulty_states["rollout.finalize"] == "skipped", faulty_states
        assert registry.champion().version_id == champion.version_id
        weights = serving.describe(ENDPOINT)
        assert len(weights) == 1 and list(weights.values()) == [100], weights
        rolled_back = [v for v in registry.versions() if v.version_id not in {champion.version_id}]
        assert any(e["event"] == "rolled_back" for e in registry.events(rolled_back[0].version_id))

        # 3. The same better model without faults: every step passes and it becomes the champion.
        edit_spec(dags_folder, MODEL, _configure(max_iter=200))
        good = build(dags_folder, MODEL).test(logical_date=datetime(2025, 6, 3, tzinfo=timezone.utc))
        good_states = states(good)
        assert good.state == "success", good_states
        assert good_states["rollout.finalize"] == "success", good_states
        new_champion = registry.champion()
        assert new_champion.version_id not in {champion.version_id, rolled_back[0].version_id}
        weights = serving.describe(ENDPOINT)
        assert len(weights) == 1 and list(weights.values()) == [100], weights
    served_5xx = sum(n for (status, _), n in traffic.seen.items() if status and status >= 500)
    assert served_5xx > 0, "the faulty candidate really served (and failed) user traffic before its rollback"
