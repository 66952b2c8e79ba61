"""When a candidate may become champion: pure rules, no Airflow and no I/O.

Two independent questions are asked before the champion pointer moves:
- `judge_candidate`: is the candidate's metric better than the champion's by the spec's margins?
- `may_replace`: was the candidate trained on data at least as recent as the champion's? (a backfill never is)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_mlprovider.registry.store import ModelVersion
    from airflow_mlprovider.spec.model import Promote

DIRECTIONS = ("minimize", "maximize")
#: metrics this close (relative) are a tie: the same predictions scored by different float summation orders
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    improvement: float | None  # in metric units, positive = better; None for a first model or a non-finite metric


def _num(value: float) -> str:
    return f"{value:.6g}"


def _gain(candidate: float, reference: float, direction: str) -> float:
    """How much better `candidate` is than `reference` (positive = better), whatever the direction."""
    return reference - candidate if direction == "minimize" else candidate - reference


def _relative(gain: float, champion_metric: float) -> float:
    if champion_metric != 0:
        return gain / abs(champion_metric)
    # a zero champion leaves no scale: any gain is infinitely large, any loss infinitely bad
    return math.copysign(math.inf, gain) if gain else 0.0


def _first_model(candidate_metric: float, direction: str, threshold: float | None) -> PromotionDecision:
    if threshold is None:
        return PromotionDecision(True, f"first model (metric {_num(candidate_metric)}); no champion to beat", None)
    clears = _gain(candidate_metric, threshold, direction) >= 0
    bar = "<=" if direction == "minimize" else ">="
    verdict = "clears" if clears else "does not clear"
    return PromotionDecision(
        clears,
        f"first model: metric {_num(candidate_metric)} {verdict} first_model_threshold ({bar} {_num(threshold)})",
        None,
    )


def judge_candidate(
    candidate_metric: float,
    champion_metric: float | None,
    direction: str,
    policy: Promote,
    comparison: dict[str, Any] | None = None,
    test_rows: int | None = None,
) -> PromotionDecision:
    """Whether the candidate beats the champion by the spec's `promote` margins.

    Relative and absolute margins must both hold; a margin of 0 means "strictly better".
    A non-finite candidate metric is never promoted. With `policy.confidence`, the margins must hold for
    the lower confidence bound of the paired gain (`comparison`, from evaluation.paired), not only for the
    point estimate. Below `policy.min_test_rows` test rows only a first model is promoted. A candidate that
    ties the champion (within TIE_TOLERANCE) is kept, or promoted with `policy.on_tie == "promote"`: margins
    and bounds measure improvement, and nothing improves on a perfect champion.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if not math.isfinite(candidate_metric):
        reason = f"candidate metric is {candidate_metric}: a non-finite metric is never promoted"
        return PromotionDecision(False, reason, None)
    if champion_metric is None:
        return _first_model(candidate_metric, direction, policy.first_model_threshold)
    if test_rows is not None and test_rows < policy.min_test_rows:
        reason = (
            f"the test set has {test_rows} rows, fewer than promote.min_test_rows ({policy.min_test_rows}): "
            "too little evidence to replace the champion -> keep the champion"
        )
        return PromotionDecision(False, reason, None)
    if not math.isfinite(champion_metric):
        reason = f"champion metric is {champion_metric} on this test set; candidate {_num(candidate_metric)} is finite"
        return PromotionDecision(True, reason, None)
    gain = _gain(candidate_metric, champion_metric, direction)
    if policy.on_tie == "promote" and math.isclose(candidate_metric, champion_metric, rel_tol=TIE_TOLERANCE):
        reason = (
            f"candidate {_num(candidate_metric)} ties champion {_num(champion_metric)} ({direction}); "
            "promote.on_tie: promote -> promote the newer model"
        )
        return PromotionDecision(True, reason, gain)
    if policy.confidence is not None:
        return _judge_bound(candidate_metric, champion_metric, direction, policy, gain, comparison)
    relative = _relative(gain, champion_metric)
    promote = _margins_hold(gain, relative, policy)
    required = (
        f"required: >= {_num(policy.min_absolute_improvement)} absolute"
        if policy.min_absolute_improvement
        else "required: strictly better"
    )
    if policy.min_relative_improvement:
        required += f" and >= {policy.min_relative_improvement:.2%} relative"
    comparison = "better" if gain > 0 else "worse" if gain < 0 else "no better"
    reason = (
        f"candidate {_num(candidate_metric)} vs champion {_num(champion_metric)} ({direction}): "
        f"{_num(abs(gain))} absolute, {abs(relative):.2%} relative {comparison}; {required} -> "
        f"{'promote' if promote else 'keep the champion'}"
    )
    return PromotionDecision(promote, reason, gain)


def _margins_hold(gain: float, relative: float, policy: Promote) -> bool:
    absolute_ok = gain >= policy.min_absolute_improvement if policy.min_absolute_improvement else gain > 0
    relative_ok = relative >= policy.min_relative_improvement if policy.min_relative_improvement else relative > 0
    return absolute_ok and relative_ok


def _judge_bound(
    candidate_metric: float,
    champion_metric: float,
    direction: str,
    policy: Promote,
    gain: float,
    comparison: dict[str, Any] | None,
) -> PromotionDecision:
    """The margins applied to the gain's lower confidence bound: the improvement holds with that confidence."""
    if comparison is None or comparison.get("low") is None:
        reason = (
            f"promote.confidence {policy.confidence} needs a paired comparison with the champion on the same "
            "rows, and there is none -> keep the champion"
        )
        return PromotionDecision(False, reason, gain)
    bound = float(comparison["low"])
    promote = _margins_hold(bound, _relative(bound, champion_metric), policy)
    required = []
    if policy.min_absolute_improvement:
        required.append(f">= {_num(policy.min_absolute_improvement)} absolute")
    if policy.min_relative_improvement:
        required.append(f">= {policy.min_relative_improvement:.2%} relative")
    reason = (
        f"candidate {_num(candidate_metric)} vs champion {_num(champion_metric)} ({direction}) on "
        f"{comparison['rows']} paired rows: gain {_num(gain)}, {policy.confidence:.0%} confidence bound "
        f"{_num(bound)} ({comparison['method']}); required: bound {' and '.join(required) or '> 0'} -> "
        f"{'promote' if promote else 'keep the champion'}"
    )
    return PromotionDecision(promote, reason, gain)


def _instant(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso)
    # Airflow intervals are UTC; a naive timestamp is read as UTC so it compares with an aware one
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def may_replace(champion: ModelVersion | None, candidate: ModelVersion) -> tuple[bool, str]:
    """The champion pointer only moves forward in data time.

    A candidate trained on an older data interval than the champion's (a backfill) never becomes champion;
    an equal interval (a re-run of the same interval) may replace it.
    """
    if champion is None:
        return True, "no champion yet"
    candidate_end, champion_end = _instant(candidate.data_interval_end), _instant(champion.data_interval_end)
    if candidate_end < champion_end:
        return False, (
            f"candidate {candidate.version_id} was trained on data up to {candidate.data_interval_end}, older than "
            f"champion {champion.version_id}'s {champion.data_interval_end} (a backfill): registered, never champion"
        )
    return True, (
        f"candidate data up to {candidate.data_interval_end} is not older than champion "
        f"{champion.version_id}'s {champion.data_interval_end}"
    )
