"""`mlprovider cost`: what each model's runs cost (training) and what its serving costs per day.

Reads the `cost/<run_key>.json` records under the artifact root of every spec in a folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--specs", default=None,
                        help="folder of *.model.yaml specs (default: the Airflow dags folder)")
    parser.add_argument("--model", action="append", help="only this model (repeatable)")
    parser.add_argument("--since", type=_date, help="only runs priced on or after this date (YYYY-MM-DD, UTC)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def run(args: argparse.Namespace) -> int:
    from airflow_mlprovider.backends import store_for
    from airflow_mlprovider.cost import summarise
    from airflow_mlprovider.provider_config import defaults_file
    from airflow_mlprovider.spec import load_specs

    folder = args.specs
    if folder is None:
        from airflow.configuration import conf

        folder = conf.get("core", "dags_folder")
    result = load_specs(folder, defaults_file=defaults_file())
    records = []
    for spec in result.specs:
        if args.model and spec.model not in args.model:
            continue
        store = store_for(spec)
        for uri in store.list(f"{spec.model_root}/cost/"):
            if uri.endswith(".json"):
                records.append(json.loads(store.read_bytes(uri)))
    summary = summarise(records, args.since)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    if not summary:
        print(f"no cost records under the specs of {folder}", file=sys.stderr)
        return 0
    print(f"{'model':<28} {'runs':>5} {'training s':>11} {'training $':>11} {'serving $/day':>14} {'total $':>10}")
    for model, row in sorted(summary.items()):
        print(f"{model:<28} {row['runs']:>5} {row['training_seconds']:>11,.1f} {row['training_usd']:>11.4f} "
              f"{row['serving_usd_per_day']:>14.2f} {row['total_usd']:>10.4f}")
    return 0
