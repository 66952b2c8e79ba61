"""A SageMaker shadow's agreement from both variants' data capture: records paired by request body."""

from __future__ import annotations

import json

from aws_standin import Invocation, capture_line
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlprovider.backends.aws.capture_agreement import captured_agreement
from airflow_mlprovider.backends.aws.data_capture import Capture, parse_line


def captured(calls: list[tuple[float, dict, object]]) -> Capture:
    """A variant's capture of (time, request, answer) calls, through the documented line format."""
    return Capture(tuple(parse_line(capture_line(Invocation(t, json.dumps(req), json.dumps(ans))))
                         for t, req, ans in calls))


def test_equal_bodies_pair_whatever_the_event_ids_and_key_order() -> None:
    live = captured([(1.0, {"x": 1, "y": 2}, {"prediction": 10.0}), (2.0, {"x": 3, "y": 4}, {"prediction": 20.0})])
    # the mirrored copies: other event ids, later, keys in another order; one extra shadow call nobody else made
    shadow = captured([(1.2, {"y": 2, "x": 1}, {"prediction": 11.0}), (2.3, {"y": 4, "x": 3}, {"prediction": 20.0}),
                       (3.0, {"x": 9, "y": 9}, {"prediction": 99.0})])
    counts = captured_agreement(live, shadow)
    assert (counts.mirrored, counts.pairs, counts.same, counts.numeric) == (3, 2, 1, 2)
    assert counts.abs_diff_sum == 1.0 and counts.diff_sum == 1.0 and counts.live_mean == 15.0


def test_a_body_is_paired_at_most_once_per_capture_record() -> None:
    same = {"x": 1}
    live = captured([(1.0, same, {"prediction": 1.0})])
    shadow = captured([(1.1, same, {"prediction": 1.0}), (5.0, same, {"prediction": 1.0})])
    assert captured_agreement(live, shadow).pairs == 1


def test_rows_pair_row_by_row_and_unlike_shapes_not_at_all() -> None:
    rows = [{"x": 1}, {"x": 2}]
    live = captured([(1.0, rows, [{"prediction": 1.0}, {"prediction": 2.0}]), (2.0, {"x": 5}, {"prediction": 5.0})])
    shadow = captured([(1.1, rows, [{"prediction": 1.0}, {"prediction": 4.0}]), (2.1, {"x": 5}, [])])
    counts = captured_agreement(live, shadow)
    assert (counts.pairs, counts.same, counts.abs_diff_sum) == (2, 1, 2.0)


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(-1e6, 1e6, allow_nan=False)), max_size=30))
def test_a_shadow_answering_like_the_champion_agrees_on_every_pair(calls: list[tuple[int, float]]) -> None:
    """Whatever the bodies and their repetitions: identical answers to identical requests are all pairs, all equal."""
    live = captured([(float(i), {"x": body}, {"prediction": value}) for i, (body, value) in enumerate(calls)])
    shadow = captured([(i + 0.5, {"x": body}, {"prediction": value}) for i, (body, value) in enumerate(calls)])
    counts = captured_agreement(live, shadow)
    assert counts.pairs == counts.same == len(calls) and counts.abs_diff_sum == 0.0
