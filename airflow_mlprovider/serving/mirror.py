"""Mirroring of live requests to an endpoint's shadow variants, off the live request's critical path.

After a routed request's live answer is computed, the same body is queued for every shadow variant of the
endpoint. A small pool of its own runs the shadows (never the model threads of live traffic), and at most
`max_pending` mirrored calls wait or run at once: beyond that a mirror is dropped and counted, so a slow
or stuck shadow can never slow, queue or fail a live request. The shadow's answer is discarded; its status,
latency and prediction are recorded as that variant's traffic, and its prediction is compared with the live
one (serving/agreement.py).
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_mlprovider.serving.agreement import AgreementCounts
from airflow_mlprovider.serving.outcome import Outcome
from airflow_mlprovider.serving.prometheus import PrometheusCounters
from airflow_mlprovider.serving.variants import Answer, LoadedVariant, numeric_prediction
from airflow_mlprovider.serving.window import TrafficWindow

log = logging.getLogger(__name__)

class ShadowMirror:
    """Sends copies of live requests to shadow variants on `threads` threads, `max_pending` at most at once."""

    def __init__(self, window: TrafficWindow, counters: PrometheusCounters, threads: int, max_pending: int) -> None:
        self.window = window
        self.counters = counters
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="mlprovider-shadow")
        self._slots = threading.BoundedSemaphore(max_pending)

    def mirror(self, endpoint: str, live: LoadedVariant, live_answer: Answer, raw_body: bytes,
               shadows: list[LoadedVariant]) -> None:
        """Queue `raw_body` for each shadow (non-blocking: a full queue drops the mirror and counts it)."""
        for shadow in shadows:
            if not self._slots.acquire(blocking=False):
                self.window.record_agreement(endpoint, shadow.name, live.name, AgreementCounts(dropped=1))
                continue
            try:
                future = self._pool.submit(self._answer, endpoint, live, live_answer, raw_body, shadow)
            except RuntimeError:  # the pool is shut down: the server is stopping
                self._slots.release()
                return
            future.add_done_callback(lambda _: self._slots.release())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _answer(self, endpoint: str, live: LoadedVariant, live_answer: Answer, raw_body: bytes,
                shadow: LoadedVariant) -> None:
        try:
            answer = shadow.answer(raw_body)
            outcome = Outcome(endpoint, shadow.name, answer.status, False, answer.latency_s, answer.prediction)
            self.window.record(outcome)
            self.counters.record(outcome)
            counts = AgreementCounts(mirrored=1)
            if live_answer.status == 200 and answer.status == 200:
                field = live.config.prediction_field or shadow.config.prediction_field
                counts.add_pair(prediction_value(live_answer.content, field),
                                prediction_value(answer.content, field))
            self.window.record_agreement(endpoint, shadow.name, live.name, counts)
        except Exception:  # noqa: BLE001 - a mirror's failure is logged; live traffic never sees it
            log.exception("endpoint %s: mirroring to shadow %s failed", endpoint, shadow.name)


def prediction_value(content: bytes, field: str | None) -> Any:
    """The response's `field` (any JSON value), or its first numeric field when `field` is None; None if absent."""
    try:
        response = json.loads(content)
    except ValueError:
        return None
    if not isinstance(response, dict):
        return None
    if field is None:
        return numeric_prediction(response, None)
    return response.get(field)
