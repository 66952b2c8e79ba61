"""A fresh Python process loads a model's artifacts and answers requests (the contract test's round trip).

    python -m airflow_mlprovider.contract_testing.fresh_load PAYLOAD.json   ->  the responses, as JSON, on stdout

PAYLOAD: {"module": model module path, "artifacts": artifact folder, "requests": [request, ...]}.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def plain(value: Any) -> Any:
    """numpy scalars and arrays as their JSON values (what a served response becomes)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def main(payload_path: str) -> int:
    from airflow_mlprovider.artifacts import import_module_from_path

    with open(payload_path) as fh:
        payload = json.load(fh)
    predict = import_module_from_path(payload["module"]).load(payload["artifacts"])
    json.dump([predict(request) for request in payload["requests"]], sys.stdout, default=plain)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
