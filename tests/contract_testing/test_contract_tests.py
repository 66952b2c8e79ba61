"""`mlprovider test` and the pytest plugin: both examples honour their contract; a broken copy fails, named."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_mlprovider.cli import main

DAG_SPECS = Path(__file__).resolve().parents[2] / "dag_specs"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "dag_specs"
    shutil.copytree(DAG_SPECS, folder, ignore=shutil.ignore_patterns("__pycache__", "dbt"))
    (folder / "dbt").mkdir()
    shutil.copy(DAG_SPECS / "dbt" / "dbt_project.yml", folder / "dbt")
    return folder


def test_both_examples_pass(capsys) -> None:
    assert main(["test", str(DAG_SPECS)]) == 0
    out = capsys.readouterr().out
    for model in ("demand_forecast", "tumor_classifier"):
        for check in ("preprocess", "train", "load", "real_rows", "generated_requests", "round_trip"):
            assert f"ok   {model} {check} " in out
    assert out.endswith("2 of 2 specs honour their contract\n")


def test_a_response_missing_a_required_field_fails_naming_the_field(specs: Path, capsys) -> None:
    model = specs / "models" / "tumor_classifier.py"
    source = model.read_text()
    broken = 'return {"prediction": int(probability >= 0.5)}'
    model.write_text(source.replace('return {"probability": probability, "prediction": int(probability >= 0.5)}', broken))
    assert broken in model.read_text()
    assert main(["test", str(specs / "tumor_classifier.model.yaml")]) == 1
    out = capsys.readouterr().out
    failure = next(line for line in out.splitlines() if line.startswith("FAIL"))
    # the function, the check, the schema path and the missing field
    assert failure.startswith("FAIL tumor_classifier real_rows")
    assert "predict(request)" in failure and "$: 'probability' is a required property" in failure
    assert "0 of 1 specs honour their contract" in out


def test_a_generated_request_that_breaks_predict_is_shown_shrunk(specs: Path, capsys) -> None:
    """predict() raising on a valid but unusual request: the failure shows the (shrunk) request."""
    model = specs / "models" / "tumor_classifier.py"
    model.write_text(model.read_text().replace(
        "    def predict(request):\n",
        "    def predict(request):\n        if request['mean_radius'] > 1000:\n"
        "            raise ValueError('radius out of range')\n"))
    assert main(["test", str(specs / "tumor_classifier.model.yaml")]) == 1
    failure = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL"))
    assert failure.startswith("FAIL tumor_classifier generated_requests")
    assert "raised ValueError: radius out of range" in failure
    # shrunk: every other measurement at its minimum, the radius just past the limit
    assert '"area_error": 0.0' in failure and re.search(r'"mean_radius": 1\d{3}(\.\d+)?[,}]', failure), failure


def test_a_model_slower_than_the_latency_budget_fails(specs: Path, capsys) -> None:
    spec = specs / "tumor_classifier.model.yaml"
    spec.write_text(spec.read_text().replace(
        "contract_test: {sample: data/tumor_classifier.sample.csv}",
        "contract_test: {sample: data/tumor_classifier.sample.csv, max_latency_ms: 0.001, examples: 5}"))
    assert main(["test", str(spec)]) == 1
    failure = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL"))
    assert failure.startswith("FAIL tumor_classifier generated_requests")
    assert "over contract_test.max_latency_ms (0.001)" in failure and "fastest of 4 calls" in failure


def test_the_pytest_plugin_yields_one_item_per_check(specs: Path) -> None:
    model = specs / "models" / "tumor_classifier.py"
    model.write_text(model.read_text().replace('"probability": probability, ', ""))
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--mlprovider-specs", str(specs / "tumor_classifier.model.yaml"), "-o", "addopts="],
        cwd=specs, capture_output=True, text=True, timeout=600, check=False,
    )
    out = completed.stdout
    assert completed.returncode == 1, out + completed.stderr
    assert "4 passed" in out and "3 failed" in out  # schemas .. load pass; real_rows and what follows fail
    assert "tumor_classifier.model.yaml::tumor_classifier::real_rows" in out
    assert "'probability' is a required property" in out
