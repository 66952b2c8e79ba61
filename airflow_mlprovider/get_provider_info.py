"""Provider metadata read by Airflow through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-mlprovider",
        "name": "ML lifecycle (airflow-mlprovider)",
        "description": "One YAML spec per model becomes a lifecycle DAG: preprocess, train, evaluate, promote, "
        "gradual rollout with automatic rollback.",
        "versions": ["0.1.0"],
        "connection-types": [],
        "config": {
            "mlprovider": {
                "description": "Deployment-wide settings of airflow-mlprovider.",
                "options": {
                    "aws_poll_interval": {
                        "description": "Seconds between status checks of a SageMaker endpoint update or training job.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "30",
                    }
                },
            }
        },
    }
