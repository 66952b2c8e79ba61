"""SageMaker inference handler (model_fn / input_fn / predict_fn / output_fn) for a variant's artifact.

/opt/ml/model is the artifact folder (model/, code/<module>.py, MANIFEST.json): the manifest is verified and the
training-time module's load() builds the predictor. MLPROVIDER_FAULT_INJECTION (demos and tests only) makes this
fraction of requests fail with a 5xx.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from typing import Any

from mlprovider_artifacts import load_predictor

JSON = "application/json"
FAULT_INJECTION = float(os.environ.get("MLPROVIDER_FAULT_INJECTION", "0"))


def model_fn(model_dir: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return load_predictor(model_dir)


def input_fn(request_body: str | bytes, content_type: str = JSON) -> dict[str, Any]:
    if not content_type.startswith(JSON):
        raise ValueError(f"unsupported content type {content_type!r}; send {JSON}")
    return json.loads(request_body)


def predict_fn(request: dict[str, Any], predict: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    if FAULT_INJECTION and random.random() < FAULT_INJECTION:
        raise RuntimeError("injected fault (serving.fault_injection)")
    return predict(request)


def output_fn(prediction: dict[str, Any], accept: str = JSON) -> tuple[str, str]:
    return json.dumps(prediction), JSON
