"""The shadow stage's verdict: does a candidate that answered mirrored live requests behave like the champion?

Pure logic (stdlib only). Input: the champion's and the shadow's counts over the stage's window (the same
live requests, mirrored) and their agreement (serving/agreement.py). Three kinds of checks:

- errors (5xx, 4xx) and, with `latency_p99_ratio`, latency: the rollout's own tests (rollout/sequential.py,
  rollout/guardrails.py) on the whole window, judged once (latency needs histograms: CloudWatch has none, so on
  SageMaker the p99s are reported, not judged): the mixture likelihood ratio of "worse" vs "within
  tolerance" has expectation 1 under the null, so reaching 1/(alpha x share) happens with probability at
  most alpha x share (Markov); the shares split alpha over the checks.
- agreement of predictions on the requests both answered 200:
  difference (numeric predictions): mean |candidate - champion| in standard deviations of the champion's
  predictions on those requests, so the limit means the same for a price in dollars or in cents. A champion
  whose predictions do not vary is scaled by |its mean| instead; one that always predicts 0 allows no
  difference at all.
  class: the share of requests with the champion's predicted value.
  These are point estimates over at least min_requests mirrored requests (their standard error is reported).

The verdict waits until the candidate answered min_requests mirrored requests and, where predictions are
compared, until as many were answered 200 by both; past max_duration with fewer answered it fails (a candidate
that was never judged does not get live traffic), with fewer compared it is judged on those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_mlprovider.rollout import guardrails, sequential
from airflow_mlprovider.rollout.counts import VariantCounts
from airflow_mlprovider.serving.agreement import AgreementCounts
from airflow_mlprovider.spec.model import Shadow

#: metrics whose prediction field is a predicted class: compare "auto" compares classes for them
CLASS_METRICS = frozenset({"accuracy", "f1"})


@dataclass(frozen=True)
class ShadowVerdict:
    action: Literal["pass", "fail", "wait"]
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


def comparison(compare: str, metric: str | None) -> str:
    """"difference" or "class": the policy's choice, or for "auto" what the evaluation metric implies."""
    if compare != "auto":
        return compare
    return "class" if metric in CLASS_METRICS else "difference"


def judge(
    policy: Shadow, compare: str, champion: VariantCounts, candidate: VariantCounts,
    agreement: AgreementCounts | None, elapsed_s: float,
) -> ShadowVerdict:
    """The verdict after `elapsed_s` of mirroring; `compare` is "difference" or "class" (see `comparison`).
    `agreement` None: the metrics source cannot see predictions (CloudWatch): errors and latency only."""
    figures: dict[str, Any] = {
        "elapsed_s": round(elapsed_s, 3), "candidate": _counts(candidate), "champion": _counts(champion),
        **({} if agreement is None else {"mirrored": agreement.mirrored, "dropped": agreement.dropped,
                                          "pairs": agreement.pairs}),
    }
    answered = candidate.requests
    # Judged once, when min_requests were answered and, where predictions are compared, settled: compared
    # (answered 200 by both; on SageMaker read from each variant's data capture: sampled, and delivered minutes
    # late) or answered with an error (nothing to compare: the error tests judge those).
    errors = candidate.errors_5xx + candidate.errors_4xx
    compared = answered if agreement is None else min(answered, agreement.pairs + errors)
    if compared < policy.min_requests and elapsed_s < policy.max_duration_s:
        pairs = "" if agreement is None else f", {agreement.pairs:,} compared"
        return ShadowVerdict("wait", f"{answered:,} of {policy.min_requests:,} mirrored requests answered{pairs}",
                             figures)
    if answered < policy.min_requests:
        dropped = f" ({agreement.dropped:,} dropped)" if agreement else ""
        return ShadowVerdict("fail", f"only {answered:,} of {policy.min_requests:,} mirrored requests answered within "
                                     f"{policy.max_duration_s:g} s{dropped}: the candidate cannot be judged (is it "
                                     "deployed as a shadow, and does the endpoint get traffic?)", figures)
    failures = _error_and_latency_failures(policy, champion, candidate, figures)
    if agreement is None:
        figures["agreement_summary"] = "prediction agreement not measured (the metrics source has no predictions)"
    else:
        failures += _agreement_failures(policy, compare, agreement, figures)
    if failures:
        return ShadowVerdict("fail", "; ".join(failures), figures)
    return ShadowVerdict("pass", f"{answered:,} mirrored requests: {figures['agreement_summary']}; errors"
                                 + (" and latency" if "latency" in figures["log_lr"] else "") + " within tolerance",
                         figures)


