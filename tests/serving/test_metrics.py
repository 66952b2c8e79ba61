"""The window API (exact counts for a known sequence on a controlled clock) and the Prometheus exposition."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import pytest

from airflow_mlprovider.serving.client import EndpointClient
from airflow_mlprovider.serving.histogram import BUCKETS, GROWTH, bucket_of, quantile_ms, upper_bound_ms
from airflow_mlprovider.serving.outcome import Outcome
from airflow_mlprovider.serving.prometheus import PrometheusCounters
from airflow_mlprovider.serving.server import EndpointServer
from airflow_mlprovider.serving.window import TrafficWindow
from tests.serving.serving_testing import TOKEN, variant_body


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(artifacts: dict[str, Path]) -> tuple[EndpointClient, Clock]:
    clock = Clock(1_000_000.25)
    with EndpointServer("127.0.0.1", 0, admin_token=TOKEN, seed=3, clock=clock) as server:
        admin = EndpointClient(server.url, TOKEN)
        admin.put_variant("sales", "champion", variant_body(artifacts["champion"], 100))
        admin.put_variant("sales", "candidate", variant_body(artifacts["candidate"], 0, fault_injection=1.0))
        yield admin, clock


def test_window_counts_are_exact_for_a_known_sequence(clocked: tuple[EndpointClient, Clock]) -> None:
    admin, clock = clocked
    for x in (1, 2, 3):  # second 1_000_000: three 200s, predictions 2, 4, 6
        assert admin.invoke("sales", {"x": x})[0] == 200
    clock.now = 1_000_001.9  # second 1_000_001: a 400, a 500, a 502 on the champion
    assert [admin.invoke("sales", body)[0] for body in ({"x": "a"}, {"x": 13}, {"x": 99})] == [400, 500, 502]
    admin.set_weights("sales", {"champion": 50, "candidate": 50})
    clock.now = 1_000_005.0  # second 1_000_005: both variants; the candidate always fails (fault injection 1.0)
    served = [admin.invoke("sales", {"x": 10}) for _ in range(40)]
    candidate_calls = sum(variant == "candidate" for _, variant, _ in served)
    assert all(status == 503 for status, variant, _ in served if variant == "candidate")
    for _ in range(5):  # probes are never in the window
        assert admin.invoke("sales", {"x": 1}, variant="candidate")[0] == 200

    first = admin.window("sales", 1_000_000, 1_000_001)
    champion = first["champion"]
    assert first == {"champion": {"requests": 3, "errors_4xx": 0, "errors_5xx": 0,
                                  "latency_p99_ms": champion["latency_p99_ms"], "prediction_mean": 4.0,
                                  "prediction_count": 3, "prediction_sum": 12.0, "prediction_sum_sq": 56.0,
                                  "latency_buckets": champion["latency_buckets"], "prediction_sample": [2.0],
                                  "feature_sample": {"x": [1.0]}}}
    assert champion["latency_p99_ms"] > 0
    # the histogram the latency guardrail tests: every request in one (bound, count) pair, p99 among the bounds
    assert sum(n for _, n in champion["latency_buckets"]) == 3
    assert champion["latency_p99_ms"] == max(bound for bound, _ in champion["latency_buckets"])
    second = admin.window("sales", 1_000_001, 1_000_002)["champion"]
    assert (second["requests"], second["errors_4xx"], second["errors_5xx"], second["prediction_mean"]) == (3, 1, 2, None)
    both = admin.window("sales", 1_000_000, 1_000_002)["champion"]
    assert (both["requests"], both["errors_4xx"], both["errors_5xx"], both["prediction_mean"]) == (6, 1, 2, 4.0)
    # the first prediction of each second and its request's numeric fields (the second second had none)
    assert both["prediction_sample"] == [2.0] and both["feature_sample"] == {"x": [1.0]}
    last = admin.window("sales", 1_000_005, 1_000_006)
    assert last["candidate"] == {"requests": candidate_calls, "errors_4xx": 0, "errors_5xx": candidate_calls,
                                 "latency_p99_ms": None, "prediction_mean": None, "prediction_count": 0,
                                 "prediction_sum": 0.0, "prediction_sum_sq": 0.0, "latency_buckets": [],
                                 "prediction_sample": [], "feature_sample": {}}
    assert last["champion"]["requests"] == 40 - candidate_calls and last["champion"]["prediction_mean"] == 20.0
    assert admin.window("sales", 1_000_002, 1_000_005) == {}
    assert admin.window("elsewhere", 0, 2_000_000) == {}
    # a fractional window covers every second it overlaps
    assert admin.window("sales", 1_000_000.5, 1_000_001.1)["champion"]["requests"] == 6


def test_window_rejects_bad_parameters(clocked: tuple[EndpointClient, Clock]) -> None:
    admin, _ = clocked
    assert admin.request("GET", "/admin/endpoints/sales/window?start=10")[0] == 400
    assert admin.request("GET", "/admin/endpoints/sales/window?start=a&end=b")[0] == 400
    assert admin.request("GET", "/admin/endpoints/sales/window?start=10&end=5")[0] == 400


def test_window_forgets_seconds_older_than_the_retention() -> None:
    clock = Clock(10_000.0)
    window = TrafficWindow(retention_s=3600, clock=clock)
    window.record(Outcome("e", "v", 200, latency_s=0.002, prediction=1.0))
    window.record(Outcome("e", "v", 200, probe=True))
    assert window.query("e", 0, 20_000)["v"]["requests"] == 1
    clock.now = 10_000.0 + 3600
    window.record(Outcome("e", "v", 500))
    assert window.query("e", 0, 20_000)["v"]["requests"] == 2  # still inside the retention
    clock.now = 10_000.0 + 3602
    assert window.query("e", 0, 20_000)["v"] == {
        "requests": 1, "errors_4xx": 0, "errors_5xx": 1, "latency_p99_ms": None, "prediction_mean": None,
        "prediction_count": 0, "prediction_sum": 0.0, "prediction_sum_sq": 0.0, "latency_buckets": [],
        "prediction_sample": [], "feature_sample": {},
    }
    assert sum(len(seconds) for seconds in window._seconds.values()) == 1


def test_log_histogram_quantile_is_the_bucket_upper_bound() -> None:
    assert bucket_of(0.0) == 0 and bucket_of(10**9) == BUCKETS - 1
    for latency_ms in (0.07, 1.0, 3.3, 250.0, 9_000.0):
        bound = upper_bound_ms(bucket_of(latency_ms))
        assert latency_ms <= bound < latency_ms * GROWTH * (1 + 1e-9)
    counts: dict[int, int] = defaultdict(int)
    for _ in range(990):
        counts[bucket_of(1.0)] += 1
    for _ in range(10):
        counts[bucket_of(100.0)] += 1
    assert quantile_ms(counts, 0.99) == pytest.approx(upper_bound_ms(bucket_of(1.0)))
    counts[bucket_of(100.0)] += 1
    assert quantile_ms(counts, 0.99) == pytest.approx(upper_bound_ms(bucket_of(100.0)))
    assert quantile_ms({}, 0.99) is None


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\]|\\.)*\",?)*)\} (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> tuple[dict[str, str], dict[tuple[str, frozenset], float]]:
    """A strict reader of the text format: HELP/TYPE before samples, every sample in a declared family."""
    types: dict[str, str] = {}
    samples: dict[tuple[str, frozenset], float] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram", "summary"} and name not in types
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE line before it"
        samples[(name, frozenset(_LABEL.findall(labels)))] = float(value)
    return types, samples


def test_metrics_exposition_parses_and_adds_up(clocked: tuple[EndpointClient, Clock]) -> None:
    admin, _ = clocked
    admin.set_weights("sales", {"champion": 90, "candidate": 10})
    routed = [admin.invoke("sales", body) for body in [{"x": 1}] * 30 + [{"x": "bad"}, {"x": 13}]]
    admin.invoke("sales", {"x": 2}, variant="candidate")
    types, samples = parse_exposition(admin.metrics())
    assert types == {
        "mlprovider_invocations_total": "counter",
        "mlprovider_invocation_4xx_total": "counter",
        "mlprovider_invocation_5xx_total": "counter",
        "mlprovider_latency_seconds": "histogram",
        "mlprovider_prediction": "summary",
        "mlprovider_variant_weight": "gauge",
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    for name in ("champion", "candidate"):
        statuses = [status for status, variant, _ in routed if variant == name]
        labels = {"endpoint": "sales", "variant": name, "probe": "false"}
        if not statuses:
            assert ("mlprovider_invocations_total", frozenset(labels.items())) not in samples
            continue
        assert value("mlprovider_invocations_total", **labels) == len(statuses)
        assert value("mlprovider_invocation_4xx_total", **labels) == sum(400 <= s < 500 for s in statuses)
        assert value("mlprovider_invocation_5xx_total", **labels) == sum(s >= 500 for s in statuses)
    champion = {"endpoint": "sales", "variant": "champion", "probe": "false"}
    champion_calls = sum(variant == "champion" for _, variant, _ in routed)
    champion_ok = sum(variant == "champion" and status == 200 for status, variant, _ in routed)
    assert value("mlprovider_prediction_count", **champion) == champion_ok
    assert value("mlprovider_prediction_sum", **champion) == 2.0 * champion_ok
    probe = {"endpoint": "sales", "variant": "candidate", "probe": "true"}
    assert value("mlprovider_invocations_total", **probe) == 1
    assert value("mlprovider_prediction_sum", **probe) == 6.0
    assert value("mlprovider_variant_weight", endpoint="sales", variant="champion") == 90.0
    assert value("mlprovider_variant_weight", endpoint="sales", variant="candidate") == 10.0

    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in samples.items()
        if name == "mlprovider_latency_seconds_bucket" and dict(labels)["variant"] == "champion" and dict(labels)["probe"] == "false"
    )
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)  # cumulative
    assert buckets[-1][0] == math.inf
    assert buckets[-1][1] == value("mlprovider_latency_seconds_count", **champion)
    # the model was called by every routed champion request but the invalid one
    assert value("mlprovider_latency_seconds_count", **champion) == champion_calls - sum(
        variant == "champion" and status == 400 for status, variant, _ in routed
    )


def test_label_values_are_escaped() -> None:
    # the server refuses such names (letters, digits, '.', '_', '-'); the exposition escapes whatever it is given
    counters = PrometheusCounters()
    counters.record(Outcome('odd"name', "v\\1", 200))
    _, samples = parse_exposition(counters.render({}))
    assert samples[("mlprovider_invocations_total", frozenset({("endpoint", 'odd\\"name'), ("variant", "v\\\\1"), ("probe", "false")}))] == 1
