"""The reference a version is monitored against, recorded when it is evaluated.

`<model root>/monitoring/reference/<version_id>.json`, written once (a retried evaluation finds it there):

    {"version_id", "prediction": {"count", "mean", "sd", "bins"} | null,
     "features": {"<numeric feature>": {"edges", "fractions", "count"}, ...}}

The predictions are the candidate's on the test set; the feature bins come from the same test rows (held-out
rows of the training data's interval and distribution). Bins are fixed at the reference's deciles
(monitoring.drift).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_mlprovider.monitoring.drift import finite, reference_bins

if TYPE_CHECKING:
    from airflow_mlprovider.backends.base import ArtifactStore


def reference_uri(model_root: str, version_id: str) -> str:
    return f"{model_root.rstrip('/')}/monitoring/reference/{version_id}.json"


def build_reference(version_id: str, predictions: Sequence[Any], features: Any) -> dict[str, Any]:
    """The reference of a version from its test-set predictions and the test features (a DataFrame);
    non-numeric predictions (class labels) and columns are left out."""
    numbers = finite([p for p in predictions if isinstance(p, (int, float)) and not isinstance(p, bool)])
    prediction = None
    if numbers.size >= 2:
        bins = reference_bins(numbers)
        prediction = {"count": int(numbers.size), "mean": float(numbers.mean()), "sd": float(numbers.std(ddof=1)),
                      "bins": None if bins is None else bins.to_dict()}
    columns = {}
    for name in features.select_dtypes(include="number").columns:
        bins = reference_bins(features[name].to_numpy(dtype=float))
        if bins is not None:
            columns[str(name)] = bins.to_dict()
    return {"version_id": version_id, "prediction": prediction, "features": columns}


def record_reference(store: ArtifactStore, model_root: str, version_id: str, predictions: Sequence[Any],
                     features: Any) -> str:
    """Write the version's reference once (a retry keeps the first); returns its URI."""
    uri = reference_uri(model_root, version_id)
    doc = build_reference(version_id, predictions, features)
    store.write_if(uri, json.dumps(doc, allow_nan=False).encode(), None)
    return uri


def read_reference(store: ArtifactStore, model_root: str, version_id: str) -> dict[str, Any] | None:
    """The version's reference, or None when it was evaluated before references were recorded."""
    uri = reference_uri(model_root, version_id)
    return json.loads(store.read_bytes(uri)) if store.exists(uri) else None




