"""The cheapest-instance picker (pure) and its CLI."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_mlprovider.backends.aws.instance_picker import (
    NoInstanceFits,
    instance_types,
    pick_instance,
    price_table,
)
from airflow_mlprovider.cli import main

needs = st.tuples(
    st.integers(min_value=1, max_value=100),
    st.floats(min_value=0.5, max_value=400, allow_nan=False),
    st.booleans(),
    st.sampled_from(["training", "hosting"]),
)


@given(needs)
def test_pick_fits_and_nothing_cheaper_fits(need):
    cpus, memory, gpu, purpose = need
    try:
        choice = pick_instance(cpus, memory, gpu, purpose)
    except NoInstanceFits:
        assert not any(t.fits(cpus, memory, gpu) for t in instance_types(purpose))
        return
    chosen = choice.chosen
    assert chosen.vcpus >= cpus and chosen.memory_gib >= memory and (chosen.gpus > 0 or not gpu)
    assert not any(t.fits(cpus, memory, gpu) and t.usd_per_hour < chosen.usd_per_hour for t in instance_types(purpose))
    prices = [chosen.usd_per_hour] + [a.usd_per_hour for a in choice.alternatives]
    assert prices == sorted(prices)
    assert all(a.fits(cpus, memory, gpu) for a in choice.alternatives)


def test_table_is_well_formed():
    names = [row["name"] for row in price_table()["instances"]]
    assert len(names) == len(set(names)) and all(n.startswith("ml.") for n in names)
    assert "us-east-1" in price_table()["source"]


def test_known_picks():
    assert pick_instance(4, 16, purpose="training").chosen.name == "ml.m5.xlarge"
    assert pick_instance(1, 1, purpose="hosting").chosen.name == "ml.t2.medium"
    assert pick_instance(1, 1, purpose="training").chosen.name == "ml.m5.large"  # t2/c5.large are hosting only
    assert pick_instance(2, 8, gpu=True).chosen.name == "ml.g4dn.xlarge"


def test_nothing_fits_and_bad_purpose_are_clear_errors():
    with pytest.raises(NoInstanceFits, match="no SageMaker training instance has 500 vCPUs.*largest"):
        pick_instance(500, 16)
    with pytest.raises(ValueError, match="purpose must be one of training, hosting"):
        pick_instance(2, 4, purpose="inference")


def test_cli_prints_choice_and_alternatives(capsys):
    assert main(["instance", "--cpus", "4", "--memory", "16"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("cheapest for training: ml.m5.xlarge")
    assert out.count("then: ") == 3


def test_cli_exits_1_when_nothing_fits(capsys):
    assert main(["instance", "--cpus", "4", "--memory", "9999", "--gpu"]) == 1
    assert "no SageMaker training instance" in capsys.readouterr().err
