"""The rollout stage in real DAG runs (dag.test runs the deferred trigger inline), plus start/resume directly.

The endpoint is the in-memory double from test_serving; the registry is real, on disk.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

import pytest
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, TaskGroup
from airflow.sdk.exceptions import TaskDeferred
from test_serving import ENDPOINT, FakeTI, MemoryEndpoint, register, registry_of, write_spec

from airflow_mlprovider.backends.base import StaleFenceError
from airflow_mlprovider.backends.local.filesystem_store import FilesystemArtifactStore
from airflow_mlprovider.operators.base import run_key
from airflow_mlprovider.operators.rollout import RolloutOperator
from airflow_mlprovider.operators.serving import (
    DeployOperator,
    FinalizeOperator,
    HealthCheckOperator,
    RollbackOperator,
    variant_name,
)
from airflow_mlprovider.rollout import RolloutPolicy, RolloutState
from airflow_mlprovider.run_history import RolloutHistory
from airflow_mlprovider.spec.model import Rollout
from airflow_mlprovider.triggers.rollout import RolloutTrigger
from tests.dag_runs import record_dag

#: endpoint doubles by connection id (one per test), so a trigger rebuilt from its kwargs finds its endpoint
ENDPOINTS: dict[str, MemoryEndpoint] = {}


class MemoryRolloutTrigger(RolloutTrigger):
    def metrics_source(self) -> MemoryEndpoint:
        return ENDPOINTS[self.endpoint_conn_id]


def bound(cls: type, **extra: Any) -> type:
    """`cls` acting on the in-memory endpoint its endpoint_conn_id names."""
    return type(cls.__name__, (cls,), {"serving": property(lambda self: ENDPOINTS[self.endpoint_conn_id]), **extra})


def keeper(spec: dict[str, Any], conn_id: str) -> dict[str, Any]:
    return {"model": spec["model"], "registry_uri": f"{spec['artifact_root']}/{spec['model']}",
            "request_schema": spec["code"]["request_schema"], "response_schema": spec["code"]["response_schema"],
            "endpoint": ENDPOINT, "endpoint_conn_id": conn_id}


def rollout_operator(spec: dict[str, Any], conn_id: str, trigger_class: type[RolloutTrigger] = MemoryRolloutTrigger,
                     **arguments: Any) -> RolloutOperator:
    return bound(RolloutOperator, trigger_class=trigger_class)(
        task_id="rollout", endpoint=ENDPOINT, endpoint_conn_id=conn_id, rollout_policy=spec["rollout"],
        complete_task_id="rollout.finalize", rollback_task_id="rollout.rollback", **arguments,
    )


def stage_dag(spec: dict[str, Any], conn_id: str, version_id: str) -> DAG:
    """register (stubbed) -> deploy -> health_check -> rollout -> finalize | rollback, wired like the factory."""
    keep = keeper(spec, conn_id)
    with DAG(f"stage_{Path(conn_id).stem}", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
        with TaskGroup("promote"):
            registered = PythonOperator(task_id="register", python_callable=lambda: {"version_id": version_id},
                                        multiple_outputs=True)
            deploy = bound(DeployOperator)(task_id="deploy", version_id=registered.output["version_id"], **keep)
            health = bound(HealthCheckOperator)(
                task_id="health_check", variant=deploy.output["candidate"], endpoint=ENDPOINT, endpoint_conn_id=conn_id,
                request_schema=spec["code"]["request_schema"])
        with TaskGroup("rollout"):
            rollout = rollout_operator(spec, conn_id, candidate=deploy.output["candidate"],
                                       champion=deploy.output["champion"], generation=deploy.output["generation"],
                                       model=spec["model"], registry_uri=keep["registry_uri"])
            finalize = bound(FinalizeOperator)(
                task_id="finalize", version_id=deploy.output["version_id"], previous_champion=deploy.output["champion"],
                reason=rollout.output["reason"], **keep)
            rollback = bound(RollbackOperator)(
                task_id="rollback", trigger_rule="all_done", version_id=registered.output["version_id"],
                decision=rollout.output, deployed=deploy.output, health_check=health.output, **keep)
        registered >> deploy >> health >> rollout >> [finalize, rollback]
    return record_dag(dag)


class ShiftRefusingEndpoint(MemoryEndpoint):
    """An endpoint whose backend breaks whenever traffic would move to a candidate."""

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> None:
        if sum(1 for w in weights.values() if w > 0) > 1:
            raise ConnectionError("endpoint update failed")
        super().set_weights(endpoint, weights, generation)


class AdvanceRefusingEndpoint(MemoryEndpoint):
    """An endpoint whose backend breaks once the candidate would get more than its first step."""

    def set_weights(self, endpoint: str, weights: dict[str, float], generation: int | None = None) -> None:
        if sum(1 for w in weights.values() if w > 0) > 1 and min(weights.values()) > 10:
            raise ConnectionError("endpoint update failed")
        super().set_weights(endpoint, weights, generation)


def run_stage(tmp_path: Path, *, candidate_error_rate: float, with_champion: bool = True, healthy: bool = True,
              endpoint_class: type[MemoryEndpoint] = MemoryEndpoint) -> tuple[Any, MemoryEndpoint, dict[str, Any], str]:
    spec = write_spec(tmp_path, rollout={"steps": [10, 50, 100], "check_interval": "0.05s", "min_requests": 50,
                                         "step_timeout": "20s"})
    conn_id = str(tmp_path / "churn")
    endpoint = ENDPOINTS[conn_id] = endpoint_class()
    if with_champion:
        registry_of(spec).promote(register(spec, 2).version_id, "first")
    candidate = register(spec, 3)
    name = variant_name(candidate.version_id)
    endpoint.traffic.error_rates[name] = candidate_error_rate
    if not healthy:
        endpoint.answers[name] = lambda request: (500, {"error": "model crashed"})
    dag_run = stage_dag(spec, conn_id, candidate.version_id).test()
    return dag_run, endpoint, spec, name


def rollout_record(spec: dict[str, Any], dag_run: Any) -> dict[str, Any]:
    """The run's record for the Models page (run_history.py)."""
    history = RolloutHistory(FilesystemArtifactStore(), f"{spec['artifact_root']}/{spec['model']}")
    record = history.load(run_key(dag_run.run_id))
    assert record is not None and history.recent(5) == [record]
    return record


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def rollout_result(dag_run: Any) -> dict[str, Any]:
    [ti] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "rollout.rollout"]
    return ti.xcom_pull(task_ids="rollout.rollout")


