"""`mlprovider validate PATH...`: check spec files or folders the way the DAG factory will load them.

Beyond what the factory checks (the schema, the files, the model module's functions, the prediction field in
the response schema), the rows of a spec's `contract_test.sample` must fit its request schema.

A FILE is also checked against the other specs of its folder (or of --dags-root): if an older spec already
uses its model name, the factory keeps that one and FILE would become an invalid-spec DAG.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from airflow_mlprovider.contract_testing.sample import sample_problems
from airflow_mlprovider.spec import SpecError, SpecValidationError, load_spec_file, load_specs
from airflow_mlprovider.spec.loader import model_collisions

#: Airflow's environment form of [mlprovider] defaults_file
DEFAULTS_FILE_ENV = "AIRFLOW__MLPROVIDER__DEFAULTS_FILE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="*.model.yaml files or folders holding them")
    parser.add_argument("--dags-root", help="model files must live inside this folder (default: each PATH's folder)")
    parser.add_argument(
        "--defaults-file", default=os.environ.get(DEFAULTS_FILE_ENV) or None,
        help=f"the defaults file the deployment sets as [mlprovider] defaults_file (default: ${DEFAULTS_FILE_ENV}, "
        "else the mlprovider.defaults.yaml beside the specs). Airflow itself is not imported: validating stays fast",
    )


def run(args: argparse.Namespace) -> int:
    shared_defaults = args.defaults_file
    valid, errors = 0, []
    for name in args.paths:
        path = Path(name)
        if path.is_dir():
            result = load_specs(path, dags_root=args.dags_root, defaults_file=shared_defaults)
            errors += [error for file_errors in result.errors.values() for error in file_errors]
            for spec in result.specs:
                problems = sample_problems(spec)
                errors += problems
                valid += not problems
        elif path.is_file():
            try:
                spec = load_spec_file(path, dags_root=args.dags_root, defaults_file=shared_defaults)
            except SpecValidationError as exc:
                errors += exc.errors
            else:
                problems = model_collisions(path, args.dags_root or path.parent) + sample_problems(spec)
                errors += problems
                valid += not problems
        else:
            errors.append(SpecError(name, None, None, "", "no such file or folder"))
    for error in errors:
        print(error)
    if errors:
        return 1
    print(f"ok: {valid} specs")
    return 0
