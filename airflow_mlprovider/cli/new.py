"""`mlprovider new NAME`: scaffold a model — a spec, a model module and its request/response schemas.

The files are a working starting point (a baseline that predicts the training mean), valid as written,
so the DAG appears at once and the user replaces the SQL and the model.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path

TEMPLATES = {
    "spec.model.yaml": "{name}.model.yaml",
    "model.py": "models/{name}.py",
    "request.schema.json": "schemas/{name}_request.json",
    "response.schema.json": "schemas/{name}_response.json",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model name: lower case letters, digits and _, starting with a letter")
    parser.add_argument("--specs", default="dag_specs", help="the specs (dags) folder")
    parser.add_argument("--table", default="my_table", help="warehouse table the SQL reads")
    parser.add_argument("--label", default="target", help="the column to predict")
    parser.add_argument("--time-column", default="day", help="the column the data is split on by time")


def run(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", args.name):
        print(f"invalid model name {args.name!r}: use lower case letters, digits and _, starting with a letter", file=sys.stderr)
        return 2
    folder = Path(args.specs)
    targets = {template: folder / out.format(name=args.name) for template, out in TEMPLATES.items()}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing:
        print("refusing to overwrite: " + ", ".join(existing), file=sys.stderr)
        return 1
    values = {"name": args.name, "table": args.table, "label": args.label, "time_column": args.time_column}
    for template, target in targets.items():
        text = resources.files("airflow_mlprovider.cli.templates").joinpath(template).read_text()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.format_map(values) if template.endswith(".yaml") else text.replace("{label}", args.label))
        print(f"wrote {target}")
    print(f"next: edit {targets['spec.model.yaml']} (SQL, metric) and {targets['model.py']}, then "
          f"`mlprovider validate {folder}`")
    return 0
