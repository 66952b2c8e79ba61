"""One model's invalid spec shows in its own invalid-spec DAG only: parsing the dags folder (which every task
process of every model does) logs nothing about it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

from airflow_mlprovider.factory.invalid import INVALID_PREFIX


def test_parsing_logs_nothing_about_an_invalid_spec(dags_folder: Path, caplog) -> None:
    spec = (dags_folder / "tumor_classifier.model.yaml").read_text()
    (dags_folder / "broken.model.yaml").write_text(re.sub(r"^model:.*$", "model: broken_model\ntrian: {}", spec, count=1, flags=re.M))
    with caplog.at_level(logging.DEBUG):
        bag = DagBag(dag_folder=str(dags_folder), safe_mode=True)
    assert "did you mean 'train'" in bag.dags[INVALID_PREFIX + "broken"].doc_md  # the error is in its own DAG
    leaked = [r.getMessage() for r in caplog.records if "broken" in r.getMessage() or "trian" in r.getMessage()]
    assert leaked == []
