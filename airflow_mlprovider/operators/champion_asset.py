"""The Asset of a model's champion: `mlprovider://<model>/champion`, with an event each time the champion moves.

Operators declare the alias `mlprovider-champion-<model>` as an outlet and add the Asset to it only when
they moved the champion, so a run that keeps the champion emits no event. A downstream DAG schedules on
`champion_asset(model)`; each event's `extra` holds the version, its metric and its data interval.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias

if TYPE_CHECKING:
    from airflow_mlprovider.registry.store import ModelVersion

SCHEME = "mlprovider"


def champion_asset(model: str) -> Asset:
    """The Asset a downstream DAG schedules on (`schedule=[champion_asset("demand_forecast")]`)."""
    return Asset(name=f"{SCHEME}-champion-{model}", uri=f"{SCHEME}://{model}/champion", group="mlprovider")


def champion_alias(model: str) -> AssetAlias:
    """The outlet of the operators that may move the champion."""
    return AssetAlias(name=f"{SCHEME}-champion-alias-{model}", group="mlprovider")


def champion_extra(version: ModelVersion) -> dict[str, Any]:
    return {
        "version_id": version.version_id,
        "metric": version.metric,
        "metric_value": version.metric_value if math.isfinite(version.metric_value) else None,
        "data_interval_start": version.data_interval_start,
        "data_interval_end": version.data_interval_end,
        "artifact_uri": version.artifact_uri,
        "manifest_digest": version.manifest_digest,
    }


def emit_champion_event(context: Any, version: ModelVersion) -> None:
    """Record an event of `version.model`'s champion Asset (the task must have `champion_alias` as outlet)."""
    context["outlet_events"][champion_alias(version.model)].add(champion_asset(version.model), extra=champion_extra(version))