def _error_and_latency_failures(
    policy: Shadow, champion: VariantCounts, candidate: VariantCounts, figures: dict[str, Any]
) -> list[str]:
    checks = ["5xx", "4xx"] + (["latency"] if policy.latency_p99_ratio is not None else [])
    threshold = math.log(len(checks) / policy.significance)
    failures, log_lr = [], {}
    for check, errors in (("5xx", "errors_5xx"), ("4xx", "errors_4xx")):
        n_c, e_c = candidate.requests, min(getattr(candidate, errors), candidate.requests)
        n_b, e_b = champion.requests, min(getattr(champion, errors), champion.requests)
        llrs = [sequential.rollback_llr(n_c, e_c, n_b, e_b, policy.max_error_rate_increase, r)
                for r, _ in sequential.ALTERNATIVES]
        log_lr[check] = sequential.log_mixture(llrs, [w for _, w in sequential.ALTERNATIVES])
        if log_lr[check] >= threshold:
            failures.append(f"candidate {check} {_rate(e_c, n_c)} vs champion {_rate(e_b, n_b)} "
                            f"(log-likelihood ratio {log_lr[check]:.1f} >= {threshold:.1f})")
    if policy.latency_p99_ratio is not None:
        evidence = guardrails.latency_evidence(policy.latency_p99_ratio, champion, candidate, policy.min_requests)
        if evidence is None and not (champion.latency_buckets or candidate.latency_buckets):
            figures["latency"] = (f"not judged: the metrics source has no latency histograms (p99 candidate "
                                  f"{_ms(candidate.latency_p99_ms)} vs champion {_ms(champion.latency_p99_ms)})")
        elif evidence is None:
            figures["latency"] = "too few latencies to compare"
        else:
            log_lr["latency"] = sequential.log_mixture(evidence.rollback, [w for _, w in guardrails.LATENCY_ALTERNATIVES])
            figures["latency"] = evidence.summary
            if log_lr["latency"] >= threshold:
                failures.append(f"{evidence.summary} (log-likelihood ratio {log_lr['latency']:.1f} >= {threshold:.1f})")
    figures["log_lr"] = {k: round(v, 4) for k, v in log_lr.items()}
    figures["threshold"] = round(threshold, 4)
    return failures


def _agreement_failures(policy: Shadow, compare: str, agreement: AgreementCounts, figures: dict[str, Any]) -> list[str]:
    pairs = agreement.pairs
    if pairs == 0:
        figures["agreement_summary"] = "no request answered 200 by both"
        return ["no mirrored request was answered 200 by both the candidate and the champion: predictions "
                "cannot be compared"]
    if compare == "class":
        rate = agreement.same / pairs
        figures.update(agreement_rate=rate, agreement_se=math.sqrt(rate * (1 - rate) / pairs))
        passed = rate >= policy.min_agreement
        figures["agreement_summary"] = (f"predicted value equal to the champion's on {rate:.1%} of {pairs:,} requests "
                                        f"({'at least' if passed else 'below'} the minimum {policy.min_agreement:.1%})")
        return [] if passed else [figures["agreement_summary"]]
    n = agreement.numeric
    if n < 2:
        figures["agreement_summary"] = "no numeric predictions"
        return [f"only {n} of {pairs:,} answered pairs have numeric predictions: compare them as classes "
                "(shadow.compare: class) or check the prediction field"]
    sd = math.sqrt(max(agreement.live_m2, 0.0) / (n - 1))
    scale, scale_name = (sd, "standard deviations") if sd > 0 else (abs(agreement.live_mean), "x |mean| (the "
                                                                   "champion's predictions do not vary)")
    mean_abs = agreement.abs_diff_sum / n
    relative = mean_abs / scale if scale > 0 else (0.0 if mean_abs == 0 else math.inf)
    figures.update(mean_abs_difference=mean_abs, mean_difference=agreement.diff_sum / n,
                   champion_prediction_sd=sd, relative_difference=relative)
    figures["agreement_summary"] = (f"mean |candidate - champion| {mean_abs:.4g} = {relative:.3g} {scale_name} of the "
                                    f"champion's predictions over {n:,} requests (limit {policy.max_relative_difference:g})")
    return [] if relative <= policy.max_relative_difference else [figures["agreement_summary"]]


def _counts(counts: VariantCounts) -> dict[str, Any]:
    return {"requests": counts.requests, "errors_5xx": counts.errors_5xx, "errors_4xx": counts.errors_4xx,
            "latency_p99_ms": counts.latency_p99_ms}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms"


def _rate(errors: int, requests: int) -> str:
    return f"{errors / requests:.2%} of {requests:,}" if requests else "n/a"
