"""Monitor: one interval of the serving champion checked against its baseline and evaluation reference.

The checks are `monitoring/` (pure statistics); this operator reads the endpoint's per-variant counts through
the MetricsSource (the local server's window API, or CloudWatch for SageMaker), on SageMaker the predictions
and request features from the endpoint's data capture (CloudWatch has none), writes the interval's record and,
on an alarm, notifies and fails so that the task shows red.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airflow_mlprovider.operators.base import join_uri
from airflow_mlprovider.operators.serving import EndpointOperator, variant_name

if TYPE_CHECKING:
    from airflow_mlprovider.backends.aws.data_capture import Capture
    from airflow_mlprovider.rollout.counts import VariantCounts

#: points of each series in the record (the window split evenly), for the Models page's charts
SERIES_POINTS = 12
#: seconds tried after now for a free record name
MAX_RECORD_ATTEMPTS = 60


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).isoformat()


class MonitorOperator(EndpointOperator):
    """Check the last `window_s` of the registry champion's serving traffic; alarm (notify, then fail) on a
    significant change.

    Checks (docs/monitoring.md): 5xx and 4xx rates and p99 latency against the baseline just before the
    window, request volume against the baseline's expected count, the predictions' mean and spread against
    the reference recorded when the champion was evaluated, and the distribution of predictions and features
    where the metrics source captures them (on SageMaker: the endpoint's data capture, `sagemaker.data_capture_percent`;
    without it those checks say they were not made). `thresholds["false_alarm_rate"]` bounds the chance that a healthy
    model raises any alarm in one interval.

    Writes `<registry_uri>/monitoring/<YYYYmmddTHHMMSSZ>.json` (the Models page reads it). Skips while the
    model has no champion.

    :param model: the model's name.
    :param registry_uri: the model's registry root (`<artifact_root>/<model>`); templated.
    :param window_end: when the window ends (ISO 8601, e.g. "{{ data_interval_end }}": a scheduled run checks
        the interval that just ended); None: when the task runs; templated.
    :param window_s: the window checked, ending at `window_end`.
    :param baseline_s: the model's own baseline: the traffic of the `baseline_s` before the window.
    :param thresholds: the spec's `monitor:` keys (false_alarm_rate, error_rate_ratio, latency_p99_ratio,
        volume_drop, prediction_shift, prediction_spread_ratio, drift_psi, min_count); absent keys default.
    :param features: features watched for drift (empty: every feature of the reference).
    :param endpoint: the endpoint's name; templated.
    :param endpoint_conn_id: the local endpoint server's connection (its window API is the metrics source).
    :param sagemaker: SageMaker hosting settings: read CloudWatch, and the data capture under
        `sagemaker.data_capture_uri`, through `aws_conn_id` instead.
    :return: `{"status": "ok", "record_uri", "champion"}` (an alarm fails the task after notifying).
    """

    template_fields: Sequence[str] = ("registry_uri", "endpoint", "window_end")
    ui_color = "#f7efe3"

    def __init__(
        self, *, model: str, registry_uri: str, window_end: str | None = None, window_s: float = 3600.0,
        baseline_s: float = 6 * 3600.0, thresholds: Mapping[str, Any] | None = None, features: Sequence[str] = (), **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if window_s <= 0 or baseline_s <= 0:
            raise ValueError(f"window_s and baseline_s must be positive, got {window_s} and {baseline_s}")
        self.model = model
        self.registry_uri = registry_uri
        self.window_end = window_end
        self.window_s = window_s
        self.baseline_s = baseline_s
        self.thresholds = dict(thresholds or {})
        self.features = tuple(features)

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_mlprovider.monitoring.monitor import Reference, Thresholds, check_window
        from airflow_mlprovider.monitoring.reference import read_reference
        from airflow_mlprovider.registry.store import ModelRegistry

        store = self.store(self.registry_uri)
        champion = ModelRegistry(store, self.registry_uri).champion()
        if champion is None:
            raise AirflowSkipException(f"{self.model} has no champion yet: nothing serves to monitor")
        variant = variant_name(champion.version_id)
        end = datetime.fromisoformat(str(self.window_end)).timestamp() if self.window_end else time.time()
        start = end - self.window_s
        capture = self._capture(variant, start, end)
        current = self._counts(variant, start, end, capture)
        baseline = self._counts(variant, start - self.baseline_s, start)
        doc = read_reference(store, self.registry_uri, champion.version_id)
        reference = None if doc is None else Reference.from_dict(doc)
        if reference is not None and self.features:
            reference = Reference(reference.prediction, reference.prediction_bins,
                                  {f: b for f, b in reference.features.items() if f in self.features})
        thresholds = Thresholds.from_dict(self.thresholds)
        results = check_window(current, baseline, self.window_s, self.baseline_s, reference, thresholds,
                               predictions=current.prediction_sample or None,
                               features=dict(current.feature_sample) or None, unobserved=self._unobserved(capture))
        series = self._series(variant, start, end, capture)
        doc, uri = self._write_record(store, champion.version_id, start, end, results, series)
        for result in results:
            self.log.info("%s%s", "ALARM " if result.alarm else "", result.message)
        if doc["status"] == "alarm":
            link = getattr(context.get("ti"), "log_url", "") or ""
            lines = [f"{a['check']}: {a['message']}" for a in doc["alarms"]]
            self.announce(self.model, "monitor.alarm",
                          f"champion {champion.version_id} on endpoint {self.endpoint!r}, window {_iso(start)} - "
                          f"{_iso(end)}: " + " | ".join(lines) + (f" ({link})" if link else "") + f"; record {uri}",
                          alert=True)
            raise AirflowFailException(f"{self.model}: monitoring alarm: " + "; ".join(lines))
        return {"status": "ok", "record_uri": uri, "champion": champion.version_id}

    def _write_record(self, store: Any, champion: str, start: float, end: float, results: list,
                      series: dict) -> tuple[dict[str, Any], str]:
        """Write the record under the first free second from now: names are write-once, so two checks in
        the same second (a re-run, another interval checked at once) never overwrite each other."""
        from airflow_mlprovider.monitoring.monitor import record

        now = datetime.now(timezone.utc).replace(microsecond=0)
        for offset in range(MAX_RECORD_ATTEMPTS):
            checked_at = now + timedelta(seconds=offset)
            doc = record(self.model, champion, checked_at.isoformat(), _iso(start), _iso(end), results, series)
            uri = join_uri(self.registry_uri, "monitoring", f"{checked_at:%Y%m%dT%H%M%SZ}.json")
            if store.write_if(uri, json.dumps(doc, indent=2).encode(), None):
                return doc, uri
        raise AirflowFailException(f"no free record name under {self.registry_uri}/monitoring/ near {now}")

    def _unobserved(self, capture: Capture | None) -> str | None:
        """Why the prediction and feature checks cannot be made here (None: they can)."""
        if self.sagemaker is not None and capture is None:
            reason = (f"SageMaker endpoint {self.endpoint!r} has no data capture (spec serving.data_capture_percent), "
                      "and CloudWatch holds no predictions or features")
            self.log.warning("%s: the prediction and feature-drift checks are not made", reason)
            return reason
        return None

    def _capture(self, variant: str, start: float, end: float) -> Capture | None:
        """On SageMaker with data capture: the variant's captured invocations of the window (else None)."""
        if self.sagemaker is None or not self.sagemaker.data_capture_percent:
            return None
        from airflow_mlprovider.backends.aws.data_capture import CaptureReader

        uri = str(self.sagemaker.data_capture_uri)
        capture = CaptureReader(uri, self.aws_conn_id).read(self.endpoint, variant, start, end)
        (self.log.warning if capture.malformed else self.log.info)("data capture under %s: %s", uri, capture.report())
        return capture

    def _counts(self, variant: str, start: float, end: float, capture: Capture | None = None) -> VariantCounts:
        """The variant's counts; with a data capture, its predictions and features from there."""
        counts = self.metrics.window(self.endpoint, [variant], start, end)[variant]
        if capture is None:
            return counts
        from airflow_mlprovider.backends.aws.data_capture import with_capture

        return with_capture(counts, capture.between(start, end))

    def _series(self, variant: str, start: float, end: float,
                capture: Capture | None = None) -> dict[str, list[list[Any]]]:
        """The window in SERIES_POINTS equal parts: requests, 5xx rate, p99 latency and mean prediction."""
        series: dict[str, list[list[Any]]] = {"requests": [], "error_rate_5xx": [], "p99_latency_ms": [],
                                              "prediction_mean": []}
        step = (end - start) / SERIES_POINTS
        for i in range(SERIES_POINTS):
            part_end = start + (i + 1) * step
            counts = self._counts(variant, start + i * step, part_end, capture)
            at = _iso(part_end)
            series["requests"].append([at, counts.requests])
            series["error_rate_5xx"].append([at, counts.errors_5xx / counts.requests if counts.requests else None])
            series["p99_latency_ms"].append([at, counts.latency_p99_ms])
            mean = counts.prediction_sum / counts.prediction_count if counts.prediction_count else None
            series["prediction_mean"].append([at, mean])
        return series
