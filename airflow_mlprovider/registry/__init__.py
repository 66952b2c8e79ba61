"""Model versions, their event log and the champion pointer on object storage; the promotion rules."""

from airflow_mlprovider.registry.rules import PromotionDecision, judge_candidate, may_replace
from airflow_mlprovider.registry.store import (
    ModelRegistry,
    ModelVersion,
    PromotionOutcome,
    VersionConflictError,
    version_id_for,
)

__all__ = [
    "ModelRegistry",
    "ModelVersion",
    "PromotionDecision",
    "PromotionOutcome",
    "VersionConflictError",
    "judge_candidate",
    "may_replace",
    "version_id_for",
]
