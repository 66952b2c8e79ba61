"""Evaluate at scale, and promote on evidence.

Prints, in one run on this machine:
1. rows/s of the per-row path (predict(request), as served) and of the batch path (load_batch) of the
   demand_forecast example model;
2. wall time and peak RSS of evaluating candidate + champion on 100 k and 1 M test rows, each in a fresh
   process that runs exactly what the evaluate task runs (read the Parquet test set, load both artifacts,
   evaluation.compare.evaluate) — goal at 1 M rows: <= 60 s and <= 2 GiB;
3. the promotion rule at promote.confidence 0.95, simulated per metric family: how often a candidate of
   equal true quality is promoted (goal <= 5 %) and how often a truly 1 % better one is, on 1 M rows
   (goal >= 95 %).

    python bench/evaluate_scale.py [--sizes 100000 1000000] [--trials 200] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import NormalDist

ROOT = Path(__file__).resolve().parents[1]
MODEL_MODULE = ROOT / "dag_specs" / "models" / "demand_forecast.py"
RESPONSE_SCHEMA = ROOT / "dag_specs" / "schemas" / "demand_forecast.response.json"
GOAL_SECONDS, GOAL_RSS_GIB = 60.0, 2.0
GOAL_EQUAL_PROMOTED, GOAL_BETTER_PROMOTED = 0.05, 0.95
CONFIDENCE = 0.95


def _log(_: str) -> None:
    """The model's ctx.log stand-in: the bench prints its own figures."""


class _Log:
    info = warning = staticmethod(lambda *args, **kwargs: None)


def train_artifacts(work: Path) -> dict[str, Path]:
    """Champion (100 boosting iterations) and candidate (200) of the example model, as registered artifacts."""
    from airflow_mlprovider.artifacts import import_module_from_path, write_manifest
    from airflow_mlprovider.contract import ModelContext
    from airflow_mlprovider.examples.seed import sales_frame

    module = import_module_from_path(MODEL_MODULE)
    rows = module.preprocess(sales_frame(), ModelContext(model="bench", artifact_dir="", log=_Log()))
    artifacts = {}
    for name, iterations in (("champion", 100), ("candidate", 200)):
        folder = work / name
        (folder / "model").mkdir(parents=True)
        (folder / "code").mkdir()
        shutil.copy(MODEL_MODULE, folder / "code" / MODEL_MODULE.name)
        ctx = ModelContext(model="bench", artifact_dir=str(folder / "model"), params={"max_iter": iterations}, log=_Log())
        module.train(rows, rows.tail(200), ctx)
        write_manifest(folder)
        artifacts[name] = folder
    return artifacts


def write_test_set(path: Path, rows: int) -> None:
    """`rows` test rows shaped like the example's: resampled sales days with jittered prices."""
    import numpy as np

    from airflow_mlprovider.examples.seed import sales_frame

    base = sales_frame()
    rng = np.random.default_rng(rows)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    frame["price"] = np.round(frame["price"] * rng.normal(1, 0.02, rows), 2)
    frame["day"] = frame["day"].astype(str)
    frame.to_parquet(path)


def throughput(artifacts: dict[str, Path], test_path: Path) -> tuple[float, float]:
    """rows/s through predict(request) (one thread, as served) and through predict_batch."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from airflow_mlprovider.evaluation.predictions import load_model, requests_of

    model = load_model(artifacts["candidate"])
    frame = pd.read_parquet(test_path).drop(columns=["units_sold"])
    requests = requests_of(frame.head(500))
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        for request in requests:
            model.predict(request)
        per_row = len(requests) / (time.perf_counter() - started)
    started = time.perf_counter()
    model.predict_batch(frame)
    batch = len(frame) / (time.perf_counter() - started)
    return per_row, batch


CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
import jsonschema, pandas as pd
from airflow_mlprovider.evaluation.compare import EvaluationSettings, evaluate
from airflow_mlprovider.evaluation.predictions import load_model
from airflow_mlprovider.scoring import metric_function
test_path, candidate, champion, schema_path = sys.argv[1:5]
schema = json.load(open(schema_path))
validator = jsonschema.validators.validator_for(schema)(schema)
test = pd.read_parquet(test_path)
settings = EvaluationSettings(label="units_sold", metric="rmse", direction="minimize", prediction_field="prediction",
                              max_rows=5000, request_check_rows=100, confidence=0.95)
result, _, _ = evaluate(test, load_model(candidate), load_model(champion), validator, settings, metric_function("rmse"))
print(json.dumps({"seconds": time.perf_counter() - started, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rows": result["rows"], "comparison": result["comparison"]}))
"""


