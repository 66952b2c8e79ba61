"""Waiting for a SageMaker endpoint change in the triggerer instead of a worker slot.

`EndpointUpdateTrigger` is the amazon provider's `SageMakerTrigger` with job type "endpoint" (boto3's
`endpoint_in_service` waiter: success at InService, failure at Failed with the FailureReason as the event's
message), whose event also carries what the operator needs on resume: the started change (to verify and
finish, `SageMakerServing.finish_change`) and the operator's own state across the deferral (`resume`, e.g. its
fence generation). `dag.test()` resumes with the event alone, so nothing may live only in defer kwargs.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
from airflow.triggers.base import TriggerEvent

#: how long an endpoint change may take before the wait ends with status "timeout" (SageMaker creates or
#: updates an endpoint in minutes; a large model's instances can take half an hour)
ENDPOINT_CHANGE_TIMEOUT_S = 3600.0


class EndpointUpdateTrigger(SageMakerTrigger):
    """Wait until `endpoint` is InService again, then yield SageMakerTrigger's event plus `change` and `resume`.

    :param endpoint: the SageMaker endpoint's name.
    :param change: the started change (`EndpointChangeStarted.change`), JSON-safe.
    :param resume: the operator's state to carry across the deferral, JSON-safe.
    :param waiter_delay: seconds between DescribeEndpoint calls (a float: a sub-second stand-in poll stays so).
    :param aws_conn_id: the AWS connection.
    """

    def __init__(
        self, *, endpoint: str, change: dict[str, Any], resume: dict[str, Any] | None = None,
        waiter_delay: float = 30.0, waiter_max_attempts: int | None = None, aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        attempts = waiter_max_attempts or 1 + math.ceil(ENDPOINT_CHANGE_TIMEOUT_S / max(waiter_delay, 1.0))
        super().__init__(job_name=endpoint, job_type="endpoint", waiter_delay=waiter_delay,
                         waiter_max_attempts=attempts, aws_conn_id=aws_conn_id, **kwargs)
        self.endpoint = endpoint
        self.change = change
        self.resume = dict(resume or {})
        # what serialize() writes besides the waiter settings: this class's own arguments
        self.serialized_fields = {"endpoint": endpoint, "change": change, "resume": self.resume}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for event in super().run():
            yield TriggerEvent({**event.payload, "endpoint": self.endpoint, "change": self.change,
                                "resume": self.resume})
