"""decide(): one check of a rollout, from the window's counts to advance / wait / rollback / complete."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from airflow_mlprovider.rollout import sequential
from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.rollout.guardrails import guardrail_breach
from airflow_mlprovider.rollout.policy import RolloutPolicy
from airflow_mlprovider.rollout.state import RolloutState

# Error classes judged, with their share of the significance: the rollback statistic is the weighted mixture
# of both classes' statistics, so the chance of a false rollback stays alpha in total. 5xx are the model's
# own failures and get most of it; 4xx move only when the request contract changes.
ERROR_CLASSES: dict[str, float] = {"5xx": 0.8, "4xx": 0.2}
_FIELDS = ("requests", "errors_5xx", "errors_4xx")


@dataclass(frozen=True)
class Decision:
    """What to do now, the candidate weight to set, why (a sentence with the numbers), and the state to carry."""

    action: Literal["advance", "wait", "rollback", "complete"]
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


def decide(
    policy: RolloutPolicy,
    state: RolloutState,
    champion: VariantCounts,
    candidate: VariantCounts,
    now: float,
) -> Decision:
    """Judge one check. champion/candidate are the counts of the current step's window (step_started_at to now)."""
    ev = state.evidence
    done_llr = {c: list(ev.get("llr", {}).get(c, [0.0] * len(sequential.ALTERNATIVES))) for c in ERROR_CLASSES}
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

    if cand.below(seen_cand) or champ.below(seen_champ):
        # A metrics reset or a late, smaller reading: no data, judged again at the next check.
        note = "counts went backwards since the last check (treated as no data)"
        return _timeout_or_wait(policy, state, stats, note, elapsed, step_elapsed, step_pct)

    window_llr = {c: _window_llr(policy, state, cand, champ, done_champ, c) for c in ERROR_CLASSES}
    total_llr = {c: [a + b for a, b in zip(done_llr[c], window_llr[c])] for c in ERROR_CLASSES}
    weights = [w for _, w in sequential.ALTERNATIVES]
    class_log_lr = {c: sequential.log_mixture(total_llr[c], weights) for c in ERROR_CLASSES}
    allocation = ev.get("allocation") or sequential.start_allocation(ERROR_CLASSES)
    log_lr = sequential.allocated_log_lr(class_log_lr, ERROR_CLASSES, allocation)
    rollback_at = math.log(1 / policy.significance)
    accept_at = math.log(1 - policy.power)

    pooled_cand, pooled_champ = done_cand + cand, done_champ + champ
    active = [c for c in ERROR_CLASSES if pooled_cand.errors[c] + pooled_champ.errors[c] > 0]
    allocation = sequential.reallocate(allocation, active, class_log_lr, log_lr)
    acceptance = {c: _acceptance_llr(policy, pooled_cand, pooled_champ, c) for c in ERROR_CLASSES}
    stats.update(
        rollout={"candidate": pooled_cand.json(), "champion": pooled_champ.json()},
        log_lr={c: round(v, 4) for c, v in class_log_lr.items()},
        log_lr_total=round(log_lr, 4),
        rollback_threshold=round(rollback_at, 4),
        acceptance_log_lr={c: None if v is None else round(v, 4) for c, v in acceptance.items()},
        acceptance_threshold=round(accept_at, 4),
    )
    evidence = {  # this window stays open: its counts are remembered, its evidence is recomputed next check
        "llr": done_llr,
        "done": {"candidate": done_cand.dump(), "champion": done_champ.dump()},
        "seen": {"candidate": cand.dump(), "champion": champ.dump()},
        "allocation": allocation,
    }
    waiting = replace(state, evidence=evidence)

    if log_lr >= rollback_at:
        worst = max(class_log_lr, key=class_log_lr.get)
        reason = (f"{_compare(worst, pooled_cand, pooled_champ)}: log-likelihood ratio {log_lr:.1f} >= "
                  f"{rollback_at:.1f} (alpha {policy.significance:.0%}) -> roll back")
        return _rollback(waiting, reason, stats)

    breach = guardrail_breach(policy, champion, candidate)
    if breach:
        return _rollback(waiting, f"{breach} -> roll back", stats)

    unproven = [c for c, v in acceptance.items() if v is None or v > accept_at]
    if cand.requests >= policy.min_requests and not unproven:
        passed = (f"step {step_pct}% passed: {_compare('5xx', pooled_cand, pooled_champ)}; no increase of "
                  f"{sequential.DETECTABLE_RATIO:g}x or more (acceptance log-likelihood ratio "
                  f"{max(acceptance.values()):.1f} <= {accept_at:.1f}, power {policy.power:.0%})")
        if state.step_index == len(policy.steps) - 1:
            return Decision("complete", 100.0, f"{passed} -> complete", stats, replace(waiting, weight=100.0))
        nxt = state.step_index + 1
        advanced = RolloutState(
            step_index=nxt,
            weight=float(policy.steps[nxt]),
            started_at=state.started_at,
            step_started_at=now,
            evidence={
                "llr": total_llr,
                "done": {"candidate": pooled_cand.dump(), "champion": pooled_champ.dump()},
                "seen": {"candidate": [0, 0, 0], "champion": [0, 0, 0]},
                "allocation": allocation,
            },
        )
        return Decision("advance", advanced.weight, f"{passed} -> advance to {policy.steps[nxt]}%", stats, advanced)

    if cand.requests < policy.min_requests:
        note = f"{cand.requests:,} of {policy.min_requests:,} candidate requests needed in this step"
    else:
        note = f"{_compare(unproven[0], pooled_cand, pooled_champ)}: not yet enough evidence either way"
    return _timeout_or_wait(policy, waiting, stats, note, elapsed, step_elapsed, step_pct)


