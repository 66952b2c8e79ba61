"""SageMaker inference handler (model_fn / input_fn / predict_fn / output_fn) for a variant's artifact.

It travels in model.tar.gz under code/ (where the inference toolkits look: SAGEMAKER_SUBMIT_DIRECTORY is
/opt/ml/model/code), and the artifact folder (model/, code/<module>.py, MANIFEST.json) under artifact/. The
manifest is verified, and its digest compared with the registry's (MLPROVIDER_MANIFEST_DIGEST), before the
training-time module's load() builds the predictor. MLPROVIDER_FAULT_INJECTION (demos and tests only) makes this
fraction of requests fail with a 5xx.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlprovider_artifacts import TamperedArtifactError, load_predictor, verify_manifest

JSON = "application/json"
ARTIFACT_DIR = "artifact"  # source_bundle.SERVING_ARTIFACT_DIR
FAULT_INJECTION = float(os.environ.get("MLPROVIDER_FAULT_INJECTION", "0"))
EXPECTED_DIGEST = os.environ.get("MLPROVIDER_MANIFEST_DIGEST", "")


def model_fn(model_dir: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    artifact = Path(model_dir) / ARTIFACT_DIR
    digest = verify_manifest(artifact)["digest"]
    if EXPECTED_DIGEST and digest != EXPECTED_DIGEST:
        raise TamperedArtifactError(
            f"{artifact}: manifest digest {digest} is not the registered version's {EXPECTED_DIGEST}"
        )
    return load_predictor(artifact)


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
