"""SageMaker script-mode training entry point: the model module's train(), then the artifact layout in SM_MODEL_DIR.

SageMaker tars SM_MODEL_DIR (/opt/ml/model) into model.tar.gz: model/ + code/<module>.py + MANIFEST.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from mlprovider_artifacts import CODE_DIR, MODEL_DIR, import_module_from_path, write_manifest
from mlprovider_contract import ModelContext

JOB_HYPERPARAMETER = "mlprovider_job"


def read_job() -> dict[str, Any]:
    config_dir = Path(os.environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config"))
    value = json.loads((config_dir / "hyperparameters.json").read_text())[JOB_HYPERPARAMETER]
    return value if isinstance(value, dict) else json.loads(value)  # the toolkit may have decoded it already


def read_channel(name: str) -> Any:
    import pandas as pd

    return pd.read_parquet(os.environ.get(f"SM_CHANNEL_{name.upper()}", f"/opt/ml/input/data/{name}"))


def main() -> None:
    job = read_job()
    out = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    module_path = Path(__file__).resolve().parent / job["module"]
    module = import_module_from_path(module_path)
    sys.path.insert(0, str(module_path.parent))  # train() may import the model folder's other modules
    ctx = ModelContext(
        model=job["model"],
        artifact_dir=str(out / MODEL_DIR),
        params=job["params"],
        data_interval_start=job["data_interval_start"],
        data_interval_end=job["data_interval_end"],
        run_key=job["run_key"],
    )
    (out / MODEL_DIR).mkdir(parents=True, exist_ok=True)
    module.train(read_channel("train"), read_channel("validation"), ctx)
    (out / CODE_DIR).mkdir(exist_ok=True)
    shutil.copy2(module_path, out / CODE_DIR / module_path.name)  # the version keeps the code it was trained with
    write_manifest(out)


if __name__ == "__main__":
    main()
