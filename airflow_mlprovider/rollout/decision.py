"""decide(): one check of a rollout, from the window's counts to advance / retreat / wait / rollback / complete."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from airflow_mlprovider.rollout import guardrails, planning, sequential
from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.state import RolloutState

# Error classes judged, with their share of the significance: the rollback statistic is the weighted mixture
# of every check's statistic, so the chance of a false rollback stays alpha in total. A doubling of either
# class must be caught as fast, so they share it equally (a class without errors lends its share to the
# others, see sequential.reallocate).
ERROR_CLASSES: dict[str, float] = {"5xx": 0.5, "4xx": 0.5}
# Each enabled guardrail (latency, prediction) and the load check (a policy with a later partial step, judged
# on that step's own windows) take this share of the significance from the error classes.
GUARDRAIL_SHARE = 0.1
_FIELDS = ("requests", "errors_5xx", "errors_4xx")


@dataclass(frozen=True)
class Decision:
    """What to do now, the candidate weight to set, why (a sentence with the numbers), and the state to carry."""

    action: Literal["advance", "retreat", "wait", "rollback", "complete"]
    weight: float
    reason: str
    stats: dict
    state: RolloutState


@dataclass(frozen=True)
class _Counts:
    requests: int
    errors: dict[str, int]

    @classmethod
    def of(cls, counts: VariantCounts) -> _Counts:
        """Counts as non-negative integers, errors never above requests."""
        requests = max(0, int(counts.requests))
        errors = {"5xx": counts.errors_5xx, "4xx": counts.errors_4xx}
        return cls(requests, {k: min(requests, max(0, int(v))) for k, v in errors.items()})

    @classmethod
    def load(cls, values: list[int] | None) -> _Counts:
        requests, e5, e4 = values or (0, 0, 0)
        return cls(requests, {"5xx": e5, "4xx": e4})

    def dump(self) -> list[int]:
        return [self.requests, self.errors["5xx"], self.errors["4xx"]]

    def __add__(self, other: _Counts) -> _Counts:
        return _Counts(self.requests + other.requests, {k: v + other.errors[k] for k, v in self.errors.items()})

    def below(self, other: _Counts) -> bool:
        return any(a < b for a, b in zip(self.dump(), other.dump()))

    def json(self) -> dict[str, int]:
        return dict(zip(_FIELDS, self.dump()))


def check_shares(policy: RolloutPolicy) -> dict[str, float]:
    """Every check of the policy with its share of the significance (the false-rollback budget)."""
    extra = [name for name, enabled in (("latency", policy.latency_p99_ratio is not None),
                                        ("prediction", policy.prediction_shift is not None),
                                        ("load", len(policy.steps) > 2)) if enabled]
    errors_share = 1 - GUARDRAIL_SHARE * len(extra)
    return {**{c: s * errors_share for c, s in ERROR_CLASSES.items()}, **{g: GUARDRAIL_SHARE for g in extra}}


def _alternatives(check: str, policy: RolloutPolicy) -> tuple[tuple[float, float], ...]:
    if check == "latency":
        return guardrails.LATENCY_ALTERNATIVES
    if check == "prediction":
        return ((1.0, 0.5), (-1.0, 0.5))  # a shift either way
    if check == "load":  # each error class's alternatives at each step after the first, equally weighted
        slots = (len(policy.steps) - 2) * len(ERROR_CLASSES)
        return tuple((r, w / slots) for _ in range(slots) for r, w in sequential.ALTERNATIVES)
    return sequential.ALTERNATIVES


def _load_slot(policy: RolloutPolicy, index: int, cls: str) -> int:
    """Where the load check keeps step `index`'s (>= 1) evidence of class `cls` in its vector of log-LRs."""
    return ((index - 1) * len(ERROR_CLASSES) + list(ERROR_CLASSES).index(cls)) * len(sequential.ALTERNATIVES)


