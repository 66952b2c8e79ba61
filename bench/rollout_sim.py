"""Rollout benchmark: decide() on families of simulated traffic, each figure printed with its goal and a verdict.

    python bench/rollout_sim.py [--quick] [--rollouts N] [--seed 1] [--workers 2] [--family NAME ...]

Every rollout calls the real decide() every check_interval with the window's counts, as the trigger does.
Policy = the spec's rollout defaults (plus the guardrail under test in the guardrail families). Families:

- tuned: 100 req/s, champion 1 % 5xx; candidates 1 %, 1.5 %, 3 % (and SageMaker-style linear shifting)
- doubling: 5xx or 4xx doubled at base rates 0.05 %..5 % (100 req/s); healthy candidates at the same rates
- low-traffic: 0.1-1 req/s in total, healthy and doubled candidates, watched for 12 hours
- traffic-outage: no traffic at all for 1-3 hours during the first step
- tolerance: max_error_rate_increase 0.2-1 points, champion at 0 %, 0.1 %, 1 %, 5 % 5xx: healthy, at the tolerance,
  1.5x the tolerated rate; a shared outage at the last partial step
- shared-outage: both variants at 20 % 5xx for 2 minutes, or 50 % for 5 minutes, from the start of each partial
  step (the last one decides the rollout: there is no judged 100 % step)
- load: load-dependent regressions, healthy at 5 % and worse from 25 % or 50 % on
- policies: other step lists (10/50/100, 1/2/5/10/25/50/100), a good and a 1.5x candidate
- prediction: mean shift of 0 and 0.5 standard deviations at several scales (mean 0, a mean 10^4 x the
  spread, class probabilities), guardrail prediction_shift 0.5
- latency: the candidate's latencies x1 and x3 (two latency shapes), guardrail latency_p99_ratio 1.5
- all-checks: a healthy candidate with 5xx, 4xx, latencies and predictions, both guardrails on
- budget (printed last): the false rollbacks of every healthy row together against the significance

Every rate is printed with its Monte Carlo standard error (binomial; the median's by bootstrap). Verdicts: PASS
(the figure meets its goal), NOISE (it misses by at most NOISE_SE standard errors: not told apart from the goal
at this number of rollouts; run more), FAIL (it misses by more). A healthy row also says which check each false
rollback is blamed on.
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from airflow_mlprovider.rollout import decision
from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.sequential import wald_expected_sample_size
from airflow_mlprovider.rollout.simulator import RolloutOutcome, Scenario, simulate_linear_baseline, simulate_rollout
from airflow_mlprovider.spec.model import Guardrails, Rollout

ALPHA, BETA = 0.01, 0.05  # for the reference SPRT's expected sample size
BASE_RATES = (0.0005, 0.002, 0.01, 0.05)
HOUR = 3600.0


@dataclass(frozen=True)
class Goal:
    """A figure of summarize() that must stay at most (<=) or at least (>=) a threshold."""

    figure: str  # rollback_rate, advanced_rate, minutes_to_100, req_mean
    op: str
    threshold: float | None  # None: 1.5 x Wald's SPRT expected sample size for the row's pair


def at_most(figure: str, threshold: float | None = None) -> Goal:
    return Goal(figure, "<=", threshold)


def at_least(figure: str, threshold: float) -> Goal:
    return Goal(figure, ">=", threshold)


FALSE_1 = at_most("rollback_rate", 0.01)
FALSE_2 = at_most("rollback_rate", 0.02)
CAUGHT_95 = at_least("rollback_rate", 0.95)
WITHIN_SPRT = at_most("req_mean")


@dataclass(frozen=True)
class Row:
    """One simulated population: a scenario under a policy, and the goals its figures must meet."""

    family: str
    label: str
    scenario: Scenario
    goals: tuple[Goal, ...]
    guardrails: Guardrails = field(default_factory=Guardrails)
    tolerance: float = 0.0  # the policy's max_error_rate_increase
    steps: tuple[int, ...] | None = None  # the policy's steps (None: the spec's default)
    sprt: tuple[float, float] | None = None  # (p0, p1) for the Wald reference
    rollouts: float = 1.0  # share of --rollouts
    baseline: bool = False


def rows() -> list[Row]:
    out = [
        Row("tuned", "good 1% -> 1%", Scenario(), (at_most("rollback_rate", 0.0075), at_most("minutes_to_100", 8.8)), rollouts=4, baseline=True),
        Row("tuned", "slightly bad 1% -> 1.5%", Scenario(candidate_5xx=0.015), (at_least("rollback_rate", 0.977), at_most("req_mean", 5724)),
            sprt=(0.01, 0.015), rollouts=4, baseline=True),
        Row("tuned", "bad 1% -> 3%", Scenario(candidate_5xx=0.03), (at_least("rollback_rate", 1.0), at_most("req_mean", 476)),
            sprt=(0.01, 0.03), rollouts=4, baseline=True),
    ]
    for cls in ("5xx", "4xx"):
        for base in BASE_RATES:
            rates = {f"champion_{cls}": base, f"candidate_{cls}": base}
            if cls == "4xx":
                rates.update(champion_5xx=0.0, candidate_5xx=0.0)
            healthy = Scenario(**rates, horizon_s=8 * HOUR)
            share = 0.2 if base < 0.001 else 1.0  # the rarest rates take hours per rollout
            out.append(Row("doubling", f"{cls} {base:.2%} healthy", healthy, (FALSE_1,), rollouts=share))
            out.append(Row("doubling", f"{cls} {base:.2%} -> {2 * base:.2%}",
                           replace(healthy, **{f"candidate_{cls}": 2 * base}), (CAUGHT_95, WITHIN_SPRT),
                           sprt=(base, 2 * base), rollouts=share))
    for rate in (0.1, 0.3, 1.0):
        low = Scenario(requests_per_s=rate, horizon_s=12 * HOUR)
        out.append(Row("low-traffic", f"{rate:g} req/s healthy", low, (FALSE_2,), rollouts=0.05))
        out.append(Row("low-traffic", f"{rate:g} req/s 1% -> 2%", replace(low, candidate_5xx=0.02),
                       (at_most("advanced_rate", 0.05),), rollouts=0.05))
    for hours in (1, 3):
        gap = Scenario(traffic_gaps=((120.0, 120.0 + hours * HOUR),), horizon_s=(hours + 6) * HOUR)
        out.append(Row("traffic-outage", f"{hours}h without traffic, healthy", gap, (FALSE_2,), rollouts=0.25))
        out.append(Row("traffic-outage", f"{hours}h without traffic, 1% -> 2%", replace(gap, candidate_5xx=0.02),
                       (CAUGHT_95,), rollouts=0.25))
    for step in range(3):
        out.append(Row("shared-outage", f"20% 5xx for 2 min from step {step}", Scenario(outage_step=step),
                       (FALSE_2,), rollouts=1.0))
        out.append(Row("shared-outage", f"50% 5xx for 5 min from step {step}",
                       Scenario(outage_step=step, outage_s=300.0, outage_rate=0.5), (FALSE_2,), rollouts=0.5))
    # Load-dependent regressions: healthy at the first steps, worse once the candidate takes more traffic.
    for step, rate in ((1, 0.02), (2, 0.02), (2, 0.03)):
        out.append(Row("load", f"1% until {Rollout().steps[step]}%, then {rate:.1%}",
                       Scenario(worse_from_step=step, worse_5xx=rate, horizon_s=6 * HOUR), (CAUGHT_95,), rollouts=0.5))
    # Other step lists: the bars follow the weights (RolloutPolicy.acceptance_bar), whatever the user chose.
    for steps in ((10, 50, 100), (1, 2, 5, 10, 25, 50, 100)):
        listed = "/".join(map(str, steps))
        out.append(Row("policies", f"steps {listed}, good 1% -> 1%", Scenario(horizon_s=6 * HOUR), (FALSE_1,),
                       steps=steps, rollouts=1.0))
        out.append(Row("policies", f"steps {listed}, 1% -> 1.5%", Scenario(candidate_5xx=0.015, horizon_s=6 * HOUR),
                       (CAUGHT_95,), steps=steps, rollouts=0.5))
    # The null is "at most the champion's rate + the tolerance": error-free, rare and frequent champion errors.
    for tolerance, champion_rate in ((0.01, 0.0), (0.01, 0.01), (0.002, 0.001), (0.005, 0.05)):
        tol = f"{tolerance:.1%} tolerance"
        healthy = Scenario(champion_5xx=champion_rate, candidate_5xx=champion_rate, horizon_s=4 * HOUR)
        at_it, worse = champion_rate + tolerance, 1.5 * (champion_rate + tolerance)  # worse: the detectable increase
        out.append(Row("tolerance", f"{tol}, {champion_rate:.1%} -> {champion_rate:.1%}", healthy,
                       (FALSE_1,), tolerance=tolerance, rollouts=0.3))
        out.append(Row("tolerance", f"{tol}, {champion_rate:.1%} -> {at_it:.1%} (at it)",
                       replace(healthy, candidate_5xx=at_it), (FALSE_1,), tolerance=tolerance, rollouts=0.3))
        out.append(Row("tolerance", f"{tol}, {champion_rate:.1%} -> {worse:.2%} (1.5x tolerated)",
                       replace(healthy, candidate_5xx=worse), (CAUGHT_95,), tolerance=tolerance, rollouts=0.3))
    out.append(Row("tolerance", "1.0% tolerance, 20% 5xx for 2 min from the last partial step",
                   Scenario(outage_step=2), (FALSE_2,), tolerance=0.01, rollouts=0.3))
    prediction = Guardrails(prediction_shift=0.5)
    for kind, mean, sd in (("normal", 0.0, 1.0), ("normal", 1e4, 1.0), ("probability", 0.2, 0.15)):
        scale = f"{kind} mean {mean:g} sd {sd:g}"
        shifting = Scenario(prediction=kind, prediction_mean=mean, prediction_sd=sd)
        out.append(Row("prediction", f"{scale}, no shift", shifting, (FALSE_1,), prediction, rollouts=0.5))
        out.append(Row("prediction", f"{scale}, shift 0.5 sd", replace(shifting, prediction_shift_sd=0.5),
                       (CAUGHT_95, at_most("req_mean", 3000)), prediction, rollouts=0.5))
    latency = Guardrails(latency_p99_ratio=1.5)
    for sigma in (0.3, 1.0):
        slow = Scenario(latency_median_ms=20.0, latency_sigma=sigma)
        out.append(Row("latency", f"log-sd {sigma:g}, 1x", slow, (FALSE_1,), latency, rollouts=0.5))
        out.append(Row("latency", f"log-sd {sigma:g}, 3x", replace(slow, latency_factor=3.0), (at_least("rollback_rate", 0.99),),
                       latency, rollouts=0.25))
    every_check = Scenario(champion_4xx=0.005, candidate_4xx=0.005, prediction="probability", prediction_mean=0.2,
                           prediction_sd=0.15, latency_median_ms=20.0, latency_sigma=0.5)
    out.append(Row("all-checks", "healthy: 5xx 1%, 4xx 0.5%, latency 1x, no shift", every_check, (FALSE_1,),
                   Guardrails(latency_p99_ratio=1.5, prediction_shift=0.5), rollouts=1.0))
    return out


def run_row(row: Row, rollouts: int, seed: int) -> tuple[dict[str, float], dict[str, float] | None]:
    steps = {} if row.steps is None else {"steps": row.steps}
    policy = RolloutPolicy.from_spec(Rollout(guardrails=row.guardrails, max_error_rate_increase=row.tolerance, **steps))
    rng = np.random.default_rng(seed)
    outcomes = [simulate_rollout(policy, row.scenario, rng) for _ in range(rollouts)]
    baseline = None
    if row.baseline:
        s = row.scenario
        baseline = summarize([simulate_linear_baseline(s.champion_5xx, s.candidate_5xx, s.requests_per_s, rng)
                              for _ in range(rollouts)], rng)
    return summarize(outcomes, rng), baseline


def rate_se(k: float, n: float) -> float:
    """Monte Carlo standard error of a rate of k in n, with Laplace's (k+1)/(n+2) so that 0 of n or n of n
    does not read as certain."""
    p = (k + 1) / (n + 2)
    return math.sqrt(p * (1 - p) / n)


def summarize(outcomes: list[RolloutOutcome], rng: np.random.Generator) -> dict[str, Any]:
    n = len(outcomes)
    back = [o for o in outcomes if o.rolled_back]
    done = [o for o in outcomes if o.action == "complete"]
    waiting = [o for o in outcomes if o.action == "wait"]
    # advanced: ever held a step above the first (a retreat later does not undo it), or completed
    advanced = sum(o.action == "complete" or o.highest_step > 0 for o in outcomes if not o.rolled_back)
    requests = np.array([o.candidate_requests for o in back]) if back else np.array([np.nan])
    estimates = [o.expected_wait_s for o in waiting if o.expected_wait_s is not None]
    minutes = np.array([o.duration_s for o in done]) / 60
    median_se = math.nan
    if len(minutes) > 1:  # bootstrap: the median has no simple formula
        medians = np.median(rng.choice(minutes, (200, len(minutes))), axis=1)
        median_se = float(np.std(medians))
    blamed: dict[str, int] = {}
    for o in back:
        blamed[o.check or "?"] = blamed.get(o.check or "?", 0) + 1
    return {
        "n": n,
        "rollbacks": len(back),
        "rollback_rate": len(back) / n,
        "rollback_se": rate_se(len(back), n),
        "advanced_rate": advanced / n,
        "advanced_se": rate_se(advanced, n),
        "waiting_rate": len(waiting) / n,
        "retreat_rate": sum(o.retreats > 0 for o in outcomes) / n,
        "req_mean": float(np.mean(requests)),
        "req_se": float(np.std(requests) / np.sqrt(len(requests))),
        "minutes_to_100": float(np.median(minutes)) if len(minutes) else math.nan,
        "minutes_se": median_se,
        "estimate_h": float(np.median(estimates)) / HOUR if estimates else math.nan,
        "blamed": blamed,
    }


SE = {"rollback_rate": "rollback_se", "advanced_rate": "advanced_se", "minutes_to_100": "minutes_se",
      "req_mean": "req_se"}
#: a figure that misses its goal by at most this many standard errors is not told apart from it at this
#: number of rollouts (verdict NOISE: run more rollouts); beyond it the miss is real (FAIL)
NOISE_SE = 2.0


def verdict(value: float, se: float, op: str, threshold: float) -> str:
    """PASS when the figure meets the goal; NOISE when it misses by at most NOISE_SE standard errors; FAIL."""
    miss = value - threshold if op == "<=" else threshold - value
    if miss <= 1e-12:
        return "PASS"
    return "NOISE" if math.isfinite(se) and miss <= NOISE_SE * se else "FAIL"


def judge(g: Goal, r: dict[str, Any], sprt_bound: float | None) -> tuple[str, str]:
    """The figure a goal is about, with its Monte Carlo standard error and goal, and the verdict."""
    figure, op = g.figure, g.op
    threshold = sprt_bound if g.threshold is None else g.threshold
    value, se = r[figure], r[SE[figure]]
    if figure.endswith("_rate"):
        shown = f"{value:.2%} (se {se:.2%}; goal {op} {threshold:.2%})"
    elif figure == "minutes_to_100":
        shown = f"{value:.2f} min to 100% (se {se:.2f}; goal {op} {threshold:g})"
    else:
        shown = f"{value:,.0f} req (se {se:,.0f}; goal {op} {threshold:,.0f}{' = 1.5 x SPRT' if g.threshold is None else ''})"
    words = {"rollback_rate": "caught" if op == ">=" else "rolled back", "advanced_rate": "advanced",
             "minutes_to_100": "median", "req_mean": "mean"}[figure]
    if figure == "advanced_rate":
        words = f"caught {r['rollback_rate']:.1%}, waiting {r['waiting_rate']:.1%}, advanced"
    return f"{words} {shown}", verdict(value, se, op, threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=1000, help="rollouts per row (rows run a share of it)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rollouts: a smoke run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--family", nargs="*", help="only these families")
    args = parser.parse_args()
    total = args.rollouts // 10 if args.quick else args.rollouts
    selected = [r for r in rows() if not args.family or r.family in args.family]

    print(f"policy (spec defaults): {RolloutPolicy.from_spec(Rollout())}")
    print(f"false-rollback budget (significance shares): {decision.check_shares(RolloutPolicy.from_spec(Rollout()))}"
          f" without guardrails; each enabled guardrail takes {decision.GUARDRAIL_SHARE:g}")
    print(f"{total} rollouts per row x the row's share\n")
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_row, row, max(20, round(total * row.rollouts)), args.seed + i)
                   for i, row in enumerate(selected)]
        results = [f.result() for f in futures]

    verdicts: dict[str, int] = {"PASS": 0, "NOISE": 0, "FAIL": 0}
    family = None
    healthy = [0, 0]  # false rollbacks and rollouts over every row with a false-rollback goal
    for row, (r, baseline) in zip(selected, results):
        if row.family != family:
            family = row.family
            print(f"[{family}]")
        bound = 1.5 * wald_expected_sample_size(*row.sprt, ALPHA, BETA) if row.sprt else None
        for g in row.goals:
            text, outcome = judge(g, r, bound)
            verdicts[outcome] += 1
            print(f"  {outcome:<5} {row.label:<44} {text}   [n={r['n']}]")
        if any(g.figure == "rollback_rate" and g.op == "<=" for g in row.goals):
            healthy[0] += r["rollbacks"]
            healthy[1] += r["n"]
            if r["blamed"]:
                print(f"        {'':<44} rolled back by: " + ", ".join(f"{k} {v}" for k, v in sorted(r["blamed"].items())))
        if r["retreat_rate"]:
            print(f"        {'':<44} went back a step at least once: {r['retreat_rate']:.1%}")
        if math.isfinite(r["estimate_h"]):
            print(f"        {'':<44} still waiting: {r['waiting_rate']:.0%}, median estimate of the time still "
                  f"needed {r['estimate_h']:.1f} h")
        if baseline:
            print(f"        {'':<44} linear shifting baseline: rolled back {baseline['rollback_rate']:.1%}, mean "
                  f"{baseline['req_mean']:,.0f} req, {baseline['minutes_to_100']:.0f} min to 100%")
    if healthy[1]:
        significance = RolloutPolicy.from_spec(Rollout()).significance
        rate, se = healthy[0] / healthy[1], rate_se(*healthy)
        outcome = verdict(rate, se, "<=", significance)
        verdicts[outcome] += 1
        print(f"[budget]\n  {outcome:<5} {'every healthy row together':<44} rolled back {rate:.2%} (se {se:.2%}; "
              f"goal <= significance {significance:.0%}: every check, every step)   [n={healthy[1]}]")
    print(f"\n{verdicts['FAIL']} goal(s) failed, {verdicts['NOISE']} within {NOISE_SE:g} standard errors of their goal "
          f"(undecided at this number of rollouts), {verdicts['PASS']} passed; "
          f"{sum(r['n'] for r, _ in results):,.0f} simulated rollouts in {time.perf_counter() - started:.0f} s")

if __name__ == "__main__":
    main()
