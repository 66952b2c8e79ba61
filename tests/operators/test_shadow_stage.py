"""The shadow stage's operators against the in-memory endpoint of test_serving: deploy as a shadow, the verdict's
two endings, and the rollback's account of a failed shadow."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_mlprovider.operators.serving import DeployOperator, RollbackOperator, variant_name
from airflow_mlprovider.operators.shadow import ShadowOperator
from tests.operators.test_serving import (
    DEPLOY,
    ENDPOINT,
    HEALTH_CHECK,
    REGISTER,
    MemoryEndpoint,
    arguments,
    context,
    deployed_xcom,
    operator,
    register,
    registry_of,
    write_spec,
)


@pytest.fixture
def spec(tmp_path) -> dict[str, Any]:  # noqa: ANN001 - pytest's tmp_path
    return write_spec(tmp_path)


@pytest.fixture
def endpoint() -> MemoryEndpoint:
    return MemoryEndpoint()


def test_deploy_as_a_shadow_beside_a_champion_but_never_a_first_model(spec: dict, endpoint: MemoryEndpoint) -> None:
    first = register(spec, 2)
    deployed = operator(DeployOperator, endpoint, shadow=True, **arguments(
        DeployOperator, spec, {REGISTER: {"version_id": first.version_id}})).execute(context())
    assert endpoint.variants[ENDPOINT][deployed["candidate"]].shadow is False  # no live traffic to mirror
    registry_of(spec).promote(first.version_id, "first")
    candidate = register(spec, 3)
    deployed = operator(DeployOperator, endpoint, shadow=True, **arguments(
        DeployOperator, spec, {REGISTER: {"version_id": candidate.version_id}})).execute(context())
    assert endpoint.variants[ENDPOINT][deployed["candidate"]].shadow is True
    assert endpoint.describe(ENDPOINT) == {variant_name(first.version_id): 100.0, deployed["candidate"]: 0.0}


def shadow_operator(endpoint: MemoryEndpoint, deployed: dict[str, Any]) -> ShadowOperator:
    return operator(ShadowOperator, endpoint, candidate=deployed["candidate"], champion=deployed["champion"],
                    generation=deployed["generation"], shadow_policy={"min_requests": 50}, model="churn")


def test_a_passed_shadow_keeps_the_candidate_at_zero_for_the_rollout(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    result = shadow_operator(endpoint, deployed).execute_complete(
        context(), {"action": "pass", "reason": "agrees", "figures": {"pairs": 60}})
    assert result == {"action": "pass", "reason": "agrees", "figures": {"pairs": 60}}
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0, deployed["candidate"]: 0.0}


def test_a_failed_shadow_removes_the_candidate_and_fails(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    with pytest.raises(AirflowFailException, match="shadow stage failed: mean .* 3.1 standard deviations"):
        shadow_operator(endpoint, deployed).execute_complete(
            context(), {"action": "fail", "reason": "mean |candidate - champion| 3.1 standard deviations", "figures": {}})
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0}


def test_a_failed_shadow_leaves_the_candidate_to_a_newer_fence(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    endpoint.fence(ENDPOINT)  # e.g. a rollback of this run already owns the endpoint
    with pytest.raises(AirflowFailException, match="shadow stage failed"):
        shadow_operator(endpoint, deployed).execute_complete(context(), {"action": "fail", "reason": "x", "figures": {}})
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0, deployed["candidate"]: 0.0}


def test_a_first_model_passes_at_once(spec: dict, endpoint: MemoryEndpoint) -> None:
    result = shadow_operator(endpoint, {"candidate": "v-1", "champion": None, "generation": 1}).execute(context())
    assert result["action"] == "pass" and "no champion" in result["reason"]


def test_rollback_after_a_failed_shadow_names_it(spec: dict, endpoint: MemoryEndpoint) -> None:
    deployed = deployed_xcom(spec, endpoint)
    xcoms = {REGISTER: {"version_id": deployed["version_id"]}, DEPLOY: deployed, HEALTH_CHECK: {"requests": 5}}
    rollback = operator(RollbackOperator, endpoint, shadow=None, shadow_stage=True,
                        **arguments(RollbackOperator, spec, xcoms))
    with pytest.raises(AirflowFailException, match="failing because the candidate did not pass its shadow stage"):
        rollback.execute(context())
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0}