def test_a_good_candidate_walks_every_step_and_is_finalized(airflow_db: str, tmp_path: Path) -> None:
    dag_run, endpoint, spec, candidate = run_stage(tmp_path, candidate_error_rate=0.01)
    assert states(dag_run)["rollout.finalize"] == "success"
    assert states(dag_run)["rollout.rollback"] == "skipped"
    assert str(dag_run.state) == "success"
    # deploy restores the champion (the endpoint started empty), then the three steps
    assert [weights.get(candidate, 0.0) for weights in endpoint.history] == [0.0, 10.0, 50.0, 100.0]
    assert endpoint.describe(ENDPOINT) == {candidate: 100.0}
    assert variant_name(registry_of(spec).champion().version_id) == candidate
    assert rollout_result(dag_run)["action"] == "complete"
    record = rollout_record(spec, dag_run)
    assert (record["outcome"], record["candidate"], record["run_id"]) == ("complete", candidate, dag_run.run_id)
    assert record["finished_at"] >= record["started_at"]
    points = record["points"]
    assert [p["action"] for p in points] == ["start", "advance", "complete"]
    assert [p["weight"] for p in points] == [10.0, 50.0, 100.0]
    assert points[0]["candidate"] is None, "a step's start has no counts yet"
    assert all(p["candidate"]["requests"] > 0 and p["champion"]["requests"] > 0 for p in points[1:])


def test_a_bad_candidate_is_rolled_back_and_the_run_succeeds(airflow_db: str, tmp_path: Path) -> None:
    dag_run, endpoint, spec, candidate = run_stage(tmp_path, candidate_error_rate=0.25)
    assert states(dag_run)["rollout.finalize"] == "skipped"
    assert states(dag_run)["rollout.rollback"] == "success"
    assert str(dag_run.state) == "success", "a decided rollback is a safe, normal outcome"
    champion = endpoint.only_full_weight()
    assert champion != candidate and candidate not in endpoint.describe(ENDPOINT)
    assert endpoint.history[-1] == {champion: 100.0, candidate: 0.0}, "the rollout itself stops its traffic"
    assert rollout_result(dag_run)["action"] == "rollback"
    events = [e["event"] for e in registry_of(spec).events(registry_of(spec).versions()[-1].version_id)]
    assert "rolled_back" in events
    record = rollout_record(spec, dag_run)
    assert record["outcome"] == "rollback" and record["points"][-1]["action"] == "rollback"
    assert record["points"][-1]["weight"] == 0.0
    last = record["points"][-1]["candidate"]
    assert last["errors_5xx"] > 0 and last["errors_5xx"] <= last["requests"]


