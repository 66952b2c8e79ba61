"""`mlprovider validate PATH...`: check spec files or folders the way the DAG factory will load them."""

from __future__ import annotations

import argparse
from pathlib import Path

from airflow_mlprovider.spec import SpecError, SpecValidationError, load_spec_file, load_specs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="*.model.yaml files or folders holding them")
    parser.add_argument("--dags-root", help="model files must live inside this folder (default: each PATH's folder)")


def run(args: argparse.Namespace) -> int:
    valid, errors = 0, []
    for name in args.paths:
        path = Path(name)
        if path.is_dir():
            result = load_specs(path, dags_root=args.dags_root)
            valid += len(result.specs)
            errors += [error for file_errors in result.errors.values() for error in file_errors]
        elif path.is_file():
            try:
                load_spec_file(path, dags_root=args.dags_root)
                valid += 1
            except SpecValidationError as exc:
                errors += exc.errors
        else:
            errors.append(SpecError(name, None, None, "", "no such file or folder"))
    for error in errors:
        print(error)
    if errors:
        return 1
    print(f"ok: {valid} specs")
    return 0
