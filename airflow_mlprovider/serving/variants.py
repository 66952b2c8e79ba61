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
from urllib.parse import unquote

import jsonschema
from jsonschema.exceptions import best_match
from referencing import Registry

from airflow_mlprovider.artifacts import MANIFEST, TamperedArtifactError, load_predictor
from airflow_mlprovider.serving.artifact_source import copy_artifact
from airflow_mlprovider.serving.errors import ServingError
from airflow_mlprovider.serving.json_body import encode, parse_body

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
        "prediction_scale": {
            "type": "number", "description": "a silent failure for tests: every numeric response field x this",
        },
        "prediction_field": {"type": ["string", "null"], "minLength": 1},
        "shadow": {"type": "boolean", "description": "at weight 0: receives a mirror of the live requests"},
        "manifest_digest": {
            "type": ["string", "null"], "minLength": 1, "maxLength": 256,
            "description": "the registry's digest of the artifact: loading refuses any other",
        },
    },
}
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_ANCHOR_KEYWORDS = ("$anchor", "$dynamicAnchor")
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
    prediction_scale: float = 1.0  # a silent failure (answers 200, wrong numbers) that monitoring must catch
    prediction_field: str | None = None  # None: the response's first numeric field
    manifest_digest: str | None = None  # the registry's digest; None: the artifact's own manifest is trusted
    shadow: bool = False  # mirrored live requests while at weight 0; cleared when it is given traffic

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
            except RecursionError:
                raise ServingError(400, f"{name} is nested too deeply") from None
            check_local_references(name, body[name])
        if body.get("shadow") and body.get("weight", 0) > 0:
            raise ServingError(400, "a shadow variant is deployed at weight 0: it gets mirrored requests, not traffic")
        return cls(**body)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_local_references(name: str, schema: dict[str, Any]) -> None:
    """Refuse a schema with a reference the server would have to fetch, or one pointing nowhere in it (400).

    The server never resolves a remote reference: a validator that fetched URIs would hang every request.
    """
    references, anchors, stack = [], set(), [schema]
    while stack:  # iterative: a deep schema costs no recursion
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _REF_KEYWORDS and isinstance(value, str):
                    references.append(value)
                elif key in _ANCHOR_KEYWORDS and isinstance(value, str):
                    anchors.add(value)
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    for reference in references:
        if not reference.startswith("#"):
            raise ServingError(
                400, f"{name}: $ref {reference!r} is outside the schema; only references inside it (#/$defs/...) "
                "are allowed: the server never fetches schemas"
            )
        fragment = unquote(reference[1:])
        if fragment and not (_pointer_resolves(schema, fragment) if fragment.startswith("/") else fragment in anchors):
            raise ServingError(400, f"{name}: $ref {reference!r} points to nothing in the schema")


def _pointer_resolves(document: Any, pointer: str) -> bool:
    node = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator that checks formats ("date" and the like) and can resolve nothing outside the schema."""
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=Registry(), format_checker=cls.FORMAT_CHECKER)


def numeric_prediction(response: dict[str, Any], field: str | None) -> float | None:
    """The response's `field` if numeric, else (field None) its first numeric field; booleans do not count."""
    candidates = [response.get(field)] if field else list(response.values())
    for value in candidates:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def scaled(response: dict[str, Any], factor: float) -> dict[str, Any]:
    """`response` with every numeric field, and every number in a list field, multiplied by `factor`."""
    def scale(value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value * factor
        return [scale(v) for v in value] if isinstance(value, list) else value

    return {key: scale(value) for key, value in response.items()}


@dataclass(frozen=True)
class Answer:
    """One request's result on a variant: its status and JSON bytes."""

    status: int
    content: bytes
    latency_s: float | None = None  # set when the model was called
    prediction: float | None = None
    request: Any = None  # the parsed request of a 200 answer

    @classmethod
    def error(cls, status: int, message: str, latency_s: float | None = None) -> Answer:
        return cls(status, encode({"error": message}), latency_s)


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
        self._request_validator = _validator(config.request_schema)
        self._response_validator = _validator(config.response_schema)

    def answer(self, raw_body: bytes) -> Answer:
        """Parse and validate the request, call the model, validate and encode its response (a worker thread)."""
        try:
            request = parse_body(raw_body)
            error = best_match(self._request_validator.iter_errors(request))
        except ServingError as exc:
            return Answer.error(exc.status, exc.message)
        except RecursionError:
            return Answer.error(400, "request nested too deeply for the request schema")
        if error is not None:
            return Answer.error(400, f"request does not match the request schema at {schema_error_message(error)}")
        started = time.perf_counter()
        try:
            response = self.predict(request)
        except Exception as exc:  # noqa: BLE001 - a model bug fails this request only, the server keeps serving
            log.exception("variant %s: predict() raised", self.name)
            return Answer.error(500, f"model raised {type(exc).__name__}: {exc}", time.perf_counter() - started)
        latency_s = time.perf_counter() - started
        if not isinstance(response, dict):
            return Answer.error(502, f"model returned {type(response).__name__}, not a JSON object", latency_s)
        if self.config.prediction_scale != 1.0:
            response = scaled(response, self.config.prediction_scale)
        try:
            error = best_match(self._response_validator.iter_errors(response))
            content = encode(response)
        except (RecursionError, ValueError, TypeError) as exc:
            return Answer.error(502, f"model response is not JSON: {type(exc).__name__}: {exc}", latency_s)
        if error is not None:
            message = f"model response does not match the response schema at {schema_error_message(error)}"
            return Answer.error(502, message, latency_s)
        return Answer(200, content, latency_s, numeric_prediction(response, self.config.prediction_field), request)

    def describe(self) -> dict[str, Any]:
        return {
            "artifact_uri": self.config.artifact_uri,
            "weight": self.config.weight,
            "fault_injection": self.config.fault_injection,
            "prediction_scale": self.config.prediction_scale,
            "prediction_field": self.config.prediction_field,
            "manifest_digest": self.digest,
            "shadow": self.config.shadow,
            "loaded_at": self.loaded_at,
        }

    def discard(self) -> None:
        shutil.rmtree(self.copy_dir, ignore_errors=True)


def load_variant(name: str, config: VariantConfig, work_dir: str | Path) -> LoadedVariant:
    """Copy the artifact into `work_dir`, verify its manifest and load its predictor (422 when it cannot be)."""
    copy_dir = Path(tempfile.mkdtemp(prefix="variant-", dir=work_dir))  # never named after the variant
    try:
        # a private copy: what was verified is what runs, whatever happens to the source afterwards
        copy_artifact(config.artifact_uri, copy_dir / "artifact")
        # verifies every file against the manifest, and the manifest against the registry's digest, first
        predict = load_predictor(copy_dir / "artifact", expected_digest=config.manifest_digest)
        digest = json.loads((copy_dir / "artifact" / MANIFEST).read_text())["digest"]
    except ServingError:  # no such artifact, or one the server cannot read
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise
    except TamperedArtifactError as exc:
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise ServingError(422, f"refused artifact {config.artifact_uri}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of the user's load() is reported to the admin caller
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise ServingError(422, f"cannot load artifact {config.artifact_uri}: {type(exc).__name__}: {exc}") from None
    return LoadedVariant(name, config, copy_dir, digest, predict)
