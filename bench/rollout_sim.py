"""Rollout benchmark: the sequential decide() vs linear traffic shifting with an alarm, on simulated traffic.

    python bench/rollout_sim.py [--rollouts 4000] [--seed 1] [--workers 2]

Policy = the spec's rollout defaults. Traffic: 100 req/s, Poisson arrivals, champion 5xx rate 1 %.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.sequential import wald_expected_sample_size
from airflow_mlprovider.rollout.simulator import RolloutOutcome, simulate_linear_baseline, simulate_rollout
from airflow_mlprovider.spec.model import Rollout

REQUESTS_PER_S = 100.0
CHAMPION_RATE = 0.01
SCENARIOS = {"good": 0.01, "slightly bad": 0.015, "bad": 0.03}
ALPHA, BETA = 0.01, 0.05  # for the reference SPRT's expected sample size


def run_batch(method: str, candidate_rate: float, rollouts: int, seed: int) -> list[RolloutOutcome]:
    rng = np.random.default_rng(seed)
    if method == "sequential":
        policy = RolloutPolicy.from_spec(Rollout())
        return [simulate_rollout(policy, CHAMPION_RATE, candidate_rate, REQUESTS_PER_S, rng) for _ in range(rollouts)]
    return [simulate_linear_baseline(CHAMPION_RATE, candidate_rate, REQUESTS_PER_S, rng) for _ in range(rollouts)]


def summarize(outcomes: list[RolloutOutcome]) -> dict[str, float]:
    back = [o for o in outcomes if o.rolled_back]
    done = [o for o in outcomes if not o.rolled_back]
    requests = np.array([o.candidate_requests for o in back]) if back else np.array([np.nan])
    errors = np.array([o.candidate_errors for o in back]) if back else np.array([np.nan])
    return {
        "rollback_rate": len(back) / len(outcomes),
        "req_mean": float(np.mean(requests)),
        "req_se": float(np.std(requests) / np.sqrt(len(requests))),
        "req_median": float(np.median(requests)),
        "req_p95": float(np.percentile(requests, 95)),
        "err_mean": float(np.mean(errors)),
        "err_median": float(np.median(errors)),
        "err_p95": float(np.percentile(errors, 95)),
        "minutes_to_100": float(np.median([o.duration_s for o in done])) / 60 if done else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # The goals are on means: with 1,000 rollouts the 3 % row's mean still moves by about +-10 requests.
    parser.add_argument("--rollouts", type=int, default=4000, help="rollouts per scenario and method")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    policy = RolloutPolicy.from_spec(Rollout())
    print(f"policy (spec defaults): {policy}")
    print(f"traffic {REQUESTS_PER_S:.0f} req/s, champion 5xx {CHAMPION_RATE:.1%}, {args.rollouts} rollouts per row\n")
    started = time.perf_counter()
    jobs = [(m, name) for name in SCENARIOS for m in ("sequential", "baseline")]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {
            job: pool.submit(run_batch, job[0], SCENARIOS[job[1]], args.rollouts, args.seed + i)
            for i, job in enumerate(jobs)
        }
        results = {job: summarize(f.result()) for job, f in futures.items()}

    header = (f"{'candidate':<25}{'method':<12}{'rolled back':>12}{'req served before rollback':>30}"
              f"{'errors served':>22}{'median min to 100%':>20}")
    print(header)
    print(f"{'':<49}{'mean / median / p95':>30}{'mean / median / p95':>22}")
    print("-" * len(header))
    for name, rate in SCENARIOS.items():
        for method in ("sequential", "baseline"):
            r = results[(method, name)]
            print(f"{f'{name} ({rate:.1%} 5xx)':<25}{method:<12}{r['rollback_rate']:>11.1%} "
                  f"{r['req_mean']:>11,.0f} / {r['req_median']:>6,.0f} / {r['req_p95']:>7,.0f}"
                  f"{r['err_mean']:>9,.1f} / {r['err_median']:>4,.0f} / {r['err_p95']:>4,.0f}"
                  f"{r['minutes_to_100']:>20.1f}")

    asn = {name: wald_expected_sample_size(CHAMPION_RATE, SCENARIOS[name], ALPHA, BETA) for name in ("slightly bad", "bad")}
    print("\nreference: Wald SPRT expected sample size, one-sample Bernoulli p0 = 1 % vs p1, alpha 1 %, beta 5 %:")
    for name, n in asn.items():
        print(f"  {name} ({SCENARIOS[name]:.1%}): {n:,.0f} requests")

    seq = {name: results[("sequential", name)] for name in SCENARIOS}
    base_minutes = results[("baseline", "good")]["minutes_to_100"]
    goals = [
        ("good candidates rolled back <= 1 %", f"{seq['good']['rollback_rate']:.2%}", seq["good"]["rollback_rate"] <= 0.01),
        *[
            (f"{name} candidate served <= 1.5 x SPRT bound ({1.5 * asn[name]:,.0f}) before rollback (mean)",
             f"{seq[name]['req_mean']:,.0f} (standard error {seq[name]['req_se']:,.0f})",
             seq[name]["req_mean"] <= 1.5 * asn[name])
            for name in ("bad", "slightly bad")
        ],
        ("slightly bad candidates caught >= 95 %", f"{seq['slightly bad']['rollback_rate']:.1%}",
         seq["slightly bad"]["rollback_rate"] >= 0.95),
        (f"good candidates at 100 % in <= half the baseline's median ({base_minutes / 2:.1f} min)",
         f"{seq['good']['minutes_to_100']:.1f} min", seq["good"]["minutes_to_100"] <= base_minutes / 2),
    ]
    print("\ngoals:")
    for text, value, ok in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}: {value}")
    print(f"\n{len(jobs) * args.rollouts:,} simulated rollouts in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
