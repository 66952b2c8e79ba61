"""A SageMaker shadow variant's agreement with the production variant, from both variants' data capture.

SageMaker sends the shadow a copy of each request it mirrors and captures each variant's calls under that
variant's own prefix. Nothing SageMaker documents ties the two capture records of one mirrored request (whether
the copy keeps the original's eventId or inferenceId), so they are paired by what certainly is the same: the
request body (its digest, `CapturedRecord.request_digest`). Several requests with the same body get the same
answer from a deterministic model, so equal bodies are paired in time order, each record at most once; a body
captured on one side only (capture samples each variant's calls, or a file not delivered yet) pairs with nothing.
Within a record, the answers are paired row by row (a request of n rows has n predictions).
"""

from __future__ import annotations

from collections import defaultdict, deque

from airflow_mlprovider.backends.aws.data_capture import Capture, CapturedRecord
from airflow_mlprovider.serving.agreement import AgreementCounts


def captured_agreement(live: Capture, shadow: Capture) -> AgreementCounts:
    """The agreement counts of the shadow's captured answers with the live variant's to the same requests:
    `mirrored` is the shadow's captured calls, `pairs` the request rows both answered with a prediction."""
    waiting: dict[str, deque[CapturedRecord]] = defaultdict(deque)
    for record in sorted(live.records, key=lambda r: r.inference_time):
        if record.request_digest and record.predictions:
            waiting[record.request_digest].append(record)
    counts = AgreementCounts(mirrored=len(shadow.records))
    for record in sorted(shadow.records, key=lambda r: r.inference_time):
        matches = waiting.get(record.request_digest)
        if not record.request_digest or not record.predictions or not matches:
            continue
        partner = matches.popleft()
        if len(partner.predictions) != len(record.predictions):
            continue  # not the same answer shape: not comparable row by row
        for live_value, shadow_value in zip(partner.predictions, record.predictions):
            counts.add_pair(live_value, shadow_value)
    return counts
