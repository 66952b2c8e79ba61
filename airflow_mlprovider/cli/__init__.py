"""`mlprovider` command. Each subcommand lives in its own module with add_arguments(parser) and run(args) -> int."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "validate": ("airflow_mlprovider.cli.validate", "validate spec files or folders (exit 1 on any error)"),
    "new": ("airflow_mlprovider.cli.new", "scaffold a new model: spec, model module and schemas"),
    "instance": ("airflow_mlprovider.cli.instance", "pick the cheapest SageMaker instance type for a need"),
    "serve": ("airflow_mlprovider.cli.serve", "run the local endpoint server on 127.0.0.1"),
    "traffic": ("airflow_mlprovider.cli.traffic", "replay rows as requests against the local endpoint server"),
    "cost": ("airflow_mlprovider.cli.cost", "what each model's runs and serving cost (from the runs' cost records)"),
    "demo": ("airflow_mlprovider.cli.demo", "seed the embedded warehouse and run Airflow with the example specs"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="mlprovider", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text)
        if name == chosen:  # import only the module that runs: the others may need optional extras
            importlib.import_module(module_name).add_arguments(command_parser)
    args = parser.parse_args(argv)
    return int(importlib.import_module(SUBCOMMANDS[args.command][0]).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