def test_the_first_model_is_finalized_at_once(airflow_db: str, tmp_path: Path) -> None:
    dag_run, endpoint, spec, candidate = run_stage(tmp_path, candidate_error_rate=0.01, with_champion=False)
    assert states(dag_run)["rollout.finalize"] == "success"
    assert states(dag_run)["rollout.rollback"] == "skipped"
    assert endpoint.describe(ENDPOINT) == {candidate: 100.0}
    assert endpoint.history == [{candidate: 100.0}], "no partial steps without a champion to compare with"
    record = rollout_record(spec, dag_run)
    assert (record["outcome"], record["champion"]) == ("complete", None)
    assert [(p["action"], p["weight"]) for p in record["points"]] == [("complete", 100.0)]


def test_a_failed_health_check_repairs_the_endpoint_and_fails_the_run(airflow_db: str, tmp_path: Path) -> None:
    dag_run, endpoint, spec, candidate = run_stage(tmp_path, candidate_error_rate=0.01, healthy=False)
    result = states(dag_run)
    assert result["promote.health_check"] == "failed"
    assert result["rollout.rollout"] == "upstream_failed"
    assert result["rollout.rollback"] == "failed", "repaired, then failed so the run shows the stage broke"
    assert str(dag_run.state) == "failed"
    assert candidate not in endpoint.describe(ENDPOINT)
    assert endpoint.only_full_weight() != candidate
    assert all(weights.get(candidate, 0.0) == 0.0 for weights in endpoint.history), "no user traffic reached it"


def test_a_failing_rollout_repairs_the_endpoint_and_fails_the_run(airflow_db: str, tmp_path: Path) -> None:
    dag_run, endpoint, spec, candidate = run_stage(
        tmp_path, candidate_error_rate=0.01, endpoint_class=ShiftRefusingEndpoint
    )
    result = states(dag_run)
    assert (result["rollout.rollout"], result["rollout.finalize"]) == ("failed", "upstream_failed")
    assert result["rollout.rollback"] == "failed", "repaired, then failed: the rollout did not complete"
    assert str(dag_run.state) == "failed"
    assert endpoint.only_full_weight() != candidate and candidate not in endpoint.describe(ENDPOINT)
    [event] = registry_of(spec).events(registry_of(spec).versions()[-1].version_id)
    assert event["reason"] == "the rollout failed or timed out before reaching a decision"


def test_a_rollout_failing_after_its_first_step_leaves_its_record_rolled_back_not_running(
    airflow_db: str, tmp_path: Path
) -> None:
    dag_run, endpoint, spec, candidate = run_stage(
        tmp_path, candidate_error_rate=0.01, endpoint_class=AdvanceRefusingEndpoint
    )
    assert (states(dag_run)["rollout.rollout"], states(dag_run)["rollout.rollback"]) == ("failed", "failed")
    record = rollout_record(spec, dag_run)
    assert record["outcome"] == "rollback" and record["finished_at"] is not None
    assert [p["action"] for p in record["points"]] == ["start", "rollback"]
    assert record["points"][-1]["weight"] == 0.0
    assert "rolled back: the rollout failed or timed out before reaching a decision" == record["points"][-1]["reason"]


# --- start and resume, called directly ---------------------------------------------------------


def deployed_endpoint(tmp_path: Path, candidate_weight: float) -> tuple[RolloutOperator, MemoryEndpoint, dict]:
    spec = write_spec(tmp_path)
    conn_id = str(tmp_path / "direct")
    endpoint = ENDPOINTS[conn_id] = MemoryEndpoint()
    registry_of(spec).promote(register(spec, 2).version_id, "first")
    candidate = register(spec, 3)
    deployed = bound(DeployOperator)(task_id="deploy", version_id=candidate.version_id, **keeper(spec, conn_id)).execute(
        {"ti": FakeTI({}), "run_id": "r"}
    )
    if candidate_weight:
        endpoint.set_weights(ENDPOINT, {deployed["candidate"]: candidate_weight,
                                        deployed["champion"]: 100 - candidate_weight})
    rollout = rollout_operator(spec, conn_id, RolloutTrigger, candidate=deployed["candidate"],
                               champion=deployed["champion"], generation=deployed["generation"])
    return rollout, endpoint, deployed


def defer(rollout: RolloutOperator) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        rollout.execute({"ti": FakeTI({}), "run_id": "r"})
    return deferred.value


def test_a_rollout_that_rolls_back_at_its_timeout_defers_with_a_deadline_beyond_it(tmp_path: Path) -> None:
    rollout, _, _ = deployed_endpoint(tmp_path, 0)
    rollout.rollout_policy = {**rollout.rollout_policy, "on_timeout": "rollback"}
    assert defer(rollout).timeout.total_seconds() > rollout.policy.timeout_s


