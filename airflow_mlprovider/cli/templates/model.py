"""Scaffolded model: predicts the mean of the training label. Replace with a real model."""

import json
from pathlib import Path

LABEL = "{label}"


def preprocess(raw, ctx):
    """Clean the warehouse rows; keep them shaped like a request plus the label column."""
    return raw.dropna(subset=[LABEL])


def train(train, validation, ctx):
    """Fit on `train` (tune on `validation`) and write the artifacts into ctx.artifact_dir."""
    mean = float(train[LABEL].mean())
    Path(ctx.artifact_dir, "model.json").write_text(json.dumps({"mean": mean}))


def load(artifact_dir):
    """Return predict(request: dict) -> dict, the function that serves one request."""
    mean = json.loads(Path(artifact_dir, "model.json").read_text())["mean"]

    def predict(request):
        return {"prediction": mean}

    return predict



def load_batch(artifact_dir):
    """Optional: return predict_batch(frame) -> one prediction per row, so evaluate scores the whole test set at once."""
    mean = json.loads(Path(artifact_dir, "model.json").read_text())["mean"]

    def predict_batch(frame):
        return [mean] * len(frame)

    return predict_batch
