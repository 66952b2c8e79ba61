"""The shadow stage's waiting part: read the mirrored traffic every check_interval until the verdict is due.

Runs in the triggerer (no worker slot is held while the candidate shadows the champion). Yields ONE event,
the verdict (pass or fail) as a dict; waits are only logged. Serializes to JSON-safe kwargs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import MetricsSource
    from airflow_mlprovider.shadow_verdict import ShadowVerdict
    from airflow_mlprovider.spec.model import Shadow

#: consecutive failed metric reads after which the shadow stage fails (it cannot judge the candidate)
MAX_METRICS_FAILURES = 5


def read_verdict(
    metrics: MetricsSource, endpoint: str, champion: str, candidate: str, policy: Shadow, compare: str,
    started_at: float, now: float,
) -> ShadowVerdict:
    """The verdict on the traffic mirrored between `started_at` and `now`."""
    from airflow_mlprovider.shadow_verdict import judge

    counts = metrics.window(endpoint, [champion, candidate], started_at, now)
    agreement = metrics.agreement(endpoint, candidate, champion, started_at, now)
    return judge(policy, compare, counts[champion], counts[candidate], agreement, now - started_at)


class ShadowTrigger(BaseTrigger):
    """Wait for the shadow verdict of `candidate` (mirrored) against `champion` (live) on `endpoint`.

    :param endpoint: the endpoint's name.
    :param champion: the live variant.
    :param candidate: the shadow variant.
    :param policy: the Shadow policy's fields (`dataclasses.asdict(Shadow(...))`).
    :param compare: "difference" or "class".
    :param started_at: unix time the mirrored window starts.
    :param endpoint_conn_id: the local endpoint server's connection; or
    :param cloudwatch: read SageMaker's per-variant CloudWatch metrics through `aws_conn_id`.
    :param aws_conn_id: the AWS connection (cloudwatch only).
    :param data_capture_uri: the endpoint's data capture (cloudwatch only): prediction agreement from it; None:
        agreement not measured.
    """

    def __init__(
        self, *, endpoint: str, champion: str, candidate: str, policy: dict[str, Any], compare: str,
        started_at: float, endpoint_conn_id: str = "mlprovider_endpoint", cloudwatch: bool = False,
        aws_conn_id: str = "aws_default", data_capture_uri: str | None = None,
    ) -> None:
        super().__init__()
        self.kwargs = {
            "endpoint": endpoint, "champion": champion, "candidate": candidate, "policy": policy, "compare": compare,
            "started_at": started_at, "endpoint_conn_id": endpoint_conn_id, "cloudwatch": cloudwatch,
            "aws_conn_id": aws_conn_id, "data_capture_uri": data_capture_uri,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", dict(self.kwargs)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_mlprovider.backends import metrics_source
        from airflow_mlprovider.spec.model import Shadow

        k = self.kwargs
        policy = Shadow(**k["policy"])
        metrics = await asyncio.to_thread(
            metrics_source, k["endpoint_conn_id"], cloudwatch=k["cloudwatch"], aws_conn_id=k["aws_conn_id"],
            data_capture_uri=k.get("data_capture_uri"))
        failures = 0
        while True:
            await asyncio.sleep(policy.check_interval_s)
            try:
                verdict = await asyncio.to_thread(
                    read_verdict, metrics, k["endpoint"], k["champion"], k["candidate"], policy, k["compare"],
                    k["started_at"], time.time(),
                )
                failures = 0
            except Exception as err:  # noqa: BLE001 - a failed read is no evidence; repeated failures end the stage
                failures += 1
                self.log.warning("reading %s's mirrored traffic failed (%d/%d): %s", k["endpoint"], failures,
                                 MAX_METRICS_FAILURES, err)
                if failures < MAX_METRICS_FAILURES:
                    continue
                yield TriggerEvent({"action": "fail", "figures": {}, "reason": f"traffic metrics of {k['endpoint']} "
                                    f"unavailable for {failures} checks in a row ({err}): the candidate cannot be judged"})
                return
            if verdict.action == "wait":
                self.log.info("shadow %s: wait (%s)", k["candidate"], verdict.reason)
                continue
            yield TriggerEvent(dataclasses.asdict(verdict))
            return