def _window_llr(
    policy: RolloutPolicy, state: RolloutState, cand: _Counts, champ: _Counts, done_champ: _Counts, cls: str
) -> list[float]:
    """This window's log-likelihood ratio per alternative. At 100 % the champion serves nothing, so the
    candidate is compared with the champion's rate over the earlier steps."""
    tolerance = policy.max_error_rate_increase
    if state.weight < 100:
        return [
            sequential.conditional_llr(cand.requests, cand.errors[cls], champ.requests, champ.errors[cls], tolerance, r)
            for r, _ in sequential.ALTERNATIVES
        ]
    if done_champ.requests == 0:
        return [0.0] * len(sequential.ALTERNATIVES)
    reference = sequential.smoothed_rate(done_champ.errors[cls], done_champ.requests)
    return [
        sequential.one_sample_llr(cand.requests, cand.errors[cls], reference, tolerance, r)
        for r, _ in sequential.ALTERNATIVES
    ]


def _acceptance_llr(policy: RolloutPolicy, cand: _Counts, champ: _Counts, cls: str) -> float | None:
    """Evidence (over the whole rollout) that the candidate is not worse by the detectable increase;
    None while the champion has served nothing to compare with."""
    if champ.requests == 0:
        return None
    reference = sequential.smoothed_rate(champ.errors[cls], champ.requests)
    return sequential.acceptance_llr(
        cand.requests, cand.errors[cls], reference, policy.max_error_rate_increase, policy.min_requests
    )


def _timeout_or_wait(
    policy: RolloutPolicy,
    state: RolloutState,
    stats: dict[str, Any],
    note: str,
    elapsed: float,
    step_elapsed: float,
    step_pct: int,
) -> Decision:
    if elapsed >= policy.timeout_s:
        return _rollback(state, f"rollout ran {_duration(elapsed)} (timeout {_duration(policy.timeout_s)}) "
                                f"without a decision; {note} -> roll back", stats)
    if step_elapsed >= policy.step_timeout_s:
        return _rollback(state, f"step {step_pct}% ran {_duration(step_elapsed)} (step_timeout "
                                f"{_duration(policy.step_timeout_s)}) without a decision; {note} -> roll back", stats)
    return Decision("wait", state.weight, f"step {step_pct}%: {note} -> wait", stats, state)


def _rollback(state: RolloutState, reason: str, stats: dict[str, Any]) -> Decision:
    return Decision("rollback", 0.0, reason, stats, replace(state, weight=0.0))


def _compare(cls: str, cand: _Counts, champ: _Counts) -> str:
    def rate(c: _Counts) -> str:
        return f"{c.errors[cls] / c.requests:.2%}" if c.requests else "n/a"

    return (f"candidate {cls} {rate(cand)} vs champion {rate(champ)} over {cand.requests:,} vs "
            f"{champ.requests:,} requests")


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f}m" if seconds >= 120 else f"{seconds:.0f}s"
