"""AgreementCounts: per-pair figures, exact merging of any split, values of any JSON type."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlprovider.serving.agreement import AgreementCounts, same_value

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
pairs_of = st.lists(st.tuples(finite, finite), min_size=1, max_size=60)


def counts_of(pairs: list[tuple[float, float]]) -> AgreementCounts:
    counts = AgreementCounts()
    for live, shadow in pairs:
        counts.add_pair(live, shadow)
    return counts


@given(pairs_of, st.integers(min_value=0, max_value=60))
def test_merging_any_split_equals_counting_all(pairs: list[tuple[float, float]], cut: int) -> None:
    whole = counts_of(pairs)
    merged = counts_of(pairs[:cut])
    merged.merge(counts_of(pairs[cut:]))
    assert (merged.pairs, merged.same, merged.numeric) == (whole.pairs, whole.same, whole.numeric)
    scale = max(1.0, max(abs(x) for pair in pairs for x in pair))
    assert merged.abs_diff_sum == pytest.approx(whole.abs_diff_sum, rel=1e-9, abs=1e-9 * scale)
    assert merged.live_mean == pytest.approx(whole.live_mean, rel=1e-9, abs=1e-9 * scale)
    assert merged.live_m2 == pytest.approx(whole.live_m2, rel=1e-6, abs=1e-6 * scale * scale)


@given(pairs_of)
def test_figures_are_the_pairs_own(pairs: list[tuple[float, float]]) -> None:
    counts = counts_of(pairs)
    lives = [live for live, _ in pairs]
    assert counts.numeric == len(pairs)
    assert counts.same == sum(live == shadow for live, shadow in pairs)
    assert counts.abs_diff_sum == pytest.approx(math.fsum(abs(s - v) for v, s in pairs), rel=1e-9, abs=1e-6)
    assert counts.live_mean == pytest.approx(statistics.fmean(lives), rel=1e-9, abs=1e-3)
    if len(lives) > 1:
        spread = max(1.0, max(abs(x) for x in lives))
        assert counts.live_m2 / (len(lives) - 1) == pytest.approx(statistics.variance(lives), rel=1e-6,
                                                                   abs=1e-9 * spread * spread)


def test_spread_is_exact_far_from_zero() -> None:
    """1e9 +- 1: a raw sum of squares would lose the variance entirely in double precision."""
    counts = counts_of([(1e9 + d, 1e9 + d) for d in (-1.0, 1.0) * 500])
    assert counts.live_m2 / (counts.numeric - 1) == pytest.approx(1000 / 999)


@pytest.mark.parametrize(
    ("live", "shadow", "same", "numeric"),
    [
        ("cat", "cat", True, False),
        ("cat", "dog", False, False),
        (1, 1.0, True, True),
        (True, 1, False, False),
        (None, None, True, False),
        ({"a": 1}, {"a": 1}, True, False),
        (10**400, 10**400, True, False),  # a JSON integer too large for a float: compared, not differenced
        (1e308, -1e308, False, False),  # the difference overflows
    ],
)
def test_values_of_any_json_type(live: object, shadow: object, same: bool, numeric: bool) -> None:
    counts = AgreementCounts()
    counts.add_pair(live, shadow)
    assert (counts.pairs, counts.same, counts.numeric) == (1, int(same), int(numeric))
    assert same_value(live, shadow) is same
    assert math.isfinite(counts.abs_diff_sum)


def test_round_trip_ignores_unknown_keys() -> None:
    counts = counts_of([(1.0, 2.0), (3.0, 3.0)])
    assert AgreementCounts.from_dict({**counts.to_dict(), "from_a_newer_server": 1}) == counts
