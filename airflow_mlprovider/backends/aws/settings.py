"""Deployment-wide settings of the AWS backends, read from Airflow's configuration (section [mlprovider])."""

from __future__ import annotations

DEFAULT_POLL_INTERVAL_S = 30.0


def poll_interval_s() -> float:
    """Seconds between status checks of a SageMaker endpoint update or training job.

    [mlprovider] aws_poll_interval (env AIRFLOW__MLPROVIDER__AWS_POLL_INTERVAL), default 30: endpoint updates
    and training jobs take minutes on SageMaker; a stand-in (moto) answers at once.
    """
    from airflow.sdk import conf

    value = conf.getfloat("mlprovider", "aws_poll_interval", fallback=DEFAULT_POLL_INTERVAL_S)
    if value < 0:
        raise ValueError(f"[mlprovider] aws_poll_interval must be 0 or more seconds, got {value}")
    return value
