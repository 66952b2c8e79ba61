"""The pieces a deployment without shared disk relies on: the endpoint server reads s3:// artifacts with its own
credentials, the DuckDB warehouse can be an s3:// snapshot, and a local path under a remote executor is refused
with the setting to change instead of silently reading an empty registry on another worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from aws_standin import AwsStandin, aws_standin, s3_bucket  # noqa: F401  (fixtures)

EXAMPLES = Path(__file__).resolve().parents[2] / "dag_specs"


# -- local paths under a remote executor --------------------------------------------------------------------------

@pytest.mark.parametrize(("executors", "remote"), [
    ("LocalExecutor", None),
    ("CeleryExecutor", "CeleryExecutor"),
    ("LocalExecutor,airflow.providers.cncf.kubernetes.executors.kubernetes_executor.KubernetesExecutor",
     "KubernetesExecutor"),
    ("fast:LocalExecutor, gpu:my_company.executors.EdgeExecutor", "EdgeExecutor"),
])
def test_remote_executor_is_any_executor_that_is_not_local(
    executors: str, remote: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlprovider.provider_config import remote_executor

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executors)
    assert remote_executor() == remote


def test_a_local_path_under_celery_fails_naming_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_mlprovider.provider_config import require_shared_path

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    with pytest.raises(ValueError, match=r"artifact_root file:///srv/artifacts .*CeleryExecutor") as error:
        require_shared_path("file:///srv/artifacts", "artifact_root")
    assert "[mlprovider] shared_filesystem = True" in str(error.value) and "s3://" in str(error.value)

    monkeypatch.setenv("AIRFLOW__MLPROVIDER__SHARED_FILESYSTEM", "True")
    require_shared_path("file:///srv/artifacts", "artifact_root")  # the deployment says every worker mounts it
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    monkeypatch.delenv("AIRFLOW__MLPROVIDER__SHARED_FILESYSTEM")
    require_shared_path("file:///srv/artifacts", "artifact_root")  # one machine: always seen


def test_operators_refuse_a_local_artifact_root_under_celery(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_mlprovider.operators.base import LifecycleOperator

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    operator = LifecycleOperator(task_id="any_lifecycle_task")
    with pytest.raises(ValueError, match="shared_filesystem"):
        operator.store("file:///srv/artifacts/model")
    assert operator.store("s3://bucket/model") is not None


# -- the endpoint server reads s3:// artifacts ---------------------------------------------------------------------

def _artifact(folder: Path) -> Path:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.bin").write_bytes(b"\x00\x01")
    (folder / "MANIFEST.json").write_text("{}")
    return folder


def test_endpoint_server_copies_an_s3_artifact(aws_standin: AwsStandin, s3_bucket: str, tmp_path: Path) -> None:  # noqa: F811
    from airflow_mlprovider.serving.artifact_source import copy_artifact
    from airflow_mlprovider.serving.errors import ServingError

    s3 = aws_standin.client("s3")
    source = _artifact(tmp_path / "source")
    for path in source.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), s3_bucket, f"m/artifacts/abc/{path.relative_to(source).as_posix()}")
    copy_artifact(f"s3://{s3_bucket}/m/artifacts/abc", tmp_path / "copy")
    assert (tmp_path / "copy" / "model" / "weights.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "copy" / "MANIFEST.json").is_file()

    with pytest.raises(ServingError) as missing:
        copy_artifact(f"s3://{s3_bucket}/m/artifacts/none", tmp_path / "none")
    assert missing.value.status == 422 and "holds no objects" in str(missing.value)

    s3.put_object(Bucket=s3_bucket, Key="m/artifacts/evil/../../outside.txt", Body=b"x")
    with pytest.raises(ServingError, match="outside the artifact folder"):
        copy_artifact(f"s3://{s3_bucket}/m/artifacts/evil", tmp_path / "evil")
    assert not (tmp_path / "outside.txt").exists()


def test_endpoint_server_refuses_other_schemes(tmp_path: Path) -> None:
    from airflow_mlprovider.serving.artifact_source import copy_artifact
    from airflow_mlprovider.serving.errors import ServingError

    with pytest.raises(ServingError) as refused:
        copy_artifact("gs://bucket/artifact", tmp_path / "copy")
    assert refused.value.status == 400 and "s3://" in str(refused.value)
    copy_artifact(_artifact(tmp_path / "local").as_uri(), tmp_path / "copy")
    assert (tmp_path / "copy" / "model" / "weights.bin").is_file()


# -- a DuckDB warehouse snapshot on S3 -----------------------------------------------------------------------------

def test_duckdb_warehouse_reads_an_s3_snapshot(aws_standin: AwsStandin, s3_bucket: str, tmp_path: Path) -> None:  # noqa: F811
    import duckdb
    import pyarrow.parquet as pq

    from airflow_mlprovider.backends import artifact_store, warehouse_backend
    from airflow_mlprovider.spec.model import Warehouse

    local = tmp_path / "w.duckdb"
    with duckdb.connect(str(local)) as con:
        con.execute("CREATE TABLE sales AS SELECT range AS day, range * 2 AS units FROM range(10)")
    aws_standin.client("s3").upload_file(str(local), s3_bucket, "warehouse/w.duckdb")

    warehouse = warehouse_backend(Warehouse("duckdb", path=f"s3://{s3_bucket}/warehouse/w.duckdb"))
    dest = f"s3://{s3_bucket}/extract/part.parquet"
    store = artifact_store(dest)
    result = warehouse.extract("SELECT * FROM sales WHERE day >= ?", [4], dest, store)
    assert (result.rows, result.columns) == (6, ("day", "units"))
    store.get_file(dest, str(tmp_path / "out.parquet"))
    assert pq.read_table(tmp_path / "out.parquet").column("units").to_pylist() == [8, 10, 12, 14, 16, 18]


def _spec_folder(tmp_path: Path, warehouse_path: str, dbt: bool) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("tumor*", "target", "logs"))
    spec_path = folder / "demand_forecast.model.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    if not dbt:
        del spec["data"]["dbt"]
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    (folder / "mlprovider.defaults.yaml").write_text(yaml.safe_dump(
        {"artifact_root": "s3://b/mlprovider", "warehouse": {"type": "duckdb", "path": warehouse_path}}))
    return spec_path


def test_spec_keeps_an_s3_warehouse_path_and_refuses_dbt_on_it(tmp_path: Path) -> None:
    from airflow_mlprovider.spec import load_spec_file
    from airflow_mlprovider.spec.errors import SpecValidationError

    spec = load_spec_file(_spec_folder(tmp_path / "ok", "s3://b/warehouse.duckdb", dbt=False))
    assert spec.warehouse.path == "s3://b/warehouse.duckdb"
    with pytest.raises(SpecValidationError, match=r"data\.dbt.*read-only"):
        load_spec_file(_spec_folder(tmp_path / "dbt", "s3://b/warehouse.duckdb", dbt=True))
    with pytest.raises(SpecValidationError, match="is not supported"):
        load_spec_file(_spec_folder(tmp_path / "gs", "gs://b/warehouse.duckdb", dbt=False))
