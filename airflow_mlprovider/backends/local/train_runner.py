"""The training subprocess: `python -m airflow_mlprovider.backends.local.train_runner JOB.json`.

Reads the job the compute wrote, imports the model module, calls train(train_df, validation_df, ctx).
An exception exits non-zero with its traceback on stderr, which the parent reports; an exception of the model's
own code (user_code.py) exits with USER_CODE_EXIT_CODE, so the parent fails the task without retries.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

from airflow_mlprovider.user_code import USER_CODE_EXIT_CODE, UserCodeError, calling_user_code


def run(job_file: str) -> None:
    import pandas as pd

    from airflow_mlprovider.artifacts import import_module_from_path
    from airflow_mlprovider.contract import ModelContext

    job = json.loads(Path(job_file).read_text())
    train = pd.read_parquet(job["train_path"])
    validation = pd.read_parquet(job["validation_path"])
    ctx = ModelContext(
        model=job["model"],
        artifact_dir=job["artifact_dir"],
        params=job["params"],
        data_interval_start=job["data_interval_start"],
        data_interval_end=job["data_interval_end"],
        run_key=job["run_key"],
    )
    ctx.log.info("train() on %d rows, validation %d rows", len(train), len(validation))
    try:
        with calling_user_code(f"train() in {job['module_path']}"):
            import_module_from_path(job["module_path"]).train(train, validation, ctx)
    except UserCodeError:
        traceback.print_exc()
        sys.exit(USER_CODE_EXIT_CODE)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(sys.argv[1])
