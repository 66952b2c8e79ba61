"""DagBag load time: N copies of an example spec vs the equivalent hand-written Python DAGs.

Each measurement runs in a fresh interpreter (as the dag-processor parses a file), median of --repeat.
Hand-written = the same DAG (same operators, task groups, arguments) written directly in Python, in two
layouts: one file per DAG, and one file defining all N in a loop.

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
         max_active_runs={max_active_runs!r}, tags={tags!r}, default_args=DEFAULT_ARGS, doc_md={doc!r}) as dag:
    with TaskGroup("data"):
        extract = ExtractOperator(task_id="extract", spec=SPEC, spec_source=SOURCE)
        preprocess = PreprocessOperator(task_id="preprocess", spec=SPEC, spec_source=SOURCE)
        split = SplitOperator(task_id="split", spec=SPEC, spec_source=SOURCE)
    with TaskGroup("train"):
        train = TrainOperator(task_id="train", execution_timeout=timedelta(seconds={train_timeout}), spec=SPEC, spec_source=SOURCE)
    with TaskGroup("evaluate"):
        evaluate = EvaluateOperator(task_id="evaluate", spec=SPEC, spec_source=SOURCE)
        decide = DecideOperator(task_id="decide", spec=SPEC, spec_source=SOURCE)
    with TaskGroup("promote"):
        register = RegisterOperator(task_id="register", spec=SPEC, spec_source=SOURCE)
        deploy = DeployOperator(task_id="deploy", spec=SPEC, spec_source=SOURCE)
        health_check = HealthCheckOperator(task_id="health_check", spec=SPEC, spec_source=SOURCE)
    with TaskGroup("rollout"):
        rollout = RolloutOperator(task_id="rollout", execution_timeout=timedelta(seconds={rollout_timeout}), retries=1, spec=SPEC, spec_source=SOURCE)
        finalize = FinalizeOperator(task_id="finalize", spec=SPEC, spec_source=SOURCE)
        rollback = RollbackOperator(task_id="rollback", trigger_rule="all_done", spec=SPEC, spec_source=SOURCE)
    extract >> preprocess >> split >> train >> evaluate >> decide >> register >> deploy >> health_check >> rollout
    rollout >> [finalize, rollback]
'''

HAND_WRITTEN_HEADER = '''
from datetime import datetime, timedelta, timezone
from airflow.sdk import DAG, TaskGroup
from airflow_mlprovider.operators.data import ExtractOperator, PreprocessOperator, SplitOperator
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
        return (f"SPEC = {json.dumps({**spec.raw, 'model': name})!r}\nSPEC = __import__('json').loads(SPEC)\n"
                f"SOURCE = {str(folder / (name + '.model.yaml'))!r}\n") + HAND_WRITTEN_DAG.format(
            dag_id=name, description=spec.description, schedule=spec.schedule, start_date=spec.start_date,
            catchup=spec.catchup, max_active_runs=spec.max_active_runs, tags=["mlprovider", *spec.tags],
            doc=_doc_md(spec), train_timeout=spec.train.max_runtime_s + 600, rollout_timeout=spec.rollout.timeout_s + 900,
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
