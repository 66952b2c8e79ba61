"""Deployment-wide settings of the AWS backends, read from Airflow's configuration (section [mlprovider])."""

from __future__ import annotations

DEFAULT_POLL_INTERVAL_S = 30.0
DEFAULT_CLOUDWATCH_PUBLISH_DELAY_S = 180.0


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


def cloudwatch_publish_delay_s() -> float:
    """Seconds after a minute ends before its SageMaker metrics are taken as published in CloudWatch.

    [mlprovider] cloudwatch_publish_delay (env AIRFLOW__MLPROVIDER__CLOUDWATCH_PUBLISH_DELAY), default 180:
    SageMaker's per-minute endpoint metrics reach CloudWatch 1-3 minutes late; a stand-in may publish at once.
    """
    from airflow.sdk import conf

    value = conf.getfloat("mlprovider", "cloudwatch_publish_delay", fallback=DEFAULT_CLOUDWATCH_PUBLISH_DELAY_S)
    if value < 0:
        raise ValueError(f"[mlprovider] cloudwatch_publish_delay must be 0 or more seconds, got {value}")
    return value