def decide(
    policy: RolloutPolicy,
    state: RolloutState,
    champion: VariantCounts,
    candidate: VariantCounts,
    now: float,
) -> Decision:
    """Judge one check. champion/candidate are the counts of the current step's window (step_started_at to now).

    The decision is final before the last (100 %) step: passing the last partial step completes the rollout,
    so every decision rests on a same-window comparison with the champion (docs/rollout.md)."""
    ev = state.evidence
    shares = check_shares(policy)
    done_llr = {c: list(ev.get("llr", {}).get(c, [0.0] * len(_alternatives(c, policy)))) for c in shares}
    # An error class's acceptance is the rollback test's own exact evidence of the detectable increase when
    # there is no tolerance; with one, the increments' sequential.tolerance_acceptance_llr summed here.
    summed = [c for c in shares if c not in (*ERROR_CLASSES, "load") or policy.max_error_rate_increase > 0]
    done_acc = {c: float(ev.get("accept", {}).get(c, 0.0)) for c in summed}
    done_cand = _Counts.load(ev.get("done", {}).get("candidate"))
    done_champ = _Counts.load(ev.get("done", {}).get("champion"))
    seen_cand = _Counts.load(ev.get("seen", {}).get("candidate"))
    seen_champ = _Counts.load(ev.get("seen", {}).get("champion"))
    cand, champ = _Counts.of(candidate), _Counts.of(champion)

    step_pct = policy.steps[state.step_index]
    elapsed, step_elapsed = now - state.started_at, now - state.step_started_at
    stats: dict[str, Any] = {
        "step_index": state.step_index,
        "weight": state.weight,
        "elapsed_s": round(elapsed, 3),
        "step_elapsed_s": round(step_elapsed, 3),
        "window": {"candidate": cand.json(), "champion": champ.json()},
    }
    if state.weight >= 100:
        # Only a state written before decisions became final at the last partial step can be here.
        return Decision("complete", 100.0, f"step {step_pct}%: every partial step passed -> complete", stats, state)

    if cand.below(seen_cand) or champ.below(seen_champ):
        # A metrics reset or a late, smaller reading: no data, judged again at the next check.
        note = "counts went backwards since the last check (treated as no data)"
        return _timeout_or_wait(policy, state, stats, note, elapsed, step_elapsed, step_pct, None)

    window = _window_evidence(policy, state.step_index, cand, champ, seen_cand, seen_champ, champion, candidate,
                              shares)
    total_llr = {c: [a + b for a, b in zip(done_llr[c], window[c][0])] for c in shares}
    total_acc = {c: done_acc[c] + window[c][1] if c in summed else total_llr[c][sequential.DETECTABLE_INDEX]
                 for c in shares}
    if "load" in shares:  # what this step's own windows say of a 1.5x increase (0 at the first step)
        total_acc["load"] = max(
            [total_llr["load"][_load_slot(policy, state.step_index, c) + sequential.DETECTABLE_INDEX]
             for c in ERROR_CLASSES] if state.step_index > 0 else [0.0])
    class_log_lr = {c: sequential.log_mixture(total_llr[c], [w for _, w in _alternatives(c, policy)]) for c in shares}
    allocation = ev.get("allocation") or sequential.start_allocation(shares)
    if set(allocation["classes"]) - set(shares):  # a state from a policy with other checks: start afresh
        allocation = sequential.start_allocation(shares)
    pooled_cand, pooled_champ = done_cand + cand, done_champ + champ
    # The capital goes to the checks with data so far, this check included: which classes had errors is part
    # of the margins the exact ratios condition on (each has expectation 1 given them), so the mixture stays a
    # martingale, and the first errors of a class are judged at its full share.
    # With a tolerance the classes' ratios are not conditional on their errors (an error-free window counts):
    # the capital stays where it started.
    tolerant = policy.max_error_rate_increase > 0
    active = [c for c in ERROR_CLASSES if tolerant or pooled_cand.errors[c] + pooled_champ.errors[c] > 0]
    active += [c for c in shares if c not in ERROR_CLASSES and (window[c][2] or any(done_llr[c]))]
    before = ev.get("class_log_lr") or {}
    allocation = sequential.reallocate(allocation, active, {c: before.get(c, 0.0) for c in shares},
                                       float(ev.get("log_lr", 0.0)))
    log_lr = sequential.allocated_log_lr(class_log_lr, shares, allocation)
    rollback_at = math.log(1 / policy.significance)
    # With a tolerance the question is absolute (the candidate's rate against the champion's plus the tolerance):
    # a negligible champion rate says nothing about it, and error-free requests prove it directly.
    negligible = {} if tolerant else {
        c: sequential.negligible_llr(pooled_champ.requests, pooled_champ.errors[c]) for c in ERROR_CLASSES}
    stats.update(
        rollout={"candidate": pooled_cand.json(), "champion": pooled_champ.json()},
        log_lr={c: round(v, 4) for c, v in class_log_lr.items()},
        log_lr_total=round(log_lr, 4),
        rollback_threshold=round(rollback_at, 4),
        acceptance_log_lr={c: round(v, 4) for c, v in total_acc.items()},
        negligible_log_lr={c: round(v, 4) for c, v in negligible.items()},
        guardrails={c: window[c][2] for c in shares if c not in (*ERROR_CLASSES, "load")},
    )
    evidence = {  # this window stays open: the guardrails' evidence of it is recomputed next check
        "llr": {c: total_llr[c] if c in (*ERROR_CLASSES, "load") else done_llr[c] for c in shares},
        # an error class's acceptance sums increments (kept); a guardrail's is its closed windows' (this one redone)
        "accept": {c: total_acc[c] if c in ERROR_CLASSES else done_acc[c] for c in summed},
        "done": {"candidate": done_cand.dump(), "champion": done_champ.dump()},
        "seen": {"candidate": cand.dump(), "champion": champ.dump()},
        "allocation": allocation,
        "class_log_lr": class_log_lr,
        "log_lr": log_lr,
    }
    waiting = replace(state, evidence=evidence)

    if log_lr >= rollback_at:
        worst = max(class_log_lr, key=class_log_lr.get)
        stats["rollback_check"] = worst  # the check with the most evidence: what the rollback is blamed on
        what = _judged(worst, window, pooled_cand, pooled_champ)
        reason = (f"{what}: log-likelihood ratio {log_lr:.1f} >= {rollback_at:.1f} "
                  f"(alpha {policy.significance:.0%}) -> roll back")
        return _rollback(waiting, reason, stats)

    def unproven_at(bar: float, checks: list[str]) -> list[str]:
        # the load check asks only that this step's own windows do not point to an increase
        return [c for c in checks if not _proven(c, total_acc[c], negligible.get(c), 0.0 if c == "load" else bar,
                                                 window[c][2], any(done_llr[c]))]

    index = state.step_index
    carried = {  # the evidence a new step's window starts from: everything judged so far
        "llr": total_llr,
        "accept": {c: total_acc[c] for c in summed},
        "done": {"candidate": pooled_cand.dump(), "champion": pooled_champ.dump()},
        "seen": {"candidate": [0, 0, 0], "champion": [0, 0, 0]},
        "allocation": allocation,
        "class_log_lr": class_log_lr,
        "log_lr": log_lr,
    }
    if index > 0:
        # The weight follows the evidence: a candidate whose evidence no longer earns the step below the one it
        # holds goes back to it (one step of slack, so that a healthy candidate's noise rarely moves it).
        behind = unproven_at(policy.acceptance_bar(index - 1), [c for c in shares if c != "load"])
        if behind:
            back = policy.steps[index - 1]
            reason = (f"step {step_pct}%: {_judged(behind[0], window, pooled_cand, pooled_champ)}: the evidence "
                      f"(acceptance log-LR {total_acc[behind[0]]:.2f} > {policy.acceptance_bar(index - 1):.2f}) no "
                      f"longer earns a step above {back}% -> back to {back}%")
            return Decision("retreat", float(back), reason, stats, _at_step(policy, state, index - 1, now, carried))

    bar = policy.acceptance_bar(index + 1)
    stats["acceptance_threshold"] = round(bar, 4)  # this step's share of log(1 - power): see acceptance_bar
    unproven = unproven_at(bar, list(shares))
    last = index >= len(policy.steps) - 2
    needed = planning.step_min_requests(policy, index)
    if cand.requests >= needed and not unproven:
        passed = (f"step {step_pct}% passed: {_compare('5xx', pooled_cand, pooled_champ)}; the evidence against an "
                  f"increase of {sequential.DETECTABLE_RATIO:g}x or more reached the step's bar ({bar:.2f})")
        if last:
            passed += f" (power {policy.power:.0%})"
            return Decision("complete", 100.0, f"{passed} -> complete", stats, replace(waiting, weight=100.0))
        advanced = _at_step(policy, state, index + 1, now, carried)
        return Decision("advance", advanced.weight, f"{passed} -> advance to {policy.steps[index + 1]}%", stats,
                        advanced)

    expected = _expected_wait_s(policy, needed, unproven, total_acc, negligible, bar, cand, champ,
                                step_elapsed, pooled_champ)
    if cand.requests < needed:
        note = f"{cand.requests:,} of {needed:,} candidate requests needed in this step"
    else:
        note = f"{_judged(unproven[0], window, pooled_cand, pooled_champ)}: not yet enough evidence either way"
    return _timeout_or_wait(policy, waiting, stats, note, elapsed, step_elapsed, step_pct, expected)


