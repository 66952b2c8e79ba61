"""The `mlprovider` command. Each subcommand lives in its own module with add_arguments(parser) and run(args) -> int."""

from __future__ import annotations

import argparse
import importlib
import sys

DESCRIPTION = """\
Put machine-learning models into production with Apache Airflow: one YAML spec per model becomes a DAG that
extracts, trains, evaluates, promotes and rolls out the model safely.

getting started:
  make demo                                  the example models in Airflow, with served traffic
  mlprovider load-table wine data/wine.csv   your own data into the embedded warehouse
  mlprovider new wine_quality --table wine   a new model: spec, model module, schemas
  mlprovider validate dag_specs/             check every spec (CI, pre-commit)
"""
EPILOG = "Run `mlprovider COMMAND --help` for a command's options; the tutorial is docs/tutorial.md."

SUBCOMMANDS = {
    "demo": ("airflow_mlprovider.cli.demo", "run the example models locally: Airflow on PostgreSQL, the endpoint server and demo traffic"),
    "load-table": ("airflow_mlprovider.cli.load_table", "load a CSV or Parquet file as a table of the embedded DuckDB warehouse"),
    "new": ("airflow_mlprovider.cli.new", "scaffold a new model: spec, model module and schemas"),
    "test": ("airflow_mlprovider.cli.test_models", "run models' contract tests: preprocess, train, load, predict"),
    "validate": ("airflow_mlprovider.cli.validate", "check spec files or folders; exit 1 with file:line: message for each error"),
    "instance": ("airflow_mlprovider.cli.instance", "pick the cheapest SageMaker instance type for the CPUs and memory you need"),
    "serve": ("airflow_mlprovider.cli.serve", "run the local endpoint server (model variants behind weighted routing) on 127.0.0.1"),
    "traffic": ("airflow_mlprovider.cli.traffic", "replay rows as requests against the local endpoint server"),
    "cost": ("airflow_mlprovider.cli.cost", "what each model's runs and serving cost (from the runs' cost records)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="mlprovider", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name == chosen:  # import only the module that runs: the others may need optional extras
            importlib.import_module(module_name).add_arguments(command_parser)
    args = parser.parse_args(argv)
    return int(importlib.import_module(SUBCOMMANDS[args.command][0]).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
