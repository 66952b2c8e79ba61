"""Backends built from explicit arguments (connection ids, URIs, typed settings); implementations import lazily.

The `*_for(spec)` functions are the same choices made from a validated spec (the CLI and tests use them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
    from airflow_mlprovider.backends.base import (
        ArtifactStore,
        MetricsSource,
        ServingBackend,
        TrainingCompute,
        Warehouse,
    )
    from airflow_mlprovider.spec.model import ModelSpec, Train
    from airflow_mlprovider.spec.model import Warehouse as WarehouseConfig


def artifact_store(uri: str, aws_conn_id: str = "aws_default") -> ArtifactStore:
    """The store of `uri`: S3 (through the AWS connection) for s3://, the local filesystem otherwise."""
    if uri.startswith("s3://"):
        from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore

        return S3ArtifactStore(aws_conn_id=aws_conn_id)
    from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore

    return FilesystemArtifactStore()


def warehouse_backend(warehouse: WarehouseConfig, aws_conn_id: str = "aws_default") -> Warehouse:
    """Snowflake through its connection, or a DuckDB file (an s3:// one read through `aws_conn_id`)."""
    if warehouse.type == "snowflake":
        from airflow_mlprovider.backends.snowflake.warehouse import SnowflakeWarehouse

        return SnowflakeWarehouse(warehouse)
    from airflow_mlprovider.backends.local.duckdb_warehouse import DuckDBWarehouse

    return DuckDBWarehouse(warehouse, aws_conn_id=aws_conn_id)


def training_compute(train: Train, store: ArtifactStore, aws_conn_id: str = "aws_default") -> TrainingCompute:
    """A SageMaker training job (train.compute "sagemaker") or a subprocess of the worker writing to `store`."""
    if train.compute == "sagemaker":
        from airflow_mlprovider.backends.aws.sagemaker_training import SageMakerTrainingCompute

        return SageMakerTrainingCompute(train, aws_conn_id)
    from airflow_mlprovider.backends.local.subprocess_compute import SubprocessTrainingCompute

    return SubprocessTrainingCompute(store)


def serving_backend(
    endpoint_conn_id: str = "mlprovider_endpoint", *, sagemaker: SageMakerHosting | None = None,
    aws_conn_id: str = "aws_default", wait: bool = True,
) -> ServingBackend:
    """A SageMaker endpoint (given `sagemaker` hosting settings) or the local endpoint server's connection.

    wait=False: a SageMaker endpoint change raises EndpointChangeStarted instead of waiting for it (the caller
    defers); the local server changes at once and ignores it."""
    if sagemaker is not None:
        from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing

        return SageMakerServing(sagemaker, aws_conn_id, wait=wait)
    from airflow_mlprovider.backends.local.endpoint_server import LocalEndpointServing

    return LocalEndpointServing(endpoint_conn_id)


def metrics_source(
    endpoint_conn_id: str = "mlprovider_endpoint", *, cloudwatch: bool = False, aws_conn_id: str = "aws_default",
    data_capture_uri: str | None = None,
) -> MetricsSource:
    """CloudWatch's SageMaker metrics (`cloudwatch`; with the endpoint's data capture under `data_capture_uri`
    for a shadow's agreement) or the local endpoint server's window API."""
    if cloudwatch:
        from airflow_mlprovider.backends.aws.cloudwatch_metrics import CloudWatchMetrics

        return CloudWatchMetrics(aws_conn_id, data_capture_uri=data_capture_uri)
    from airflow_mlprovider.backends.local.endpoint_server import LocalEndpointMetrics

    return LocalEndpointMetrics(endpoint_conn_id)


# -- the same choices from a validated spec ----------------------------------------------------------------------


def serving_conn_ids(spec: ModelSpec) -> tuple[str, str]:
    """(endpoint_conn_id, aws_conn_id) of a spec: serving.conn_id names the endpoint server's connection (default
    `[mlprovider] endpoint_conn_id`) or, on platform aws, the AWS connection."""
    from airflow_mlprovider.provider_config import endpoint_conn_id

    conn_id = spec.serving.conn_id if spec.serving else None
    if spec.platform == "aws":
        return endpoint_conn_id(), conn_id or spec.aws_conn_id
    return conn_id or endpoint_conn_id(), spec.aws_conn_id


def store_for(spec: ModelSpec) -> ArtifactStore:
    return artifact_store(spec.artifact_root, spec.aws_conn_id)


def warehouse_for(spec: ModelSpec) -> Warehouse:
    return warehouse_backend(spec.warehouse, spec.aws_conn_id)


def compute_for(spec: ModelSpec) -> TrainingCompute:
    return training_compute(spec.train, store_for(spec), spec.aws_conn_id)


def serving_for(spec: ModelSpec) -> ServingBackend:
    from airflow_mlprovider.backends.aws.hosting import SageMakerHosting

    endpoint_conn_id, aws_conn_id = serving_conn_ids(spec)
    hosting = SageMakerHosting.from_spec(spec) if spec.platform == "aws" else None
    return serving_backend(endpoint_conn_id, sagemaker=hosting, aws_conn_id=aws_conn_id)


def metrics_for(spec: ModelSpec) -> MetricsSource:
    endpoint_conn_id, aws_conn_id = serving_conn_ids(spec)
    return metrics_source(endpoint_conn_id, cloudwatch=spec.platform == "aws", aws_conn_id=aws_conn_id)
