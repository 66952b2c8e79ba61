"""The model contract: what a user's model module must provide, and the context it is given.

preprocess(raw: DataFrame, ctx) -> DataFrame
train(train: DataFrame, validation: DataFrame, ctx) -> None   # writes into ctx.artifact_dir
load(artifact_dir: str) -> predict(request: dict) -> dict
optional: load_batch(artifact_dir: str) -> predict_batch(frame: DataFrame) -> predictions
          (one prediction per row, the value of the response's prediction field; evaluate then scores the
          whole test set in one call and checks a sample against predict(request))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

REQUIRED_FUNCTIONS = {"preprocess": 2, "train": 3, "load": 1}
OPTIONAL_FUNCTIONS = {"load_batch": 1}


@dataclass
class ModelContext:
    """Given to preprocess() and train()."""

    model: str
    artifact_dir: str  # a local folder: train() writes its artifacts here
    params: dict[str, Any] = field(default_factory=dict)
    data_interval_start: str = ""
    data_interval_end: str = ""
    run_key: str = ""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("airflow_mlprovider.model"))
