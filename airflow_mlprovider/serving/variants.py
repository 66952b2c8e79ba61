"""A variant: its admin configuration, and the loaded, verified predictor with its schema validators."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import jsonschema
from jsonschema.exceptions import best_match

from airflow_mlprovider.artifacts import MANIFEST, TamperedArtifactError, load_predictor
from airflow_mlprovider.serving.errors import ServingError

log = logging.getLogger(__name__)

# The body of PUT /admin/endpoints/{e}/variants/{v}
VARIANT_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["artifact_uri", "request_schema", "response_schema"],
    "properties": {
        "artifact_uri": {"type": "string", "minLength": 1, "description": "file:// URI or path of the artifact folder"},
        "request_schema": {"type": "object", "description": "JSON Schema of a request"},
        "response_schema": {"type": "object", "description": "JSON Schema of a response"},
        "weight": {"type": "number", "minimum": 0, "maximum": 100},
        "fault_injection": {"type": "number", "minimum": 0, "maximum": 1},
        "prediction_field": {"type": ["string", "null"], "minLength": 1},
    },
}
_BODY_VALIDATOR = jsonschema.Draft202012Validator(VARIANT_BODY_SCHEMA)


def schema_error_message(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"


@dataclass(frozen=True)
class VariantConfig:
    """What an admin PUT says about a variant; also what the state file keeps."""

    artifact_uri: str
    request_schema: dict[str, Any]
    response_schema: dict[str, Any]
    weight: float = 0.0
    fault_injection: float = 0.0
    prediction_field: str | None = None  # None: the response's first numeric field

    @classmethod
    def from_body(cls, body: Any) -> VariantConfig:
        error = best_match(_BODY_VALIDATOR.iter_errors(body))
        if error is not None:
            allowed = ", ".join(VARIANT_BODY_SCHEMA["properties"])
            raise ServingError(400, f"invalid variant body at {schema_error_message(error)} (fields: {allowed})")
        for name in ("request_schema", "response_schema"):
            try:
                jsonschema.validators.validator_for(body[name]).check_schema(body[name])
            except jsonschema.SchemaError as exc:
                raise ServingError(400, f"{name} is not a valid JSON Schema: {exc.message}") from None
        return cls(**body)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def artifact_path(uri: str) -> Path:
    """The local folder of a file:// URI or a plain path; other schemes are refused."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    raise ServingError(400, f"the local endpoint server loads file:// URIs or local paths, not {parsed.scheme}://")


def numeric_prediction(response: dict[str, Any], field: str | None) -> float | None:
    """The response's `field` if numeric, else (field None) its first numeric field; booleans do not count."""
    candidates = [response.get(field)] if field else list(response.values())
    for value in candidates:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(frozen=True)
class Answer:
    """One request's result on a variant."""

    status: int
    body: dict[str, Any]
    latency_s: float | None = None  # set when the model was called
    prediction: float | None = None


class LoadedVariant:
    """A variant whose artifact was copied to a private folder, verified against its manifest and loaded."""

    def __init__(self, name: str, config: VariantConfig, copy_dir: Path, digest: str,
                 predict: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.name = name
        self.config = config
        self.copy_dir = copy_dir
        self.digest = digest
        self.predict = predict
        self.loaded_at = time.time()
        self._request_validator = jsonschema.validators.validator_for(config.request_schema)(config.request_schema)
        self._response_validator = jsonschema.validators.validator_for(config.response_schema)(config.response_schema)

    def answer(self, request: Any) -> Answer:
        """Validate the request, call the model, validate its response."""
        error = best_match(self._request_validator.iter_errors(request))
        if error is not None:
            return Answer(400, {"error": f"request does not match the request schema at {schema_error_message(error)}"})
        started = time.perf_counter()
        try:
            response = self.predict(request)
        except Exception as exc:  # noqa: BLE001 - a model bug fails this request only, the server keeps serving
            log.exception("variant %s: predict() raised", self.name)
            return Answer(500, {"error": f"model raised {type(exc).__name__}: {exc}"}, time.perf_counter() - started)
        latency_s = time.perf_counter() - started
        if not isinstance(response, dict):
            return Answer(502, {"error": f"model returned {type(response).__name__}, not a JSON object"}, latency_s)
        error = best_match(self._response_validator.iter_errors(response))
        if error is not None:
            message = f"model response does not match the response schema at {schema_error_message(error)}"
            return Answer(502, {"error": message}, latency_s)
        return Answer(200, response, latency_s, numeric_prediction(response, self.config.prediction_field))

    def describe(self) -> dict[str, Any]:
        return {
            "artifact_uri": self.config.artifact_uri,
            "weight": self.config.weight,
            "fault_injection": self.config.fault_injection,
            "prediction_field": self.config.prediction_field,
            "manifest_digest": self.digest,
            "loaded_at": self.loaded_at,
        }

    def discard(self) -> None:
        shutil.rmtree(self.copy_dir, ignore_errors=True)


def load_variant(name: str, config: VariantConfig, work_dir: str | Path) -> LoadedVariant:
    """Copy the artifact into `work_dir`, verify its manifest and load its predictor (422 when it cannot be)."""
    source = artifact_path(config.artifact_uri)
    if not source.is_dir():
        raise ServingError(422, f"artifact folder {source} does not exist")
    copy_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir))
    try:
        # a private copy: what was verified is what runs, whatever happens to the source afterwards
        shutil.copytree(source, copy_dir / "artifact")
        predict = load_predictor(copy_dir / "artifact")  # verifies every file against the manifest first
        digest = json.loads((copy_dir / "artifact" / MANIFEST).read_text())["digest"]
    except TamperedArtifactError as exc:
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise ServingError(422, f"refused artifact {config.artifact_uri}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of the user's load() is reported to the admin caller
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise ServingError(422, f"cannot load artifact {config.artifact_uri}: {type(exc).__name__}: {exc}") from None
    return LoadedVariant(name, config, copy_dir, digest, predict)