def evaluate_in_child(test_path: Path, artifacts: dict[str, Path]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(test_path), str(artifacts["candidate"]), str(artifacts["champion"]),
         str(RESPONSE_SCHEMA)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the promotion rule, simulated per metric family -------------------------------------------------------


def _regression(rng, n: int, ratio: float):
    """Errors sharing a per-row difficulty; the candidate's error scale is `ratio` x the champion's."""
    y = rng.normal(100, 20, n)
    shared = rng.normal(0, 8, n)
    return y, y + ratio * (shared + rng.normal(0, 6, n)), y + shared + rng.normal(0, 6, n)


def _scores(rng, n: int, auc_ratio: float, base_auc: float = 0.8):
    """Binary labels with normal scores; the candidate's true AUC is `auc_ratio` x the champion's."""
    norm = NormalDist()
    separation = lambda auc: math.sqrt(2) * norm.inv_cdf(auc)  # noqa: E731 - AUC of N(d,1) vs N(0,1) is Phi(d/sqrt 2)
    y = (rng.random(n) < 0.3).astype(int)
    shared = rng.normal(0, math.sqrt(0.5), n)
    own = lambda: shared + rng.normal(0, math.sqrt(0.5), n)  # noqa: E731 - unit variance, half of it shared
    return y, separation(base_auc * auc_ratio) * y + own(), separation(base_auc) * y + own()


def _labels(rng, n: int, ratio: float, base: float = 0.8, classes: int = 3):
    """Class labels; the candidate's true accuracy is `ratio` x the champion's (errors spread over the others)."""
    import numpy as np

    y = rng.integers(0, classes, n)
    difficulty = rng.random(n)  # shared half the time: both models tend to miss the same hard rows

    def answers(accuracy: float):
        draw = np.where(rng.random(n) < 0.5, difficulty, rng.random(n))
        wrong = (y + rng.integers(1, classes, n)) % classes
        return np.where(draw < accuracy, y, wrong)

    return y, answers(base * ratio), answers(base)


def _class_scores(rng, n: int, auc_ratio: float, base_auc: float = 0.8, classes: int = 3):
    """Per-class scores (a sigmoid of each class's normal score) of 3 classes; the candidate's true one-vs-rest
    AUC of every class is `auc_ratio` x the champion's."""
    import numpy as np

    norm = NormalDist()
    y = rng.integers(0, classes, n)
    onehot = np.eye(classes)[y]
    shared = rng.normal(0, math.sqrt(0.5), (n, classes))

    def scores(auc: float):
        logits = math.sqrt(2) * norm.inv_cdf(auc) * onehot + shared + rng.normal(0, math.sqrt(0.5), (n, classes))
        return 1 / (1 + np.exp(-logits))

    return y, scores(base_auc * auc_ratio), scores(base_auc)


FAMILIES = {
    # metric: (direction, generator(rng, n, ratio) -> y, candidate, champion, ratio of a 1 % better candidate)
    "rmse": ("minimize", _regression, 0.99),
    "mae": ("minimize", _regression, 0.99),
    "roc_auc": ("maximize", _scores, 1.01),
    "accuracy": ("maximize", _labels, 1.01),
    "f1": ("maximize", _labels, 1.01),
    "f1_weighted": ("maximize", _labels, 1.01),
    "roc_auc/ovr3": ("maximize", _class_scores, 1.01),  # macro one-vs-rest over 3 classes
}


def promoted_share(metric: str, n: int, trials: int, better: bool, seed: int) -> float:
    import numpy as np

    from airflow_mlprovider.evaluation.paired import paired_comparison
    from airflow_mlprovider.registry.rules import judge_candidate
    from airflow_mlprovider.spec.model import Promote

    direction, generate, better_ratio = FAMILIES[metric]
    rng = np.random.default_rng(seed)
    policy = Promote(confidence=CONFIDENCE)
    promoted = 0
    for _ in range(trials):
        y, c, h = generate(rng, n, better_ratio if better else 1.0)
        comparison = paired_comparison(metric.split("/")[0], y, c, h, direction=direction, confidence=CONFIDENCE)
        decision = judge_candidate(comparison.candidate, comparison.champion, direction, policy, comparison.to_dict(), n)
        promoted += decision.promote
    return promoted / trials


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--trials", type=int, default=200, help="simulated evaluations per row of the rule table")
    parser.add_argument("--quick", action="store_true", help="100 k rows only, 40 trials")
    args = parser.parse_args()
    sizes, trials = ([100_000], 40) if args.quick else (args.sizes, args.trials)
    failed = False

    with tempfile.TemporaryDirectory(prefix="mlprovider-bench-evaluate-") as tmp:
        work = Path(tmp)
        artifacts = train_artifacts(work)
        print(f"evaluate_scale: demand_forecast example model (HistGradientBoosting), {sys.platform}, "
              f"{__import__('os').cpu_count()} cores")
        tests = {}
        for rows in sizes:
            tests[rows] = work / f"test-{rows}.parquet"
            write_test_set(tests[rows], rows)
        per_row, batch = throughput(artifacts, tests[sizes[0]])
        print(f"\n  per-row predict(request): {per_row:>12,.0f} rows/s   batch predict_batch(frame): {batch:>12,.0f} rows/s"
              f"   ({batch / per_row:,.0f}x)")
        print("\n  test rows   wall s   peak RSS MiB   rows scored   rmse gain [95 % interval]        goal")
        for rows in sizes:
            figures = evaluate_in_child(tests[rows], artifacts)
            cmp = figures["comparison"]
            rss_mib = figures["rss_kib"] / 1024
            goal = ""
            if rows >= 1_000_000:
                ok = figures["seconds"] <= GOAL_SECONDS and rss_mib <= GOAL_RSS_GIB * 1024
                failed |= not ok
                goal = f"<= {GOAL_SECONDS:.0f} s, <= {GOAL_RSS_GIB:.0f} GiB: {_verdict(ok)}"
            per_row_hours = rows / per_row / 3600
            print(f"  {rows:>9,}   {figures['seconds']:>6.1f}   {rss_mib:>12,.0f}   {figures['rows']:>11,}   "
                  f"{cmp['gain']:+.3f} [{cmp['low']:+.3f}, {cmp['high']:+.3f}]   {goal}"
                  f"   (per-row path: ~{per_row_hours:.1f} h a model)")

    big = 1_000_000 if not args.quick else 100_000
    small_trials, big_trials = trials * 5, max(trials // 5, 20)
    print(f"\n  promotion rule at confidence {CONFIDENCE}: share of simulated evaluations that promote "
          f"({small_trials} at 10 k rows, {big_trials} at {big:,} rows per cell)")
    print(f"  metric        equal quality, 10 k   equal quality, {big // 1000:,} k   1 % better, {big // 1000:,} k")
    for i, metric in enumerate(FAMILIES):
        equal_small = promoted_share(metric, 10_000, small_trials, better=False, seed=10 + i)
        equal_big = promoted_share(metric, big, big_trials, better=False, seed=20 + i)
        better_big = promoted_share(metric, big, big_trials, better=True, seed=30 + i)
        # the interval's false-promotion rate does not depend on the row count: judge the pooled trials
        equal = (equal_small * small_trials + equal_big * big_trials) / (small_trials + big_trials)
        ok = equal <= GOAL_EQUAL_PROMOTED and better_big >= GOAL_BETTER_PROMOTED
        failed |= not ok
        print(f"  {metric:<12}  {equal_small:>19.1%}   {equal_big:>19.1%}   {better_big:>16.1%}   "
              f"pooled equal {equal:.1%}: goal <= 5 % and >= 95 %: {_verdict(ok)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