def _at_step(policy: RolloutPolicy, state: RolloutState, index: int, now: float, evidence: dict) -> RolloutState:
    """The state of a new window at steps[index] (after an advance or a retreat), carrying the evidence."""
    return RolloutState(step_index=index, weight=float(policy.steps[index]), started_at=state.started_at,
                        step_started_at=now, evidence=evidence)


def _judged(check: str, window: dict[str, tuple[list[float], float, str | None]], cand: _Counts,
            champ: _Counts) -> str:
    """What a check saw, for a reason: an error class's rates over the rollout, a guardrail's summary."""
    if check in ERROR_CLASSES:
        return _compare(check, cand, champ)
    if check == "load":
        return (f"{_compare('5xx', cand, champ)}; the windows at a later step's weight, judged on their own, "
                "point to an increase (a load-dependent regression)")
    return window[check][2] or check


def _window_evidence(
    policy: RolloutPolicy, index: int, cand: _Counts, champ: _Counts, seen_cand: _Counts, seen_champ: _Counts,
    champion: VariantCounts, candidate: VariantCounts, shares: dict[str, float],
) -> dict[str, tuple[list[float], float, str | None]]:
    """Per check: the rollback log-LRs per alternative to add to the evidence, this window's acceptance log-LR
    (a guardrail's; an error class's only with a tolerance, else its acceptance is its rollback evidence) and for
    a guardrail the sentence with its numbers (None while it has too little data to judge).

    The error classes' rollback evidence is that of what was served since the last check (the increment),
    conditioned on the increment's own requests and errors: a product of such ratios is a martingale however
    the traffic share moves within a window. The guardrails' evidence is that of the whole window so far."""
    out: dict[str, tuple[list[float], float, str | None]] = {}
    tolerance = policy.max_error_rate_increase
    new_cand, new_champ = cand.requests - seen_cand.requests, champ.requests - seen_champ.requests
    for c in ERROR_CLASSES:
        # a reading may add errors of requests counted earlier: never more new errors than new requests
        new_cand_errors = min(new_cand, cand.errors[c] - seen_cand.errors[c])
        new_champ_errors = min(new_champ, champ.errors[c] - seen_champ.errors[c])
        rollback = [
            sequential.rollback_llr(new_cand, new_cand_errors, new_champ, new_champ_errors, tolerance, r)
            for r, _ in sequential.ALTERNATIVES
        ]
        accept = 0.0
        if tolerance > 0:
            accept = sequential.tolerance_acceptance_llr(new_cand, new_cand_errors, new_champ, new_champ_errors,
                                                         tolerance)
        out[c] = (rollback, accept, None)
    if "load" in shares:
        # The error classes' evidence again, kept per step after the first: a candidate worse only at a higher
        # weight is judged on that weight's windows, which its healthy windows at a lower weight cannot dilute.
        load = [0.0] * len(_alternatives("load", policy))
        if index > 0:
            for c in ERROR_CLASSES:
                at = _load_slot(policy, index, c)
                load[at:at + len(sequential.ALTERNATIVES)] = out[c][0]
        out["load"] = (load, 0.0, None)
    tests = {"latency": (guardrails.latency_evidence, policy.latency_p99_ratio),
             "prediction": (guardrails.prediction_evidence, policy.prediction_shift)}
    for name, (test, limit) in tests.items():
        if name not in shares:
            continue
        found = test(limit, champion, candidate, policy.min_requests)
        out[name] = ([0.0] * len(_alternatives(name, policy)), 0.0, None) if found is None else (
            found.rollback, found.accept, found.summary)
    return out