def test_start_sets_the_first_step_and_defers(tmp_path: Path) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, 0)
    deferred = defer(rollout)
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 90.0, deployed["candidate"]: 10.0}
    assert deferred.method_name == "execute_complete"
    assert rollout.policy.on_timeout == "wait" and deferred.timeout is None  # waits for evidence: no deadline
    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == "airflow_mlprovider.triggers.rollout.RolloutTrigger"
    assert (kwargs["champion"], kwargs["candidate"], kwargs["endpoint"]) == (
        deployed["champion"], deployed["candidate"], ENDPOINT)
    assert RolloutState.from_dict(kwargs["state"]).step_index == 0
    assert RolloutPolicy(**kwargs["policy"]).steps == (10, 50, 100)


def test_a_stale_rollout_cannot_move_traffic_after_a_newer_fence(tmp_path: Path) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, 0)
    endpoint.fence(ENDPOINT)  # e.g. the rollback task of a newer attempt
    with pytest.raises(StaleFenceError):
        rollout.execute({"ti": FakeTI({}), "run_id": "r"})
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100.0, deployed["candidate"]: 0.0}


def test_a_retry_resumes_at_the_step_the_endpoint_is_at(tmp_path: Path) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, 50)
    started = time.time()
    state = RolloutState.from_dict(defer(rollout).trigger.serialize()[1]["state"])
    assert (state.step_index, state.weight) == (1, 50.0)
    assert state.step_started_at >= started, "the resumed step's window starts now"
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 50.0, deployed["candidate"]: 50.0}


@pytest.mark.parametrize(("action", "before", "index", "after"), [("advance", 10, 1, 50.0), ("retreat", 50, 0, 10.0)])
def test_an_advance_or_retreat_event_shifts_traffic_announces_it_and_defers_again(
    tmp_path: Path, action: str, before: float, index: int, after: float
) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, before)
    announced: list[str] = []
    rollout.announce = lambda model, event, message, alert=False: announced.append(event)
    state = RolloutState(step_index=index, weight=after, started_at=time.time(), step_started_at=time.time())
    event = {"action": action, "weight": after, "reason": "ok", "stats": {}, "state": state.to_dict()}
    with pytest.raises(TaskDeferred) as deferred:
        rollout.execute_complete({"ti": FakeTI({}), "run_id": "r"}, event)
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 100 - after, deployed["candidate"]: after}
    assert announced == [f"rollout.{action}"]
    assert deferred.value.trigger.serialize()[1]["state"] == state.to_dict()


def test_rollout_refuses_an_endpoint_without_its_variants(tmp_path: Path) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, 0)
    endpoint.remove(ENDPOINT, deployed["candidate"])
    with pytest.raises(Exception, match="are not on endpoint 'churn'.*the deploy task must run again"):
        rollout.execute({"ti": FakeTI({}), "run_id": "r"})


def test_an_unknown_event_fails_clearly(tmp_path: Path) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, 10)
    with pytest.raises(Exception, match="unknown rollout event 'pause' \\(allowed: advance, retreat, complete, rollback\\)"):
        rollout.execute_complete({"ti": FakeTI({}), "run_id": "r"}, {"action": "pause"})


def test_a_rollout_record_that_cannot_be_written_never_stops_the_rollout(tmp_path: Path) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, 0)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the model root's folder would be")
    rollout.registry_uri = str(blocker)
    warnings: list[str] = []
    with patch.object(type(rollout), "log", new_callable=PropertyMock) as log:
        log.return_value.warning.side_effect = lambda message, *args: warnings.append(message % args)
        defer(rollout)
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 90.0, deployed["candidate"]: 10.0}
    [warning] = warnings
    assert warning.startswith("could not record rollout step start of r: ")


def test_a_limit_reached_is_announced_and_the_rollout_keeps_waiting(tmp_path: Path) -> None:
    rollout, endpoint, deployed = deployed_endpoint(tmp_path, 10)
    announced: list[tuple[str, str, bool]] = []
    rollout.announce = lambda model, event, message, alert=False: announced.append((event, message, alert))
    state = RolloutState(step_index=0, weight=10.0, started_at=time.time() - 7200, step_started_at=time.time() - 7200)
    reason = "step 10% ran 2.0h (step_timeout 1h) without a decision; ...; expects ~5.0h more at the traffic seen"
    event = {"action": "wait", "weight": 10.0, "reason": reason, "stats": {}, "state": state.to_dict(),
             "announced": ["step_timeout:0"]}
    with pytest.raises(TaskDeferred) as deferred:
        rollout.execute_complete({"ti": FakeTI({}), "run_id": "r"}, event)
    assert [(e, alert) for e, _, alert in announced] == [("rollout.limit", True)] and "expects ~5.0h" in announced[0][1]
    kwargs = deferred.value.trigger.serialize()[1]
    assert kwargs["announced"] == ["step_timeout:0"] and kwargs["state"] == state.to_dict()
    assert endpoint.describe(ENDPOINT) == {deployed["champion"]: 90.0, deployed["candidate"]: 10.0}  # unchanged
