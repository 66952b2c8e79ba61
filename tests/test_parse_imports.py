"""Parsing the dags folder must not import heavy libraries: the dag-processor re-parses every 30 s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parents[1] / "dag_specs"
HEAVY = ["pandas", "numpy", "pyarrow", "boto3", "botocore", "snowflake.connector", "dbt", "sklearn", "duckdb",
         "matplotlib", "scipy", "s3fs"]

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": list(bag.import_errors),
                  "heavy": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def test_parsing_the_examples_imports_nothing_heavy(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, str(DAGS), *HEAVY], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "AIRFLOW_HOME": str(tmp_path)})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert len(result["dags"]) >= 2
    assert result["heavy"] == []
