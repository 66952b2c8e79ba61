"""VariantCounts: the latency histogram arrives as pairs or as a JSON mapping and is normalised."""

from __future__ import annotations

import json

from airflow_mlprovider.rollout import VariantCounts


def test_latency_buckets_from_pairs_or_a_json_mapping_are_sorted_merged_and_cleaned():
    from_pairs = VariantCounts(requests=6, latency_buckets=[[2.0, 1], [1.0, 3], [2.0, 2], [float("nan"), 5], [3.0, 0]])
    from_json = VariantCounts(requests=6, latency_buckets=json.loads('{"1.0": 3, "2.0": 3, "x": 1}'))
    assert from_pairs.latency_buckets == from_json.latency_buckets == ((1.0, 3), (2.0, 3))


def test_counts_from_the_window_api_body_keep_every_guardrail_field():
    body = {"requests": 10, "errors_4xx": 1, "errors_5xx": 0, "latency_p99_ms": 12.0, "prediction_mean": 0.5,
            "prediction_count": 10, "prediction_sum": 5.0, "prediction_sum_sq": 3.0,
            "latency_buckets": [[10.0, 9], [12.0, 1]]}
    counts = VariantCounts(**json.loads(json.dumps(body)))
    assert (counts.prediction_count, counts.prediction_sum_sq, counts.latency_buckets[-1]) == (10, 3.0, (12.0, 1))


def test_monitoring_samples_keep_finite_numbers_only():
    counts = VariantCounts(prediction_sample=[1, "2", None, float("inf")],
                           feature_sample=json.loads('{"x": [1.0, "a", NaN], "y": []}'))
    assert counts.prediction_sample == (1.0, 2.0)
    assert dict(counts.feature_sample) == {"x": (1.0,), "y": ()}
    assert hash(counts) is not None  # still a hashable value
