"""DagBag load time: N copies of an example spec vs the equivalent hand-written Python DAGs.

Each measurement runs in a fresh interpreter (as the dag-processor parses a file), median of --repeat.
Hand-written = the same DAG (same operators with the same explicit arguments, task groups, XComArgs) written
directly in Python, in two layouts: one file per DAG, and one file defining all N.

    python bench/parse_time.py [--n 500] [--repeat 3] [--spec dag_specs/demand_forecast.model.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 1.3

MEASURE = r"""
import json, os, sys, time
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
from airflow.dag_processing.dagbag import DagBag
t = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "errors": {k: v[:300] for k, v in bag.import_errors.items()}}))
"""

HAND_WRITTEN_DAG = '''
with DAG(dag_id={dag_id!r}, description={description!r}, schedule={schedule!r},
         start_date=datetime.fromisoformat({start_date!r}).replace(tzinfo=timezone.utc), catchup={catchup!r},
         max_active_runs={max_active_runs!r}, tags={tags!r}, default_args=DEFAULT_ARGS, doc_md={doc!r},
         user_defined_filters={{"run_key": run_key}}) as dag:
    RUN = {run!r}
    notifier = LifecycleNotifier()
    with TaskGroup("data"):
        dbt_build = DbtBuildOperator(task_id="dbt_build", project_dir={dbt_project!r}, select={dbt_select!r},
                                     duckdb_path={duckdb!r}, notifier=notifier)
        extract = ExtractOperator(task_id="extract", sql={sql!r}, output_uri=RUN + "/data/raw.parquet", model={dag_id!r},
                                  sql_params={sql_params!r}, duckdb_path={duckdb!r}, notifier=notifier)
        preprocess = PreprocessOperator(task_id="preprocess", model={dag_id!r}, model_module={module!r},
                                        model_params={model_params!r}, input_uri=extract.output["uri"],
                                        output_uri=RUN + "/data/features.parquet", notifier=notifier)
        split = SplitOperator(task_id="split", input_uri=preprocess.output["uri"], output_prefix=RUN + "/data",
                              by={split_by!r}, column={split_column!r}, notifier=notifier)
    with TaskGroup("train"):
        train = TrainOperator(task_id="train", model={dag_id!r}, model_module={module!r}, model_params={model_params!r},
                              train_uri=split.output["train_uri"], validation_uri=split.output["validation_uri"],
                              artifact_uri=RUN + "/artifact", max_runtime_s={max_runtime},
                              execution_timeout=timedelta(seconds={train_timeout}), notifier=notifier)
    with TaskGroup("evaluate"):
        evaluate = EvaluateOperator(task_id="evaluate", test_uri=split.output["test_uri"],
                                    artifact_uri=train.output["artifact_uri"], manifest_digest=train.output["manifest_digest"],
                                    registry_uri={registry!r}, output_prefix=RUN + "/evaluation", label_column={label!r},
                                    metric={metric!r}, response_schema={response_schema!r}, notifier=notifier)
        decide = DecideOperator(task_id="decide", model={dag_id!r}, registry_uri={registry!r},
                                artifact_uri=train.output["artifact_uri"], evaluation=evaluate.output,
                                min_relative_improvement={min_relative!r}, notifier=notifier)
    with TaskGroup("promote"):
        register = RegisterOperator(task_id="register", model={dag_id!r}, registry_uri={registry!r},
                                    artifact_uri=train.output["artifact_uri"], evaluation=evaluate.output,
                                    reason=decide.output["reason"], notifier=notifier)
        deploy = DeployOperator(task_id="deploy", version_id=register.output["version_id"], **KEEPER, notifier=notifier)
        health_check = HealthCheckOperator(task_id="health_check", variant=deploy.output["candidate"], model={dag_id!r},
                                           request_schema={request_schema!r}, endpoint={endpoint!r}, notifier=notifier)
    with TaskGroup("rollout"):
        rollout = RolloutOperator(task_id="rollout", model={dag_id!r}, endpoint={endpoint!r},
                                  candidate=deploy.output["candidate"], champion=deploy.output["champion"],
                                  generation=deploy.output["generation"], rollout_policy={rollout_policy!r},
                                  complete_task_id="rollout.finalize", rollback_task_id="rollout.rollback",
                                  execution_timeout=timedelta(seconds={rollout_timeout}), retries=1, notifier=notifier)
        finalize = FinalizeOperator(task_id="finalize", version_id=deploy.output["version_id"],
                                    previous_champion=deploy.output["champion"], reason=rollout.output["reason"],
                                    **KEEPER, notifier=notifier)
        rollback = RollbackOperator(task_id="rollback", trigger_rule="all_done", version_id=register.output["version_id"],
                                    decision=rollout.output, deployed=deploy.output, health_check=health_check.output,
                                    **KEEPER, notifier=notifier)
    dbt_build >> extract >> preprocess >> split >> train >> evaluate >> decide >> register >> deploy >> health_check >> rollout
    rollout >> [finalize, rollback]
'''

HAND_WRITTEN_HEADER = '''
from datetime import datetime, timedelta, timezone
from airflow.sdk import DAG, TaskGroup
from airflow_mlprovider.notifications.lifecycle import LifecycleNotifier
from airflow_mlprovider.operators.base import run_key
from airflow_mlprovider.operators.data import ExtractOperator, PreprocessOperator, SplitOperator
from airflow_mlprovider.operators.dbt import DbtBuildOperator
from airflow_mlprovider.operators.train import TrainOperator
from airflow_mlprovider.operators.evaluate import EvaluateOperator, DecideOperator
from airflow_mlprovider.operators.register import RegisterOperator
from airflow_mlprovider.operators.serving import DeployOperator, HealthCheckOperator, FinalizeOperator, RollbackOperator
from airflow_mlprovider.operators.rollout import RolloutOperator
DEFAULT_ARGS = dict(owner={owner!r}, retries={retries!r}, retry_delay=timedelta(seconds={retry_delay!r}),
                    retry_exponential_backoff=True, max_retry_delay=timedelta(seconds={max_retry_delay!r}),
                    execution_timeout=timedelta(hours=2))
'''


def _measure(folder: Path, repeat: int) -> tuple[float, int]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if result["errors"]:
            raise SystemExit(f"import errors in {folder}: {result['errors']}")
        runs.append(result["seconds"])
    return statistics.median(runs), result["dags"]


def _spec_folder(tmp: Path, spec_path: Path, n: int) -> tuple[Path, str]:
    """N renamed copies of the spec, with the files it points at and the defaults, plus the loader."""
    folder = tmp / "specs"
    shutil.copytree(spec_path.parent, folder, ignore=shutil.ignore_patterns("*.model.yaml", "__pycache__"))
    text = spec_path.read_text()
    model = re.search(r"^model:\s*(\S+)", text, re.M).group(1)
    for i in range(n):
        (folder / f"{model}_{i:04d}.model.yaml").write_text(re.sub(r"^model:.*$", f"model: {model}_{i:04d}", text, count=1, flags=re.M))
    return folder, model


def _hand_written(tmp: Path, folder: Path, model: str, n: int, one_file: bool) -> Path:
    sys.path.insert(0, str(ROOT))
    from airflow_mlprovider.factory.builder import _doc_md  # the same doc text the factory renders
    from airflow_mlprovider.spec import load_spec_file

    out = tmp / ("hand_one_file" if one_file else "hand_per_file")
    out.mkdir()
    spec = load_spec_file(folder / f"{model}_0000.model.yaml")
    header = HAND_WRITTEN_HEADER.format(
        owner=spec.owner, retries=spec.default_args.retries, retry_delay=spec.default_args.retry_delay_s,
        max_retry_delay=spec.default_args.max_retry_delay_s,
    )

    def body(i: int) -> str:
        name = f"{model}_{i:04d}"
        registry = f"{spec.artifact_root}/{name}"
        keeper = {"model": name, "registry_uri": registry, "request_schema": spec.code.request_schema,
                  "response_schema": spec.code.response_schema, "endpoint": spec.serving.endpoint}
        return f"KEEPER = {keeper!r}\n" + HAND_WRITTEN_DAG.format(
            dag_id=name, description=spec.description, schedule=spec.schedule, start_date=spec.start_date,
            catchup=spec.catchup, max_active_runs=spec.max_active_runs, tags=["mlprovider", *spec.tags],
            doc=_doc_md(spec), run=f"{registry}/runs/{{{{ run_id | run_key }}}}", dbt_project=spec.data.dbt.project,
            dbt_select=spec.data.dbt.select, duckdb=spec.warehouse.path, sql=spec.data.sql,
            sql_params=spec.data.params, module=spec.code.module, model_params=spec.code.params,
            split_by=spec.data.split.by, split_column=spec.data.split.column, max_runtime=spec.train.max_runtime_s,
            train_timeout=spec.train.max_runtime_s + 600, registry=registry, label=spec.evaluate.label,
            metric=spec.evaluate.metric, response_schema=spec.code.response_schema,
            request_schema=spec.code.request_schema, min_relative=spec.promote.min_relative_improvement,
            endpoint=spec.serving.endpoint, rollout_policy=spec.raw.get("rollout", {}),
            rollout_timeout=spec.rollout.timeout_s + 900,
        )

    if one_file:
        (out / "all_dags.py").write_text(header + "".join(body(i) for i in range(n)))
    else:
        for i in range(n):
            (out / f"dag_{i:04d}.py").write_text(header + body(i))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spec", default=str(ROOT / "dag_specs" / "demand_forecast.model.yaml"))
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as tmp_name:
        tmp = Path(tmp_name)
        folder, model = _spec_folder(tmp, Path(args.spec).resolve(), args.n)
        shutil.copy(ROOT / "dag_specs" / "mlprovider_dags.py", folder / "mlprovider_dags.py")
        spec_s, spec_dags = _measure(folder, args.repeat)
        rows = [("YAML specs + factory loader", spec_s, spec_dags)]
        for one_file, label in ((False, "hand-written, one .py per DAG"), (True, "hand-written, one .py with all DAGs")):
            s, d = _measure(_hand_written(tmp, folder, model, args.n, one_file), args.repeat)
            rows.append((label, s, d))
    print(f"DagBag load time, N = {args.n} DAGs of {Path(args.spec).name} (median of {args.repeat} fresh processes)")
    for label, s, d in rows:
        print(f"  {label:<38} {s:7.2f} s  {d:4d} DAGs  {1000 * s / max(d, 1):6.2f} ms/DAG  ratio {s / rows[1][1]:.2f}x / {s / rows[2][1]:.2f}x")
    worst = spec_s / min(rows[1][1], rows[2][1])
    print(f"goal: specs <= {GOAL_RATIO}x hand-written (vs the faster hand-written layout): {worst:.2f}x "
          + ("PASS" if worst <= GOAL_RATIO else "FAIL"))


if __name__ == "__main__":
    main()
