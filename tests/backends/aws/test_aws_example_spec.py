"""The AWS example spec validates when placed in a dags folder holding the demo's models and schemas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_mlprovider.backends.aws.framework_images import shipped_packages, versions
from airflow_mlprovider.spec.loader import load_specs

REPO = Path(__file__).resolve().parents[3]


def _example_spec(tmp_path):
    for folder in ("models", "schemas"):
        shutil.copytree(REPO / "dag_specs" / folder, tmp_path / folder)
    for name in ("demand_forecast_aws.model.yaml", "mlprovider.defaults.yaml"):
        shutil.copy(REPO / "examples" / "aws" / name, tmp_path / name)
    (spec,) = load_specs(tmp_path).specs
    return spec


def test_aws_example_trains_on_a_container_that_has_what_its_model_uses(tmp_path):
    """The container scikit-learn is the one that trains AND unpickles: it must have the model's APIs."""
    spec = _example_spec(tmp_path)
    assert spec.train.framework == "sklearn" and spec.train.framework_version in versions("sklearn")
    packages = shipped_packages("sklearn", spec.train.framework_version)
    assert "pyarrow" in packages  # reads the Parquet splits without a pip install at start
    assert "root_mean_squared_error" in (REPO / "dag_specs" / spec.code.module).read_text()
    major, minor = map(int, packages["scikit-learn"].split(".")[:2])
    assert (major, minor) >= (1, 4), f"root_mean_squared_error is scikit-learn >= 1.4; the container has {packages}"


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


@pytest.mark.parametrize("endpoint", ["demand_forecast", "-demand", "demand-", "d" * 64])
def test_endpoint_names_follow_sagemakers_pattern(tmp_path, endpoint):
    """botocore's SageMaker model: EndpointName matches [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; the spec says so first."""
    for folder in ("models", "schemas"):
        shutil.copytree(REPO / "dag_specs" / folder, tmp_path / folder)
    shutil.copy(REPO / "examples" / "aws" / "mlprovider.defaults.yaml", tmp_path / "mlprovider.defaults.yaml")
    spec = (REPO / "examples" / "aws" / "demand_forecast_aws.model.yaml").read_text()
    (tmp_path / "demand_forecast_aws.model.yaml").write_text(spec.replace("endpoint: demand-forecast", f"endpoint: {endpoint}"))

    (message,) = load_specs(tmp_path).errors.values()

    assert "serving.endpoint" in str(message) and "letters and digits joined by -" in str(message)
