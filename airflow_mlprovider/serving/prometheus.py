"""Cumulative counters since the server started, written by hand in the Prometheus text format (0.0.4)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from airflow_mlprovider.serving.outcome import Outcome, OutcomeCounts

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_FAMILIES = (
    ("mlprovider_invocations_total", "counter", "Invocations by endpoint and variant (probe: targeted health checks)."),
    ("mlprovider_invocation_4xx_total", "counter", "Invocations answered with a 4xx status."),
    ("mlprovider_invocation_5xx_total", "counter", "Invocations answered with a 5xx status."),
    ("mlprovider_latency_seconds", "histogram", "Time spent in the model's predict() by the calls that reached the model."),
    ("mlprovider_prediction", "summary", "The variant's numeric prediction field of successful responses."),
    ("mlprovider_variant_weight", "gauge", "Share of routed traffic in percent."),
)


@dataclass
class _Series(OutcomeCounts):
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS_S))  # cumulative
    latency_sum: float = 0.0
    latency_count: int = 0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class PrometheusCounters:
    """Thread-safe cumulative series keyed by (endpoint, variant, probe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, bool], _Series] = {}

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            series = self._series.setdefault((outcome.endpoint, outcome.variant, outcome.probe), _Series())
            series.count(outcome)
            if outcome.latency_s is not None:
                series.latency_sum += outcome.latency_s
                series.latency_count += 1
                for i, bound in enumerate(LATENCY_BUCKETS_S):
                    if outcome.latency_s <= bound:
                        series.latency_buckets[i] += 1

    def render(self, weights: Mapping[str, Mapping[str, float]]) -> str:
        """The exposition; `weights` is endpoint -> variant -> traffic percent (the weight gauge)."""
        with self._lock:
            series = {key: replace(value, latency_buckets=list(value.latency_buckets)) for key, value in sorted(self._series.items())}
        samples: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
        for (endpoint, variant, probe), s in series.items():
            base = {"endpoint": endpoint, "variant": variant, "probe": "true" if probe else "false"}
            labels = _labels(**base)
            samples["mlprovider_invocations_total"].append(f"mlprovider_invocations_total{labels} {s.requests}")
            samples["mlprovider_invocation_4xx_total"].append(f"mlprovider_invocation_4xx_total{labels} {s.errors_4xx}")
            samples["mlprovider_invocation_5xx_total"].append(f"mlprovider_invocation_5xx_total{labels} {s.errors_5xx}")
            latency = samples["mlprovider_latency_seconds"]
            for bound, count in zip(LATENCY_BUCKETS_S, s.latency_buckets):
                latency.append(f"mlprovider_latency_seconds_bucket{_labels(**base, le=str(bound))} {count}")
            latency.append(f'mlprovider_latency_seconds_bucket{_labels(**base, le="+Inf")} {s.latency_count}')
            latency.append(f"mlprovider_latency_seconds_sum{labels} {_number(s.latency_sum)}")
            latency.append(f"mlprovider_latency_seconds_count{labels} {s.latency_count}")
            prediction = samples["mlprovider_prediction"]
            prediction.append(f"mlprovider_prediction_sum{labels} {_number(s.prediction_sum)}")
            prediction.append(f"mlprovider_prediction_count{labels} {s.prediction_count}")
        for endpoint, variants in sorted(weights.items()):
            for variant, percent in sorted(variants.items()):
                samples["mlprovider_variant_weight"].append(
                    f"mlprovider_variant_weight{_labels(endpoint=endpoint, variant=variant)} {_number(float(percent))}"
                )
        lines: list[str] = []
        for name, kind, help_text in _FAMILIES:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples[name]]
        return "\n".join(lines) + "\n"
