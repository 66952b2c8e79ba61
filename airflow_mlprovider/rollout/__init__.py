"""Pure rollout logic: policy, state, the sequential test and decide(). No Airflow import here."""

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.decision import Decision, decide
from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.state import RolloutState

__all__ = ["Decision", "RolloutPolicy", "RolloutState", "VariantCounts", "decide"]