def _proven(check: str, acceptance: float, negligible: float | None, bar: float, summary: str | None,
            judged_before: bool) -> bool:
    """Whether a check has earned `bar` (RolloutPolicy.acceptance_bar): its acceptance is at or below it; for an
    error class also when the champion's rate of it is shown negligible to that bar; a guardrail that never had
    data does not hold a step."""
    if acceptance <= bar:
        return True
    if check in ERROR_CLASSES:
        return negligible is not None and negligible <= bar
    return summary is None and not judged_before


def _expected_wait_s(
    policy: RolloutPolicy, needed_requests: int, unproven: list[str], acceptance: dict[str, float], negligible: dict[str, float],
    bar: float, cand: _Counts, champ: _Counts, step_elapsed: float, pooled_champ: _Counts,
) -> float | None:
    """Seconds this step is expected to need at the traffic seen in it, if the candidate is as good as the
    champion; None while no traffic has been seen (nothing to extrapolate from)."""
    if step_elapsed <= 0 or cand.requests == 0:
        return None
    cand_rate, champ_rate = cand.requests / step_elapsed, champ.requests / step_elapsed
    needed = [max(0, needed_requests - cand.requests) / cand_rate]
    for c in unproven:
        if c not in ERROR_CLASSES:
            continue
        rate = sequential.smoothed_rate(pooled_champ.errors[c], pooled_champ.requests)
        share = cand.requests / (cand.requests + champ.requests)
        relative = planning.candidate_requests_to_accept(
            rate, policy.max_error_rate_increase, share, acceptance[c] - bar) / cand_rate
        shown = (planning.champion_requests_to_negligible(rate, negligible[c] - bar) / champ_rate
                 if champ_rate and c in negligible else math.inf)
        needed.append(min(relative, shown))
    wait = max(needed)
    return round(wait, 1) if math.isfinite(wait) else None


