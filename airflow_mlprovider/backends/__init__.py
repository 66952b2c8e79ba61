"""Choose a backend implementation per concern from the spec. Implementations are imported lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import (
        ArtifactStore,
        MetricsSource,
        ServingBackend,
        TrainingCompute,
        Warehouse,
    )
    from airflow_mlprovider.spec.model import ModelSpec


def store_for(spec: ModelSpec) -> ArtifactStore:
    if spec.artifact_root.startswith("s3://"):
        from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore

        return S3ArtifactStore(aws_conn_id=spec.aws_conn_id)
    from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore

    return FilesystemArtifactStore()


def warehouse_for(spec: ModelSpec) -> Warehouse:
    if spec.warehouse.type == "snowflake":
        from airflow_mlprovider.backends.snowflake.warehouse import SnowflakeWarehouse

        return SnowflakeWarehouse(spec.warehouse)
    from airflow_mlprovider.backends.local.duckdb_warehouse import DuckDBWarehouse

    return DuckDBWarehouse(spec.warehouse)


def compute_for(spec: ModelSpec) -> TrainingCompute:
    if spec.train.compute == "sagemaker":
        from airflow_mlprovider.backends.aws.sagemaker_training import SageMakerTrainingCompute

        return SageMakerTrainingCompute(spec)
    from airflow_mlprovider.backends.local.subprocess_compute import SubprocessTrainingCompute

    return SubprocessTrainingCompute(store_for(spec))


def serving_for(spec: ModelSpec) -> ServingBackend:
    if spec.platform == "aws":
        from airflow_mlprovider.backends.aws.sagemaker_serving import SageMakerServing

        return SageMakerServing(spec)
    from airflow_mlprovider.backends.local.endpoint_server import LocalEndpointServing

    return LocalEndpointServing(spec)


def metrics_for(spec: ModelSpec) -> MetricsSource:
    if spec.platform == "aws":
        from airflow_mlprovider.backends.aws.cloudwatch_metrics import CloudWatchMetrics

        return CloudWatchMetrics(spec)
    from airflow_mlprovider.backends.local.endpoint_server import LocalEndpointMetrics

    return LocalEndpointMetrics(spec)
