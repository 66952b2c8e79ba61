"""What every lifecycle operator shares: the run's key and data interval, stores chosen by URI, and defaults.

Operators take explicit arguments and return small JSON-able dicts; with `multiple_outputs` each key of the
return value is also its own XCom, so a DAG passes `extract.output["uri"]` to the next operator as an XComArg.
No operator reads another task's XCom by a task id it was not given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf

from airflow_mlprovider.notifications.lifecycle import LifecycleNotifier
from airflow_mlprovider.user_code import UserCodeError

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import ArtifactStore

#: what operators report through when no notifier is given: the task log only
TASK_LOG = LifecycleNotifier()


class LifecycleOperator(BaseOperator):
    """Base of the lifecycle operators: each key of the returned dict is its own XCom (XComArg-friendly).

    :param aws_conn_id: the AWS connection for s3:// URIs (and SageMaker / CloudWatch where used).
    :param notifier: where lifecycle events (decisions, deploys, rollout steps, rollbacks) are reported;
        None: the task log only. A `LifecycleNotifier(slack_conn_id=...)` also posts to Slack.
    """

    ui_color = "#e8f4ea"

    def __init__(
        self, *, aws_conn_id: str = "aws_default", notifier: LifecycleNotifier | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.notifier = notifier or TASK_LOG

    def push_result(self, context: Any, result: dict[str, Any]) -> None:
        """Push `result` as Airflow would for a returned value: before a skip ends execute() with an exception."""
        ti = context["ti"]
        ti.xcom_push(key="return_value", value=result)
        if self.multiple_outputs:
            for key, value in result.items():
                ti.xcom_push(key=key, value=value)

    def announce(self, model: str, event: str, message: str, *, alert: bool = False) -> None:
        """Report a lifecycle event (never fails the task: a broken Slack connection is logged)."""
        self.notifier.event(model, event, message, alert=alert)

    @contextmanager
    def failing_without_retry_on_user_errors(self) -> Iterator[None]:
        """An error of the model's own code (UserCodeError, see user_code.py) fails the task without its retries."""
        from airflow.sdk.exceptions import AirflowFailException

        try:
            yield
        except UserCodeError as exc:
            raise AirflowFailException(f"{exc}\n(an error in the model's code: not retried; fix it and clear the task)") from exc

    def store(self, uri: str) -> ArtifactStore:
        """The artifact store of `uri` (s3:// through `aws_conn_id`, else the local filesystem, which workers on
        other machines must share: see provider_config.require_shared_path)."""
        from airflow_mlprovider.backends import artifact_store

        if not uri.startswith("s3://"):
            from airflow_mlprovider.provider_config import require_shared_path

            require_shared_path(uri, "artifact_root")
        return artifact_store(uri, self.aws_conn_id)


def default_deferrable() -> bool:
    """Airflow's `[operators] default_deferrable` (False unless the deployment turns deferral on)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def run_key(run_id: str) -> str:
    """A stable, path-safe key of a DAG run id: a retried task writes to the same place."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", run_id)


def run_interval(context: Any) -> tuple[dt.datetime, dt.datetime]:
    """The run's data interval; a manual run without one is the instant it was triggered for."""
    end = context.get("data_interval_end") or context.get("logical_date") or context["dag_run"].run_after
    return context.get("data_interval_start") or end, end


def utc_interval(context: Any) -> tuple[dt.datetime, dt.datetime]:
    """The run's data interval as plain tz-aware UTC datetimes (what SQL templates and bind parameters get)."""
    start, end = run_interval(context)
    return tuple(dt.datetime.fromisoformat(b.astimezone(dt.timezone.utc).isoformat()) for b in (start, end))


def join_uri(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])