def _timeout_or_wait(
    policy: RolloutPolicy,
    state: RolloutState,
    stats: dict[str, Any],
    note: str,
    elapsed: float,
    step_elapsed: float,
    step_pct: int,
    expected_s: float | None,
) -> Decision:
    stats["expected_wait_s"] = expected_s
    limit, which = None, None
    if elapsed >= policy.timeout_s:
        limit, which = f"rollout ran {planning.duration(elapsed)} (timeout {planning.duration(policy.timeout_s)})", "timeout"
    elif step_elapsed >= policy.step_timeout_s:
        limit = (f"step {step_pct}% ran {planning.duration(step_elapsed)} "
                 f"(step_timeout {planning.duration(policy.step_timeout_s)})")
        which = "step_timeout"
    stats["limit_reached"] = limit is not None
    stats["limit"] = which  # "timeout", "step_timeout" or None
    if limit and policy.on_timeout == "rollback":
        stats["rollback_check"] = "limit"
        return _rollback(state, f"{limit} without a decision; {note} -> roll back (on_timeout: rollback)", stats)
    if expected_s is None:
        outlook = "no traffic seen in this step to estimate how long it needs"
    else:
        outlook = f"expects ~{planning.duration(expected_s)} more at the traffic seen"
    if limit:
        return Decision("wait", state.weight, f"{limit} without a decision; {note}; {outlook} -> keep waiting "
                                              "(on_timeout: wait)", stats, state)
    return Decision("wait", state.weight, f"step {step_pct}%: {note}; {outlook} -> wait", stats, state)


def _rollback(state: RolloutState, reason: str, stats: dict[str, Any]) -> Decision:
    return Decision("rollback", 0.0, reason, stats, replace(state, weight=0.0))


def _compare(cls: str, cand: _Counts, champ: _Counts) -> str:
    def rate(c: _Counts) -> str:
        return f"{c.errors[cls] / c.requests:.2%}" if c.requests else "n/a"

    return (f"candidate {cls} {rate(cand)} vs champion {rate(champ)} over {cand.requests:,} vs "
            f"{champ.requests:,} requests")
