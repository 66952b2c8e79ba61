"""`mlprovider instance`: the cheapest SageMaker instance type for a need, and the next cheapest ones."""

from __future__ import annotations

import argparse
import sys

from airflow_mlprovider.backends.aws.instance_picker import PURPOSES, InstanceType, NoInstanceFits, pick_instance


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpus", type=int, default=2, help="vCPUs needed (default 2)")
    parser.add_argument("--memory", type=float, default=4, help="memory needed in GiB (default 4)")
    parser.add_argument("--gpu", action="store_true", help="needs a GPU")
    parser.add_argument("--purpose", choices=PURPOSES, default="training", help="priced for (default training)")
    parser.add_argument("--alternatives", type=int, default=3, help="how many next-cheapest types to list")


def _row(instance: InstanceType) -> str:
    gpus = f", {instance.gpus} GPU" if instance.gpus else ""
    return (
        f"{instance.name:<18} {instance.vcpus:>3} vCPU {instance.memory_gib:>6g} GiB{gpus:<8}"
        f" ${instance.usd_per_hour:.3f}/h"
    )


def run(args: argparse.Namespace) -> int:
    try:
        choice = pick_instance(args.cpus, args.memory, args.gpu, args.purpose, args.alternatives)
    except NoInstanceFits as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"cheapest for {args.purpose}: {_row(choice.chosen)}")
    for alternative in choice.alternatives:
        print(f"  then: {_row(alternative)}")
    print(f"prices: {choice.price_source}")
    return 0
