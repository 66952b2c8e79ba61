"""Provider metadata read by Airflow through the `apache_airflow_provider` entry point (no imports: it is cheap)."""

from __future__ import annotations

from typing import Any

INTEGRATION = "ML lifecycle (airflow-mlprovider)"
VERSION = "0.1.0"

#: the `[mlprovider]` section: every deployment-wide setting the provider reads
CONFIG_OPTIONS: dict[str, dict[str, Any]] = {
    "aws_poll_interval": {
        "description": "Seconds between status checks of a SageMaker endpoint update or training job (a float: "
        "sub-second values are kept; AWS waiters in the triggerer round up to whole seconds, at least 1).",
        "version_added": VERSION,
        "type": "float",
        "example": "30",
        "default": "30",
    },
    "defaults_file": {
        "description": "The mlprovider.defaults.yaml every spec folder uses, instead of the one found beside the "
        "specs (empty: look beside the specs).",
        "version_added": VERSION,
        "type": "string",
        "example": "/opt/airflow/config/mlprovider.defaults.yaml",
        "default": "",
    },
    "endpoint_conn_id": {
        "description": "The connection (type mlprovider_endpoint) of the local endpoint server for specs whose "
        "serving section names no conn_id. Its host and port say where the server is; its password is the admin "
        "token, which is only ever sent to that host.",
        "version_added": VERSION,
        "type": "string",
        "example": "mlprovider_endpoint",
        "default": "mlprovider_endpoint",
    },
    "shared_filesystem": {
        "description": "True when every worker mounts the same file system at the same path (NFS, EFS), so a "
        "local artifact_root or DuckDB warehouse file is seen by all of them. Under an executor that runs tasks "
        "on other machines (Celery, Kubernetes) a task refuses a local path unless this says so: another "
        "worker would not see what it wrote (docs/deploy.md).",
        "version_added": VERSION,
        "type": "boolean",
        "example": "True",
        "default": "False",
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-mlprovider",
        "name": INTEGRATION,
        "description": "One YAML spec per model becomes a lifecycle DAG: preprocess, train, evaluate, promote, "
        "gradual rollout with automatic rollback. The operators, hook, trigger and notifier work in any DAG.",
        "versions": [VERSION],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["software"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_mlprovider.operators.data",
                    "airflow_mlprovider.operators.dbt",
                    "airflow_mlprovider.operators.train",
                    "airflow_mlprovider.operators.evaluate",
                    "airflow_mlprovider.operators.register",
                    "airflow_mlprovider.operators.serving",
                    "airflow_mlprovider.operators.rollout",
                    "airflow_mlprovider.operators.shadow",
                    "airflow_mlprovider.operators.monitor",
                    "airflow_mlprovider.operators.cost",
                ],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_mlprovider.hooks.endpoint_server"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": [
            "airflow_mlprovider.triggers.rollout", "airflow_mlprovider.triggers.shadow",
            "airflow_mlprovider.triggers.sagemaker_endpoint"]}],
        "notifications": ["airflow_mlprovider.notifications.lifecycle.LifecycleNotifier"],
        "extra-links": ["airflow_mlprovider.operators.evaluate.EvaluationReportLink"],
        "connection-types": [
            {
                "connection-type": "mlprovider_endpoint",
                "hook-class-name": "airflow_mlprovider.hooks.endpoint_server.EndpointServerHook",
                "hook-name": "ML endpoint server",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "extra"],
                    "relabeling": {"password": "Admin token", "schema": "Scheme (http or https)"},
                    "placeholders": {"host": "127.0.0.1", "port": "8765", "schema": "http",
                                     "password": "the token `mlprovider serve` was started with"},
                },
            }
        ],
        "config": {
            "mlprovider": {
                "description": "Deployment-wide settings of airflow-mlprovider (environment: AIRFLOW__MLPROVIDER__<OPTION>).",
                "options": CONFIG_OPTIONS,
            }
        },
    }
