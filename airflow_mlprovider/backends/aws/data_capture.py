"""SageMaker data capture: the endpoint config that turns it on, and a reader of the captured requests and answers.

SageMaker writes a sample of an endpoint's invocations to S3, one JSON line per invocation, under
`<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`, the hour (UTC) being the invocation's:

    {"captureData": {"endpointInput": {"observedContentType": "application/json", "mode": "INPUT",
                                       "data": "{\"x\": 1.5}", "encoding": "JSON"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "{\"prediction\": 4.0}", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "...", "inferenceTime": "2026-01-05T12:00:03Z"}, "eventVersion": "0"}

`encoding` says how `data` holds the payload: JSON and CSV as text (content types named in the config's
CaptureContentTypeHeader), BASE64 otherwise (the payload's bytes, whatever its observedContentType).

A record is read the way our SageMaker container speaks (backends/aws/container/serve_entry.py): a JSON
request is one row (an object of feature fields) or a list of rows; its numeric top-level fields are the row's
features (as the local server samples them). A JSON answer is an object whose prediction is its first numeric
field (or the field named), or a list of such objects or numbers. A CSV payload holds one row per line: a
request's cells are features named by their position ("0", "1", ...), an answer's first cell is its prediction.

Reading never fails on a bad line: a line that is not a capture record, or whose payload does not decode as its
encoding and content type say, is counted as malformed with its reason, and the rest is read.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.serving.variants import numeric_prediction
from airflow_mlprovider.serving.window import numeric_fields

JSON_CONTENT_TYPES = ("application/json",)
CSV_CONTENT_TYPES = ("text/csv",)
#: botocore's SageMaker model: DataCaptureConfig.DestinationS3Uri
_DESTINATION_PATTERN = re.compile(r"(https|s3)://([^/])/?(.*)")
_DESTINATION_MAX = 512
#: malformed lines whose reason is kept (the count covers all of them)
MAX_PROBLEMS = 5
HOUR = 3600


class MalformedCapture(ValueError):
    """A line that is not a readable SageMaker capture record."""


def capture_config(destination_s3_uri: str, sampling_percentage: int) -> dict[str, Any]:
    """The DataCaptureConfig of CreateEndpointConfig: requests and answers of `sampling_percentage` % of the
    invocations, JSON payloads captured as text, written under `destination_s3_uri`."""
    if isinstance(sampling_percentage, bool) or not isinstance(sampling_percentage, int) or not (
        0 <= sampling_percentage <= 100
    ):
        raise ValueError(f"data capture sampling must be an integer percentage 0..100, got {sampling_percentage!r}")
    if not destination_s3_uri.startswith("s3://") or not _DESTINATION_PATTERN.fullmatch(destination_s3_uri):
        raise ValueError(f"data capture destination must be an s3:// URI with a bucket, got {destination_s3_uri!r}")
    if len(destination_s3_uri) > _DESTINATION_MAX:
        raise ValueError(f"data capture destination is longer than SageMaker's {_DESTINATION_MAX} characters")
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": sampling_percentage,
        "DestinationS3Uri": destination_s3_uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": list(JSON_CONTENT_TYPES),
                                     "CsvContentTypes": list(CSV_CONTENT_TYPES)},
    }


@dataclass(frozen=True)
class CapturedRecord:
    """One captured invocation: its features per request row and its numeric predictions."""

    event_id: str
    inference_time: float  # unix seconds
    features: tuple[tuple[tuple[str, float], ...], ...] = ()  # per request row: (field, value) pairs
    predictions: tuple[float, ...] = ()
    inference_id: str | None = None  # InvokeEndpoint's InferenceId, when the caller gave one
    request_digest: str = ""  # SHA-256 of the decoded request body (canonical JSON): pairs a mirrored request


@dataclass(frozen=True)
class Capture:
    """The captured records of a variant in a window, and what could not be read."""

    records: tuple[CapturedRecord, ...] = ()
    malformed: int = 0
    problems: tuple[str, ...] = ()  # the first MAX_PROBLEMS reasons
    files: int = 0

    def between(self, start: float, end: float) -> Capture:
        """The records of [start, end)."""
        return replace(self, records=tuple(r for r in self.records if start <= r.inference_time < end))

    def predictions(self) -> list[float]:
        return [p for record in self.records for p in record.predictions]

    def features(self) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        for record in self.records:
            for row in record.features:
                for name, value in row:
                    values.setdefault(name, []).append(value)
        return values

    def report(self) -> str:
        """A sentence on what was read."""
        text = f"{len(self.records)} captured invocations in {self.files} capture files"
        if self.malformed:
            text += f"; {self.malformed} malformed lines skipped ({'; '.join(self.problems)})"
        return text


def with_capture(counts: VariantCounts, capture: Capture) -> VariantCounts:
    """`counts` (CloudWatch's, which hold no predictions) with the predictions and features of `capture`."""
    predictions = capture.predictions()
    return replace(
        counts,
        prediction_count=len(predictions),
        prediction_sum=math.fsum(predictions),
        prediction_sum_sq=math.fsum(p * p for p in predictions),
        prediction_mean=math.fsum(predictions) / len(predictions) if predictions else None,
        prediction_sample=predictions,
        feature_sample=capture.features(),
    )


# -- parsing ---------------------------------------------------------------------------------------------------


def parse_line(line: str, prediction_field: str | None = None) -> CapturedRecord:
    """One capture record; MalformedCapture says why a line is none."""
    try:
        doc = json.loads(line)
    except ValueError as error:
        raise MalformedCapture(f"not JSON ({error})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("captureData"), dict):
        raise MalformedCapture("no captureData object")
    metadata = doc.get("eventMetadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("eventId"), str) or not metadata["eventId"]:
        raise MalformedCapture("no eventMetadata.eventId")
    inference_time = _timestamp(metadata.get("inferenceTime"))
    capture = doc["captureData"]
    request, answer = capture.get("endpointInput"), capture.get("endpointOutput")
    body = _payload(request, "endpointInput") if request is not None else None
    rows = _rows(body) if request is not None else []
    predictions = _predictions(_payload(answer, "endpointOutput"), prediction_field) if answer is not None else []
    inference_id = metadata.get("inferenceId") if isinstance(metadata.get("inferenceId"), str) else None
    digest = "" if request is None else hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return CapturedRecord(metadata["eventId"], inference_time, tuple(tuple(row) for row in rows), tuple(predictions),
                          inference_id, digest)


def parse_file(text: str, start: float, end: float, prediction_field: str | None = None) -> Capture:
    """The records of one capture file whose inference time is in [start, end)."""
    records, problems, malformed = [], [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = parse_line(line, prediction_field)
        except MalformedCapture as error:
            malformed += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"line {number}: {error}")
            continue
        if start <= record.inference_time < end:
            records.append(record)
    return Capture(tuple(records), malformed, tuple(problems), 1)


def merge(captures: Iterable[Capture]) -> Capture:
    records: list[CapturedRecord] = []
    problems: list[str] = []
    malformed = files = 0
    for capture in captures:
        records.extend(capture.records)
        problems.extend(capture.problems)
        malformed += capture.malformed
        files += capture.files
    records.sort(key=lambda r: r.inference_time)
    return Capture(tuple(records), malformed, tuple(problems[:MAX_PROBLEMS]), files)


def _timestamp(raw: Any) -> float:
    if not isinstance(raw, str):
        raise MalformedCapture("no eventMetadata.inferenceTime")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedCapture(f"inferenceTime {raw[:40]!r} is not an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _payload(part: Any, name: str) -> Any:
    """The decoded payload of endpointInput/endpointOutput: parsed JSON, or CSV rows (lists of cells)."""
    if not isinstance(part, dict) or not isinstance(part.get("data"), str):
        raise MalformedCapture(f"{name} has no data string")
    encoding, data = part.get("encoding"), part["data"]
    content_type = str(part.get("observedContentType") or "").split(";")[0].strip().lower()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise MalformedCapture(f"{name}: BASE64 data does not decode to UTF-8 text ({error})") from None
        if _is_json(content_type):
            encoding = "JSON"
        elif content_type in CSV_CONTENT_TYPES:
            encoding = "CSV"
        else:
            raise MalformedCapture(f"{name}: content type {content_type!r} is neither JSON nor CSV")
    if encoding == "JSON":
        try:
            return json.loads(data)
        except ValueError as error:
            raise MalformedCapture(f"{name}: JSON data does not parse ({error})") from None
    if encoding == "CSV":
        return [row for row in csv.reader(io.StringIO(data)) if row]
    raise MalformedCapture(f"{name}: unknown encoding {encoding!r}")


def _is_json(content_type: str) -> bool:
    return content_type in JSON_CONTENT_TYPES or content_type.endswith("+json")


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or a CSV cell; None for anything else (booleans are no numbers)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rows(payload: Any) -> list[list[tuple[str, float]]]:
    """Each request row's numeric features."""
    if isinstance(payload, dict):
        return [numeric_fields(payload)]
    if not isinstance(payload, list):
        return []
    rows = []
    for row in payload:
        if isinstance(row, dict):
            rows.append(numeric_fields(row))
        elif isinstance(row, list):  # a CSV line, or a JSON row of values: features named by position
            rows.append([(str(i), v) for i, v in enumerate(map(_number, row)) if v is not None])
    return rows


def _predictions(payload: Any, prediction_field: str | None) -> list[float]:
    """The numeric predictions of an answer."""
    items: Sequence[Any] = payload if isinstance(payload, list) else [payload]
    found = []
    for item in items:
        if isinstance(item, dict):
            value = numeric_prediction(item, prediction_field)
        elif isinstance(item, list):  # a CSV line: its first cell
            value = _number(item[0]) if item else None
        else:
            value = _number(item) if isinstance(item, (int, float)) else None
        if value is not None and math.isfinite(value):
            found.append(value)
    return found


# -- S3 ------------------------------------------------------------------------------------------------------------


def hour_folders(start: float, end: float) -> list[str]:
    """The `yyyy/mm/dd/hh` folders (UTC) of the hours that overlap [start, end)."""
    if end <= start:
        return []
    hour = datetime.fromtimestamp(HOUR * math.floor(start / HOUR), timezone.utc)
    folders = []
    while hour.timestamp() < end:
        folders.append(f"{hour:%Y/%m/%d/%H}")
        hour += timedelta(hours=1)
    return folders


class CaptureReader:
    """Reads an endpoint's data capture under `destination_s3_uri` through an Airflow AWS connection."""

    def __init__(self, destination_s3_uri: str, aws_conn_id: str = "aws_default",
                 prediction_field: str | None = None) -> None:
        self.destination = destination_s3_uri.rstrip("/")
        self.aws_conn_id = aws_conn_id
        self.prediction_field = prediction_field

    @cached_property
    def _store(self) -> Any:
        from airflow_mlprovider.backends.aws.s3_store import S3ArtifactStore

        return S3ArtifactStore(self.aws_conn_id)

    def read(self, endpoint: str, variant: str, start: float, end: float) -> Capture:
        """The variant's captured invocations of [start, end): only the hour folders the window overlaps are
        listed."""
        captures = []
        for folder in hour_folders(start, end):
            for uri in self._store.list(f"{self.destination}/{endpoint}/{variant}/{folder}"):
                if uri.endswith(".jsonl"):
                    text = self._store.read_bytes(uri).decode("utf-8", errors="replace")
                    captures.append(parse_file(text, start, end, self.prediction_field))
        return merge(captures)
