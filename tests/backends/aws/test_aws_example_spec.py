"""The AWS example spec validates when placed in a dags folder holding the demo's models and schemas."""

from __future__ import annotations

import shutil
from pathlib import Path

from airflow_mlprovider.spec.loader import load_specs

REPO = Path(__file__).resolve().parents[3]


def test_aws_example_is_a_valid_spec(tmp_path):
    for folder in ("models", "schemas"):
        shutil.copytree(REPO / "dag_specs" / folder, tmp_path / folder)
    for name in ("demand_forecast_aws.model.yaml", "mlprovider.defaults.yaml"):
        shutil.copy(REPO / "examples" / "aws" / name, tmp_path / name)

    result = load_specs(tmp_path)

    assert result.errors == {}
    (spec,) = result.specs
    assert (spec.platform, spec.train.compute, spec.aws_conn_id) == ("aws", "sagemaker", "aws_default")
    assert spec.artifact_root.startswith("s3://") and spec.serving.autoscaling.max_instances == 4
