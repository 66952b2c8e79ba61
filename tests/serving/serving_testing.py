"""A tiny model artifact built by the test itself (no training), its schemas and a variant body."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from airflow_mlprovider.artifacts import CODE_DIR, MODEL_DIR, write_manifest

TOKEN = "test-admin-token"

# predict() multiplies x by the artifact's factor; x == 13 raises (a model bug), x == 99 breaks the response schema
MODEL_CODE = textwrap.dedent(
    """
    import json
    import os


    def preprocess(raw, ctx):
        return raw


    def train(train, validation, ctx):
        raise NotImplementedError("this test model is built by hand, not trained")


    def load(artifact_dir):
        factor = json.load(open(os.path.join(artifact_dir, "params.json")))["factor"]

        def predict(request):
            if request["x"] == 13:
                raise ValueError("unlucky input")
            if request["x"] == 99:
                return {"prediction": "not a number"}
            return {"prediction": request["x"] * factor, "label": "ok"}

        return predict
    """
)

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["x"],
    "properties": {"x": {"type": "number"}},
    "additionalProperties": False,
}
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prediction"],
    "properties": {"prediction": {"type": "number"}, "label": {"type": "string"}},
}


def make_artifact(folder: Path, factor: float) -> Path:
    """An artifact folder in the trained layout (model/, code/<module>.py, MANIFEST.json)."""
    (folder / MODEL_DIR).mkdir(parents=True)
    (folder / CODE_DIR).mkdir()
    (folder / MODEL_DIR / "params.json").write_text(json.dumps({"factor": factor}))
    (folder / CODE_DIR / "tiny_model.py").write_text(MODEL_CODE)
    write_manifest(folder)
    return folder


def variant_body(artifact: Path, weight: float = 0, **extra: Any) -> dict[str, Any]:
    return {
        "artifact_uri": artifact.as_uri(),
        "request_schema": REQUEST_SCHEMA,
        "response_schema": RESPONSE_SCHEMA,
        "weight": weight,
        **extra,
    }
