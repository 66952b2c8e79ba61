"""Reading SageMaker data capture: the record format in every encoding, malformed lines, hour folders, the config."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
from aws_standin import Invocation, capture_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_mlprovider.backends.aws.data_capture import (
    CaptureReader,
    MalformedCapture,
    capture_config,
    hour_folders,
    parse_file,
    parse_line,
    with_capture,
)
from airflow_mlprovider.backends.aws.hosting import SageMakerHosting
from airflow_mlprovider.rollout.counts import VariantCounts

NOON = datetime(2026, 1, 5, 12, tzinfo=timezone.utc).timestamp()

# the shape of AWS's documented example (Model Monitor, "capture data"): JSON captured as text
DOCUMENTED = {
    "captureData": {
        "endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                          "data": "{\"Account Length\": 134, \"Day Mins\": 2.55, \"State\": \"AK\"}", "encoding": "JSON"},
        "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                           "data": "[0.008645681664347649]", "encoding": "JSON"},
    },
    "eventMetadata": {"eventId": "960f9337-414e-4f4c-8acd-d6a8359e667c", "inferenceTime": "2021-08-27T20:44:27Z"},
    "eventVersion": "0",
}


def test_the_documented_example_reads() -> None:
    record = parse_line(json.dumps(DOCUMENTED))
    assert record.event_id == "960f9337-414e-4f4c-8acd-d6a8359e667c"
    assert record.inference_time == datetime(2021, 8, 27, 20, 44, 27, tzinfo=timezone.utc).timestamp()
    assert record.features == ((("Account Length", 134.0), ("Day Mins", 2.55)),)  # strings are no features
    assert record.predictions == (0.008645681664347649,) and record.inference_id is None
    assert parse_line(_with(["eventMetadata", "inferenceId"], "req-7")).inference_id == "req-7"


@pytest.mark.parametrize(("json_types", "csv_types", "encoding"), [
    (["application/json"], [], "JSON"),  # named in CaptureContentTypeHeader: text
    ([], [], "BASE64"),  # SageMaker's default without the header
])
def test_our_container_s_json_in_each_encoding(json_types, csv_types, encoding) -> None:
    invocation = Invocation(NOON, json.dumps({"x": 1.5, "promo": True, "day": "d"}), json.dumps({"prediction": 4.0}))
    line = capture_line(invocation, json_types, csv_types)
    assert json.loads(line)["captureData"]["endpointInput"]["encoding"] == encoding
    record = parse_line(line)
    assert record.features == ((("x", 1.5),),) and record.predictions == (4.0,)  # booleans are no numbers


@pytest.mark.parametrize("csv_types", [["text/csv"], []])  # CSV as text, or BASE64 of text/csv
def test_csv_rows_are_positional_features_and_first_cells_predictions(csv_types) -> None:
    invocation = Invocation(NOON, "1.5,2,a\n3,4,b\n", "0.25,0.75\n0.5,0.5\n", "text/csv", "text/csv")
    record = parse_line(capture_line(invocation, [], csv_types))
    assert record.features == ((("0", 1.5), ("1", 2.0)), (("0", 3.0), ("1", 4.0)))
    assert record.predictions == (0.25, 0.5)


def test_batches_and_a_named_prediction_field() -> None:
    invocation = Invocation(NOON, json.dumps([{"x": 1}, {"x": 2}]),
                            json.dumps([{"score": 0.1, "prediction": 7}, {"score": 0.2, "prediction": 8}]))
    line = capture_line(invocation)
    assert parse_line(line).predictions == (0.1, 0.2)  # the first numeric field, as the local server reads it
    assert parse_line(line, "prediction").predictions == (7.0, 8.0)
    assert parse_line(line).features == ((("x", 1.0),), (("x", 2.0),))


def test_an_error_answer_or_an_input_only_capture_has_no_prediction() -> None:
    error = Invocation(NOON, json.dumps({"x": 1}), json.dumps({"error": "bad request"}))
    assert parse_line(capture_line(error)).predictions == ()
    assert parse_line(capture_line(error, output_captured=False)).predictions == ()


def _with(path: list[str], value) -> str:
    doc = json.loads(json.dumps(DOCUMENTED))
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(doc)


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "no captureData"),
    (_with(["eventMetadata", "eventId"], None), "eventId"),
    (_with(["eventMetadata", "inferenceTime"], "yesterday"), "not an ISO 8601 time"),
    (_with(["captureData", "endpointOutput", "encoding"], "GZIP"), "unknown encoding 'GZIP'"),
    (_with(["captureData", "endpointOutput", "data"], "{\"prediction\": "), "JSON data does not parse"),
    (_with(["captureData", "endpointInput", "encoding"], "BASE64"), "BASE64 data does not decode"),
    (_with(["captureData", "endpointInput"], {"observedContentType": "image/png", "mode": "INPUT",
                                               "data": base64.b64encode(b"png").decode(), "encoding": "BASE64"}),
     "neither JSON nor CSV"),
    (_with(["captureData", "endpointInput", "data"], None), "no data string"),
])
def test_malformed_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(MalformedCapture, match=reason):
        parse_line(line)


def test_a_file_counts_malformed_lines_and_reads_the_rest() -> None:
    good = [capture_line(Invocation(NOON + i, json.dumps({"x": i}), json.dumps({"prediction": i}))) for i in range(3)]
    text = "\n".join([good[0], "{broken", "", good[1], json.dumps({"eventVersion": "0"}), good[2]])
    capture = parse_file(text, NOON, NOON + 3600)
    assert [r.predictions for r in capture.records] == [(0.0,), (1.0,), (2.0,)]
    assert capture.malformed == 2 and capture.problems[0].startswith("line 2: not JSON")
    assert "2 malformed lines skipped" in capture.report()


def test_a_file_keeps_only_the_window() -> None:
    lines = [capture_line(Invocation(NOON + s, "{}", json.dumps({"prediction": s}))) for s in (-1, 0, 599, 600)]
    capture = parse_file("\n".join(lines), NOON, NOON + 600)
    assert capture.predictions() == [0.0, 599.0]  # [start, end)


def test_hour_folders_are_the_hours_the_window_overlaps() -> None:
    assert hour_folders(NOON, NOON + 3600) == ["2026/01/05/12"]  # ends at 13:00 sharp: not 13
    assert hour_folders(NOON - 1, NOON + 1) == ["2026/01/05/11", "2026/01/05/12"]
    assert hour_folders(NOON + 1800, NOON + 1801) == ["2026/01/05/12"]
    midnight = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    assert hour_folders(midnight - 3600, midnight + 1) == ["2025/12/31/23", "2026/01/01/00"]
    assert hour_folders(NOON, NOON) == []


def test_with_capture_gives_counts_the_predictions_and_features() -> None:
    lines = [capture_line(Invocation(NOON + i, json.dumps({"x": i}), json.dumps({"prediction": 2 * i}))) for i in (1, 2)]
    counts = with_capture(VariantCounts(requests=10), parse_file("\n".join(lines), NOON, NOON + 60))
    assert (counts.requests, counts.prediction_count, counts.prediction_sum, counts.prediction_sum_sq) == (10, 2, 6.0, 20.0)
    assert counts.prediction_sample == (2.0, 4.0) and dict(counts.feature_sample) == {"x": (1.0, 2.0)}


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    second=st.integers(0, 10**9),
    features=st.dictionaries(names, finite, max_size=5),
    prediction=finite,
    json_as_text=st.booleans(),
    event_id=st.uuids().map(str),
)
def test_round_trip_of_a_record(second, features, prediction, json_as_text, event_id) -> None:
    invocation = Invocation(float(second), json.dumps(features), json.dumps({"prediction": prediction}),
                            event_id=event_id)
    record = parse_line(capture_line(invocation, ["application/json"] if json_as_text else []))
    assert record.event_id == event_id and record.inference_time == second
    assert dict(record.features[0]) == {k: float(v) for k, v in features.items()}
    assert record.predictions == (prediction,)


def test_capture_config_is_what_sagemaker_takes() -> None:
    config = capture_config("s3://bucket/ml/m/data_capture", 10)
    assert config["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    assert config["CaptureContentTypeHeader"]["JsonContentTypes"] == ["application/json"]
    for percent in (-1, 101, 12.5, True):
        with pytest.raises(ValueError, match="0..100"):
            capture_config("s3://bucket/x", percent)
    for uri in ("bucket/x", "s3:///x", "s3://b/" + "k" * 600):
        with pytest.raises(ValueError, match="destination"):
            capture_config(uri, 10)


def test_the_reader_lists_only_the_window_s_hours(aws_standin, s3_bucket) -> None:
    """Files in other hours are never read: a broken file there would otherwise show as malformed."""
    s3 = aws_standin.client("s3")
    root = f"s3://{s3_bucket}/capture"

    def put(hour: str, name: str, body: str) -> None:
        s3.put_object(Bucket=s3_bucket, Key=f"capture/ep/v-1/{hour}/{name}", Body=body.encode())

    put("2026/01/05/11", "59-00-000-a.jsonl", "{broken")
    put("2026/01/05/13", "00-00-000-b.jsonl", "{broken")
    put("2026/01/05/12", "00-05-000-c.jsonl", capture_line(Invocation(NOON + 5, "{}", '{"p": 1}', event_id="e1")))
    put("2026/01/05/12", "30-00-000-d.jsonl", capture_line(Invocation(NOON + 1800, "{}", '{"p": 2}', event_id="e2")))
    put("2026/01/05/12", "notes.txt", "{broken")
    s3.put_object(Bucket=s3_bucket, Key="capture/ep/v-2/2026/01/05/12/00-01-000-e.jsonl",
                  Body=capture_line(Invocation(NOON + 1, "{}", '{"p": 3}')).encode())

    capture = CaptureReader(root).read("ep", "v-1", NOON, NOON + 3600)
    assert (capture.files, capture.malformed, capture.predictions()) == (2, 0, [1.0, 2.0])
    assert [r.event_id for r in CaptureReader(root).read("ep", "v-1", NOON, NOON + 60).records] == ["e1"]


def test_the_capture_destination_defaults_under_the_model_root(aws_spec) -> None:
    default = aws_spec(serving={"endpoint": "e", "data_capture_percent": 5})
    assert SageMakerHosting.from_spec(default).data_capture_uri == f"{default.model_root}/data_capture"
    chosen = aws_spec(serving={"endpoint": "e", "data_capture_percent": 5, "data_capture_uri": "s3://capture-bucket/x"})
    assert SageMakerHosting.from_spec(chosen).data_capture_uri == "s3://capture-bucket/x"
