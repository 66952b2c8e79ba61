"""Pure rollout logic: policy, state, the sequential test, decide() and plan_rollout(). No Airflow import here."""

from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.decision import Decision, decide
from airflow_mlprovider.rollout.planning import RolloutPlan, plan_rollout
from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.state import RolloutState

__all__ = ["Decision", "RolloutPlan", "RolloutPolicy", "RolloutState", "VariantCounts", "decide", "plan_rollout"]
