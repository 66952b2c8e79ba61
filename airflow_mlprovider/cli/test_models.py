"""`mlprovider test SPEC...`: run each model's contract checks (docs/contract-tests.md); exit 1 if any fails."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from airflow_mlprovider.cli.validate import DEFAULTS_FILE_ENV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="*.model.yaml files, or folders holding them")
    parser.add_argument("--dags-root", help="model files must live inside this folder (default: each spec's folder)")
    parser.add_argument("--defaults-file", default=os.environ.get(DEFAULTS_FILE_ENV) or None,
                        help="the deployment's [mlprovider] defaults_file (default: the one beside the specs)")
    parser.add_argument("--keep", metavar="DIR", help="keep each model's work files (sample, artifacts) in DIR/<model>")


def spec_files(paths: list[str]) -> list[Path]:
    """The spec files named, folders expanded to their *.model.yaml files."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        files += sorted(path.glob("*.model.yaml")) if path.is_dir() else [path]
    return files


def run(args: argparse.Namespace) -> int:
    from airflow_mlprovider.contract_testing.runner import run_spec

    failed = 0
    files = spec_files(args.specs)
    for path in files:
        work = None if args.keep is None else Path(args.keep) / path.name.removesuffix(".model.yaml")
        if work is not None:
            work.mkdir(parents=True, exist_ok=True)
        report = run_spec(path, work_dir=work, dags_root=args.dags_root, defaults_file=args.defaults_file)
        print(report.text(), flush=True)
        failed += not report.passed
    print(f"{len(files) - failed} of {len(files)} specs honour their contract")
    return 1 if failed or not files else 0
