"""PSI over reference-quantile bins: quiet on the reference's own distribution, alarmed on drift, any sample size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlprovider.monitoring.drift import Bins, drift_check, psi, reference_bins


def test_bins_are_the_reference_deciles():
    bins = reference_bins(np.arange(1000.0))
    assert len(bins.edges) == 9 and len(bins.fractions) == 10
    assert all(f == pytest.approx(0.1, abs=0.002) for f in bins.fractions)
    assert Bins.from_dict(bins.to_dict()) == bins


def test_ties_merge_bins_for_discrete_values():
    bins = reference_bins([0.0] * 700 + [1.0] * 300)
    assert bins.edges == (1.0,) and bins.fractions == pytest.approx((0.7, 0.3))


def test_constant_reference_has_no_bins():
    assert reference_bins([3.0] * 50) is None
    assert reference_bins([np.nan, 1.0]) is None


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(30, 20_000), kind=st.sampled_from(["normal", "lognormal", "int"]))
def test_same_distribution_is_quiet_at_any_sample_size(seed, n, kind):
    rng = np.random.default_rng(seed)
    draw = {"normal": lambda k: rng.normal(5, 2, k), "lognormal": lambda k: rng.lognormal(0, 1.5, k),
            "int": lambda k: rng.poisson(3, k).astype(float)}[kind]
    bins = reference_bins(draw(5000))
    assert not drift_check("drift", bins, draw(n), 0.2, 1e-4).alarm


@pytest.mark.parametrize("n", [300, 5000])
def test_shifted_distribution_alarms(n):
    rng = np.random.default_rng(3)
    bins = reference_bins(rng.normal(0, 1, 5000))
    result = drift_check("drift", bins, rng.normal(1.0, 1, n), 0.2, 1e-4)
    assert result.alarm and result.value > result.limit


def test_psi_ignores_non_finite_values_and_reports_the_count():
    bins = reference_bins(np.arange(100.0))
    value, n = psi(bins, [np.nan, np.inf, 5.0, 50.0])
    assert n == 2 and value > 0
    assert drift_check("drift", bins, [np.nan], 0.2, 1e-4).value is None
