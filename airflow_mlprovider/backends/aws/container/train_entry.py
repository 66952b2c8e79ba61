"""SageMaker script-mode training entry point: the model module's train(), then the artifact layout in SM_MODEL_DIR.

SageMaker tars SM_MODEL_DIR (/opt/ml/model) into model.tar.gz: model/ + code/<module>.py + FRAMEWORK.json +
MANIFEST.json. FRAMEWORK.json records the framework package version this container actually ran, so that the
worker can refuse to unpickle the model with another release (backends/aws/framework_version.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from mlprovider_artifacts import CODE_DIR, MODEL_DIR, import_module_from_path, write_manifest
from mlprovider_contract import ModelContext

JOB_FILE = "mlprovider_job.json"  # source_bundle.JOB_FILE: shipped beside this file
FRAMEWORK_FILE = "FRAMEWORK.json"  # framework_version.FRAMEWORK_FILE
# user_code.USER_CODE_EXIT_CODE (the container cannot import our package): the job's FailureReason then reads
# "AlgorithmError: ExecuteUserScriptError: ExitCode 65", and the task fails without retries.
USER_CODE_EXIT_CODE = 65


def read_job() -> dict[str, Any]:
    return json.loads((Path(__file__).resolve().parent / JOB_FILE).read_text())


def read_channel(name: str) -> Any:
    import pandas as pd  # the framework container ships pandas and pyarrow: nothing is installed at start

    return pd.read_parquet(os.environ.get(f"SM_CHANNEL_{name.upper()}", f"/opt/ml/input/data/{name}"))


def record_framework(out: Path, framework: dict[str, Any]) -> None:
    package = framework["package"]
    try:
        version = metadata.version(package)
    except metadata.PackageNotFoundError:
        version = "not installed"
    (out / FRAMEWORK_FILE).write_text(json.dumps({**framework, "package_version": version}, sort_keys=True))


def calling_user_code(function: Any, *args: Any) -> Any:
    """Run the model's code; its deterministic errors exit with USER_CODE_EXIT_CODE (OS-level ones stay
    infrastructure failures, retried: user_code.TRANSIENT)."""
    try:
        return function(*args)
    except (OSError, MemoryError):
        raise
    except Exception:
        traceback.print_exc()
        sys.exit(USER_CODE_EXIT_CODE)


def main() -> None:
    job = read_job()
    out = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    module_path = Path(__file__).resolve().parent / job["module"]
    module = calling_user_code(import_module_from_path, module_path)
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
    train, validation = read_channel("train"), read_channel("validation")
    calling_user_code(module.train, train, validation, ctx)
    (out / CODE_DIR).mkdir(exist_ok=True)
    shutil.copy2(module_path, out / CODE_DIR / module_path.name)  # the version keeps the code it was trained with
    record_framework(out, job["framework"])
    write_manifest(out)


if __name__ == "__main__":
    main()
