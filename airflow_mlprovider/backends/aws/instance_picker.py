"""The cheapest SageMaker instance type that meets a need, from the bundled us-east-1 price table. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PURPOSES = ("training", "hosting")
_TABLE = Path(__file__).with_name("instance_types.json")


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int
    usd_per_hour: float  # for the purpose it was priced for

    def fits(self, cpus: int, memory_gb: float, gpu: bool) -> bool:
        return self.vcpus >= cpus and self.memory_gib >= memory_gb and (self.gpus > 0) >= gpu


@dataclass(frozen=True)
class InstanceChoice:
    chosen: InstanceType
    alternatives: tuple[InstanceType, ...]  # the next cheapest that also fit, cheapest first
    purpose: str
    price_source: str


class NoInstanceFits(ValueError):
    """No instance type in the table meets the need."""


@cache
def price_table() -> dict:
    return json.loads(_TABLE.read_text())


def instance_types(purpose: str) -> list[InstanceType]:
    """Every type offered for `purpose`, priced for it."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    return [
        InstanceType(row["name"], row["vcpus"], row["memory_gib"], row["gpus"], row[purpose])
        for row in price_table()["instances"]
        if row[purpose] is not None
    ]


def pick_instance(
    cpus: int, memory_gb: float, gpu: bool = False, purpose: str = "training", alternatives: int = 3
) -> InstanceChoice:
    """The cheapest type with at least `cpus` vCPUs, `memory_gb` GiB and (if `gpu`) a GPU; ties go to fewer vCPUs."""
    candidates = sorted(
        (t for t in instance_types(purpose) if t.fits(cpus, memory_gb, gpu)),
        key=lambda t: (t.usd_per_hour, t.vcpus, t.memory_gib, t.name),
    )
    if not candidates:
        largest = max(instance_types(purpose), key=lambda t: (t.vcpus, t.memory_gib))
        raise NoInstanceFits(
            f"no SageMaker {purpose} instance has {cpus} vCPUs, {memory_gb:g} GiB{' and a GPU' if gpu else ''}; "
            f"the largest in the table is {largest.name} ({largest.vcpus} vCPUs, {largest.memory_gib:g} GiB). "
            "Lower cpus/memory_gb, or set instance_type explicitly."
        )
    return InstanceChoice(candidates[0], tuple(candidates[1 : 1 + alternatives]), purpose, price_table()["source"])
