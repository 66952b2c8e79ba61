"""Run cost: price-table arithmetic, the operator's record and notification, and `mlprovider cost`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from airflow_mlprovider import cost
from airflow_mlprovider.backends.aws.instance_picker import instance_types
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.cli import main
from airflow_mlprovider.operators.cost import CostOperator
from tests.registry.run_fixtures import make_context, make_spec, utc


def test_training_is_seconds_times_the_tables_hourly_price():
    price = next(t.usd_per_hour for t in instance_types("training") if t.name == "ml.m5.xlarge")
    assert cost.training_cost("ml.m5.xlarge", 1800)["usd"] == pytest.approx(price / 2)
    assert cost.training_cost(None, 7200, 0.05) == {"instance_type": "local", "seconds": 7200, "usd": pytest.approx(0.1)}
    with pytest.raises(cost.UnknownInstanceType):
        cost.training_cost("ml.t2.medium", 60)  # a hosting-only type


def test_serving_is_instance_hours_per_day_per_variant():
    price = next(t.usd_per_hour for t in instance_types("hosting") if t.name == "ml.m5.large")
    assert cost.serving_cost("ml.m5.large", 3)["usd_per_day"] == pytest.approx(price * 3 * 24)
    assert cost.serving_cost(None, 1)["usd_per_day"] == 0.0


def _record(model: str, day: int, training_usd: float, per_day: float) -> dict:
    return cost.run_cost(model, f"run-{day}", {"instance_type": "x", "seconds": 10.0, "usd": training_usd},
                         {"champion": {"instance_type": "y", "instance_count": 1, "usd_per_day": per_day}},
                         datetime(2025, 1, day, tzinfo=timezone.utc))


def test_summary_adds_runs_keeps_the_latest_serving_rate_and_filters_by_date():
    records = [_record("a", 3, 1.0, 5.0), _record("a", 1, 2.0, 4.0), _record("b", 2, 0.5, 0.0)]
    summary = cost.summarise(records)
    assert summary["a"]["runs"] == 2 and summary["a"]["training_usd"] == 3.0
    assert summary["a"]["serving_usd_per_day"] == 5.0 and summary["a"]["total_usd"] == pytest.approx(12.0)
    later = cost.summarise(records, datetime(2025, 1, 2, tzinfo=timezone.utc))
    assert later["a"]["runs"] == 1 and later["b"]["runs"] == 1


def test_operator_writes_the_record_once_and_reports_it(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = (tmp_path / "m").as_uri()
    context = make_context({}, utc(2025, 1, 5))
    operator = CostOperator(task_id="cost", model="m", registry_uri=root,
                            training={"duration_s": 12.0, "job": {"cpu_seconds": 7.5}},
                            serving_variants=("champion", "candidate"), local_cpu_usd_per_hour=3.6)
    with caplog.at_level("INFO"):
        result = operator.execute(context)
    record = json.loads(FilesystemArtifactStore().read_bytes(result["cost_uri"]))
    assert result["cost_uri"].startswith(f"{root}/cost/") and record["model"] == "m"
    assert record["training"] == {"instance_type": "local", "seconds": 7.5, "usd": pytest.approx(0.0075)}
    assert set(record["serving"]) == {"champion", "candidate"} and record["total_usd"] == pytest.approx(0.0075)
    assert "[m] cost: training local 7.5 s" in caplog.text
    sagemaker = CostOperator(task_id="c2", model="m", registry_uri=root, training={
        "duration_s": 100.0, "job": {"instance_type": "ml.m5.large", "billable_seconds": 3600}})
    assert sagemaker.execute(context)["total_usd"] == pytest.approx(record["total_usd"])  # written once: kept


def test_cli_summarises_the_models_of_a_specs_folder(tmp_path: Path, capsys: pytest.CaptureFixture):
    folder = tmp_path / "dags"
    folder.mkdir()
    spec = make_spec(folder, warehouse={"type": "duckdb", "path": str(folder / "w.duckdb")})
    (folder / "linear.model.yaml").write_text(yaml.safe_dump(spec))
    store = FilesystemArtifactStore()
    for day in (1, 2):
        store.write_bytes(f"{spec['artifact_root']}/linear/cost/run-{day}.json",
                          json.dumps(_record("linear", day, 0.25, 1.5)).encode())
    assert main(["cost", "--specs", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "linear" in out and "0.5000" in out and "1.50" in out
    assert main(["cost", "--specs", str(folder), "--since", "2025-01-02", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["linear"]["runs"] == 1
