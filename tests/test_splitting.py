from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_mlprovider.splitting import hash_bucket, split, split_parquet

fractions = st.floats(min_value=0.05, max_value=0.4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=300), fractions, fractions)
def test_time_split_never_leaks_the_future_and_keeps_each_time_whole(days: list[int], validation: float, test: float) -> None:
    df = pd.DataFrame({"day": pd.to_datetime("2024-01-01") + pd.to_timedelta(days, unit="D"), "row": range(len(days))})
    train, val, tst = split(df, "time", "day", validation, test)
    assert len(train) + len(val) + len(tst) == len(df)
    assert sorted(pd.concat([train, val, tst])["row"]) == list(range(len(df)))
    assert len(tst) > 0  # the latest time is always test
    parts = [p["day"] for p in (train, val, tst) if len(p)]
    for earlier, later in zip(parts, parts[1:]):
        assert earlier.max() < later.min()


def test_time_split_takes_the_latest_fractions_of_distinct_times() -> None:
    df = pd.DataFrame({"day": [d for d in range(20) for _ in range(3)]})  # 20 distinct days, 3 rows each
    train, val, tst = split(df, "time", "day", 0.15, 0.25)
    assert sorted(tst["day"].unique()) == [15, 16, 17, 18, 19]
    assert sorted(val["day"].unique()) == [12, 13, 14]
    assert train["day"].max() == 11 and len(train) == 36


def test_too_few_distinct_times_leave_train_empty_rather_than_leak() -> None:
    train, val, tst = split(pd.DataFrame({"day": [1, 1, 2, 2]}), "time", "day", 0.2, 0.2)
    assert (len(train), list(val["day"]), list(tst["day"])) == (0, [1, 1], [2, 2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=200, unique=True), fractions, fractions)
def test_hash_split_is_a_function_of_the_key_alone(keys: list[str], validation: float, test: float) -> None:
    df = pd.DataFrame({"id": keys})
    parts = split(df, "hash", "id", validation, test)
    reordered = split(df.iloc[::-1], "hash", "id", validation, test)
    for part, again in zip(parts, reordered):
        assert set(part["id"]) == set(again["id"])
    assert sum(map(len, parts)) == len(keys)
    for key in parts[2]["id"]:
        assert hash_bucket(key) < test
    for key in parts[1]["id"]:
        assert test <= hash_bucket(key) < test + validation
    for key in parts[0]["id"]:
        assert hash_bucket(key) >= test + validation


def test_hash_split_fractions_are_close_to_the_requested_ones() -> None:
    train, val, tst = split(pd.DataFrame({"id": range(20_000)}), "hash", "id", 0.2, 0.1)
    assert abs(len(val) / 20_000 - 0.2) < 0.02 and abs(len(tst) / 20_000 - 0.1) < 0.02


def test_hash_buckets_are_the_same_in_another_process_with_another_hash_seed() -> None:
    keys = ["a", "b", 17, 3.5, "ünïcode"]
    code = f"from airflow_mlprovider.splitting import hash_bucket; print([hash_bucket(k) for k in {keys!r}])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str([hash_bucket(k) for k in keys])


@pytest.mark.parametrize(
    ("frame", "by", "message"),
    [
        (pd.DataFrame({"x": [1]}), "time", "split column 'day' is not in the data; columns are: x"),
        (pd.DataFrame({"day": [1, None]}), "time", "1 missing values"),
        (pd.DataFrame({"day": [1]}), "random", "allowed: 'time', 'hash'"),
    ],
)
def test_bad_inputs_are_clear_errors(frame: pd.DataFrame, by: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split(frame, by, "day", 0.1, 0.1)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.floats(-5, 5)), min_size=1, max_size=80),
    st.sampled_from(["time", "hash"]),
    st.integers(1, 7),
)
def test_streamed_split_gives_the_in_memory_split_rows(tmp_path_factory, rows, by, batch_rows) -> None:
    folder = tmp_path_factory.mktemp("split")
    frame = pd.DataFrame(rows, columns=["day", "x"]).assign(day=lambda f: pd.to_datetime("2024-01-01") + pd.to_timedelta(f["day"], "D"))
    frame.to_parquet(folder / "all.parquet", index=False)
    destinations = {name: str(folder / f"{name}.parquet") for name in ("train", "validation", "test")}
    # small batches: several of them even on small inputs
    counts, distinct = split_parquet(str(folder / "all.parquet"), destinations, by, "day", 0.2, 0.2, batch_rows)
    expected = split(frame, by, "day", 0.2, 0.2)
    assert distinct == frame["day"].nunique()
    for name, part in zip(("train", "validation", "test"), expected):
        streamed = pd.read_parquet(destinations[name])
        assert counts[name] == len(part)
        pd.testing.assert_frame_equal(streamed.reset_index(drop=True), part, check_dtype=False)
