"""The generated DAG: stages as task groups, wiring, timeouts, retries, docs."""

from __future__ import annotations

from dataclasses import replace

from datetime import timedelta
from pathlib import Path

import yaml

from airflow_mlprovider.factory.builder import build_dag, spec_digest
from airflow_mlprovider.spec import load_spec_file


def _spec(folder: Path, name: str, **overrides):
    path = folder / f"{name}.model.yaml"
    if overrides:
        doc = yaml.safe_load(path.read_text())
        for key, value in overrides.items():
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        path.write_text(yaml.safe_dump(doc))
    return load_spec_file(path)


def _edges(dag) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


def test_a_rollout_that_rolls_back_at_its_timeout_has_a_backstop_beyond_it(dags_folder: Path) -> None:
    spec = _spec(dags_folder, "demand_forecast")
    spec = replace(spec, rollout=replace(spec.rollout, on_timeout="rollback"))
    assert build_dag(spec).get_task("rollout.rollout").execution_timeout > timedelta(seconds=spec.rollout.timeout_s)


def test_full_lifecycle_shape(dags_folder: Path) -> None:
    spec = _spec(dags_folder, "demand_forecast")
    assert spec.serving is not None, "the demand example serves and rolls out"
    dag = build_dag(spec)
    assert dag.dag_id == "demand_forecast"
    assert set(dag.task_group_dict) >= {"data", "train", "evaluate", "promote", "rollout"}
    chain = ["data.extract", "data.preprocess", "data.split", "train.train", "evaluate.evaluate", "evaluate.decide",
             "promote.register", "promote.deploy", "promote.health_check", "rollout.rollout"]
    if spec.data.dbt:
        chain.insert(0, "data.dbt_build")
    edges = _edges(dag)
    assert set(zip(chain, chain[1:])) <= edges
    assert {("rollout.rollout", "rollout.finalize"), ("rollout.rollout", "rollout.rollback")} <= edges
    assert dag.get_task("rollout.rollback").trigger_rule == "all_done"
    assert dag.get_task("train.train").execution_timeout == timedelta(seconds=spec.train.max_runtime_s + 600)
    # the default on_timeout "wait" keeps waiting for evidence: no backstop cuts the rollout short
    assert spec.rollout.on_timeout == "wait" and dag.get_task("rollout.rollout").execution_timeout is None
    assert dag.max_active_runs == spec.max_active_runs
    assert "mlprovider" in dag.tags
    assert spec_digest(spec) in dag.doc_md and "```yaml" in dag.doc_md
    extract = dag.get_task("data.extract")
    assert extract.retries == spec.default_args.retries
    assert extract.retry_exponential_backoff == spec.default_args.retry_exponential_backoff
    assert extract.owner == spec.owner


def test_without_serving_the_dag_stops_at_register(dags_folder: Path) -> None:
    spec = _spec(dags_folder, "demand_forecast", serving=None, rollout=None)
    dag = build_dag(spec)
    assert "rollout" not in dag.task_group_dict
    assert [t for t in dag.task_dict if t.startswith("promote.")] == ["promote.register"]
    assert dag.get_task("promote.register").downstream_task_ids == set()


def test_schedule_and_catchup_come_from_the_spec(dags_folder: Path) -> None:
    spec = _spec(dags_folder, "demand_forecast", schedule="0 3 * * 1", catchup=True, start_date="2024-06-01")
    dag = build_dag(spec)
    assert dag.catchup is True
    assert dag.start_date.isoformat().startswith("2024-06-01")
    assert dag.schedule == "0 3 * * 1"


def test_spec_change_changes_the_digest(dags_folder: Path) -> None:
    before = spec_digest(_spec(dags_folder, "demand_forecast"))
    after = spec_digest(_spec(dags_folder, "demand_forecast", description="changed"))
    assert before != after


def test_a_shadow_section_puts_the_shadow_stage_between_health_check_and_rollout(dags_folder: Path) -> None:
    spec = _spec(dags_folder, "demand_forecast", shadow={"min_requests": 50, "max_duration": "5m"})
    dag = build_dag(spec)
    edges = _edges(dag)
    assert {("promote.health_check", "shadow.shadow"), ("shadow.shadow", "rollout.rollout")} <= edges
    assert ("promote.health_check", "rollout.rollout") not in edges
    shadow = dag.get_task("shadow.shadow")
    assert (shadow.policy.min_requests, shadow.policy.compare) == (50, "auto")  # defaults from the schema
    assert shadow.policy.max_duration_s == 300 and shadow.metric == spec.evaluate.metric
    assert shadow.execution_timeout > timedelta(minutes=5)
    assert dag.get_task("promote.deploy").shadow is True
    assert dag.get_task("rollout.rollback").shadow_stage is True
    assert "→ shadow →" in dag.doc_md


def test_a_disabled_or_absent_shadow_section_has_no_shadow_stage(dags_folder: Path) -> None:
    for section in ({"enabled": False}, None):
        dag = build_dag(_spec(dags_folder, "demand_forecast", shadow=section))
        assert "shadow.shadow" not in dag.task_ids
        assert dag.get_task("promote.deploy").shadow is False
        assert dag.get_task("rollout.rollback").shadow_stage is False
