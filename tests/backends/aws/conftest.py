"""The AWS stand-in (moto's server, started once per session), a toy model and its AWS spec."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from aws_standin import aws_standin, s3_bucket  # noqa: F401  (fixtures)

from airflow_mlprovider.spec.model import ModelSpec

TOY_MODEL = '''
import json
import os


def preprocess(raw, ctx):
    return raw


def train(train, validation, ctx):
    from toy_helpers import column_mean  # a sibling module: training gets the model's whole folder

    if ctx.params.get("fail"):
        raise ValueError("toy model refuses to train")
    with open(os.path.join(ctx.artifact_dir, "mean.json"), "w") as fh:
        json.dump({"mean": column_mean(train, "y"), "rows": len(train) + len(validation), "run": ctx.run_key}, fh)


def load(artifact_dir):
    with open(os.path.join(artifact_dir, "mean.json")) as fh:
        mean = json.load(fh)["mean"]
    return lambda request: {"prediction": mean}
'''


@pytest.fixture
def toy_model_dir(tmp_path: Path) -> Path:
    """A model folder: the module, a helper it imports, and its request/response schemas."""
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy_model.py").write_text(textwrap.dedent(TOY_MODEL))
    (folder / "toy_helpers.py").write_text("def column_mean(df, column):\n    return float(df[column].mean())\n")
    (folder / "request.schema.json").write_text('{"type": "object"}')
    (folder / "response.schema.json").write_text('{"type": "object", "required": ["prediction"]}')
    return folder


@pytest.fixture
def aws_spec(toy_model_dir: Path, s3_bucket: str):
    """Build the toy model's AWS spec; keyword arguments replace top-level sections."""

    def build(**sections) -> ModelSpec:
        doc = {
            "model": "toy_model",
            "platform": "aws",
            "artifact_root": f"s3://{s3_bucket}/ml",
            "data": {"sql": "select 1", "split": {"by": "time", "column": "ts"}},
            "code": {
                "module": str(toy_model_dir / "toy_model.py"),
                "request_schema": str(toy_model_dir / "request.schema.json"),
                "response_schema": str(toy_model_dir / "response.schema.json"),
            },
            "evaluate": {"metric": "rmse", "label": "y"},
            "train": {"compute": "sagemaker", "role_arn": "arn:aws:iam::123456789012:role/sagemaker", "max_runtime": "5m"},
            "serving": {"endpoint": "toy-endpoint"},
            **sections,
        }
        return ModelSpec.from_dict(doc, source=str(toy_model_dir / "toy.model.yaml"))

    return build
