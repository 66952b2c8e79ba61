"""The training subprocess: `python -m airflow_mlprovider.backends.local.train_runner JOB.json`.

Reads the job the compute wrote, imports the model module, calls train(train_df, validation_df, ctx).
An exception exits non-zero with its traceback on stderr, which the parent reports.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path


def run(job_file: str) -> None:
    import pandas as pd

    from airflow_mlprovider.artifacts import import_module_from_path
    from airflow_mlprovider.contract import ModelContext

    job = json.loads(Path(job_file).read_text())
    module = import_module_from_path(job["module_path"])
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
    module.train(train, validation, ctx)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(sys.argv[1])
