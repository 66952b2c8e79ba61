"""Probability that a breast biopsy is malignant: standardised measurements into a logistic regression.

The three functions (and the optional load_batch) are this model's whole contract with airflow-mlprovider. Heavy libraries are imported
inside them, so Airflow never imports pandas or scikit-learn while it parses the DAG.
"""

from __future__ import annotations

import pickle
from pathlib import Path

LABEL = "malignant"
NOT_FEATURES = {"id", "received_at", LABEL}  # bookkeeping columns, never model inputs


def preprocess(raw, ctx):
    """Drop rows with a missing measurement or label."""
    clean = raw.dropna().reset_index(drop=True)
    ctx.log.info("preprocess kept %d of %d rows", len(clean), len(raw))
    return clean


def train(train, validation, ctx):
    """Fit on `train`, log the validation ROC AUC, pickle the pipeline into ctx.artifact_dir.

    ctx.params: C, the inverse regularisation strength.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = [c for c in train.columns if c not in NOT_FEATURES]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=float(ctx.params.get("C", 1.0)), max_iter=1000))
    pipeline.fit(train[features], train[LABEL])
    auc = roc_auc_score(validation[LABEL], pipeline.predict_proba(validation[features])[:, 1])
    ctx.log.info("validation roc_auc %.4f on %d features", auc, len(features))
    with open(Path(ctx.artifact_dir) / "model.pkl", "wb") as fh:
        pickle.dump({"pipeline": pipeline, "features": features}, fh)


def _saved(artifact_dir):
    with open(Path(artifact_dir) / "model.pkl", "rb") as fh:
        return pickle.load(fh)


def load(artifact_dir):
    """Return predict(request) -> {"probability": P(malignant), "prediction": 0 or 1}."""
    import pandas as pd

    saved = _saved(artifact_dir)

    def predict(request):
        row = pd.DataFrame([request])[saved["features"]]
        probability = float(saved["pipeline"].predict_proba(row)[0, 1])
        return {"probability": probability, "prediction": int(probability >= 0.5)}

    return predict


def load_batch(artifact_dir):
    """Return predict_batch(frame) -> P(malignant) per row (the spec's prediction_field): the whole test set at once."""
    saved = _saved(artifact_dir)

    def predict_batch(frame):
        return saved["pipeline"].predict_proba(frame[saved["features"]])[:, 1]

    return predict_batch
