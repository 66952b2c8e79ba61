"""The sequential test behind every rollout decision (pure math, stdlib only).

Each error class (5xx, 4xx) is judged on its own. Within one window (same start, same end for both
variants) every error that happened is the candidate's with probability

    p = n_c * r_c / (n_c * r_c + n_b * r_b)

given how many requests each variant served (n_c, n_b). Conditioning on the window's errors removes
whatever both variants share (a slow database, a burst of bad inputs) and turns "is the candidate's error
rate worse?" into a binomial test on p. The null hypothesis is "not worse" (r_c = r_b); the alternatives are
"worse by a factor": r_c = ratio * r_b (conditional_llr, exact).

Log-likelihood ratios of disjoint windows add up, so the evidence is carried across checks and steps as a
sum per alternative. The rollback statistic is a mixture over the alternatives, a non-negative
martingale under the null: by Ville's inequality it ever reaches 1/alpha with probability at most alpha,
however often it is looked at.

Acceptance ("not worse", which lets a step advance) is the other side of the same test: the summed log-LR of
the detectable increase (DETECTABLE_RATIO) falling to a bar, log(beta) for completing and a share of it for
the earlier steps (RolloutPolicy.acceptance_bar). Under that alternative the inverse ratio is a martingale, so
a candidate that bad completes with probability at most beta, at any base rate and however noisy the champion's
own rate is (the comparison is the same exact, same-window one).

With a tolerance (max_error_rate_increase) the null is r_c = r_b + tolerance, which conditioning cannot
reduce to one law: tolerance_llr and tolerance_acceptance_llr let the champion's same-window errors pay for
its unknown rate instead, exactly in expectation, and the candidate's error-free requests count as evidence.

A class whose champion rate is negligible (below NEGLIGIBLE_RATE, shown by the champion's own requests) needs
no relative proof: a relative increase of a rate that small cannot be told apart in any reasonable time, and
a new error source there is still watched by the rollback test.
"""

from __future__ import annotations

import math

# (ratio to the tolerated error rate, prior weight). The first is the detectable increase: power is the
# chance of catching a candidate with that many more errors. Larger ratios catch grossly bad candidates
# after a few hundred requests instead of a few thousand. A weight w costs log(1/w) of evidence on top of
# log(1/alpha); 0.3 / 0.7 (was 0.4 / 0.6) splits that cost so that both kinds are caught within 1.5x the
# requests of a test told the bad rate in advance (docs/rollout.md, benchmark).
ALTERNATIVES: tuple[tuple[float, float], ...] = ((1.5, 0.2), (2.0, 0.3), (3.0, 0.5))
DETECTABLE_RATIO, DETECTABLE_INDEX = ALTERNATIVES[0][0], 0
# Error rates below this are negligible: their relative increases are not proven absent before a step
# advances (a champion at a quarter of it needs ~16,000 requests to show it). Half the rarest base rate
# the rollout is specified for (0.05 %), so that a class at that rate is never mistaken for negligible.
NEGLIGIBLE_RATE = 0.00025


def smoothed_rate(errors: int, requests: int) -> float:
    """Error rate with half an error added, so that a variant without errors still has a positive rate."""
    return (errors + 0.5) / (requests + 1)


def rollback_llr(
    candidate_requests: int,
    candidate_errors: int,
    champion_requests: int,
    champion_errors: int,
    tolerance: float,
    ratio: float,
) -> float:
    """The rollback evidence of one window for the alternative `ratio`: conditional_llr without a tolerance,
    tolerance_llr with one."""
    if tolerance == 0:
        return conditional_llr(candidate_requests, candidate_errors, champion_requests, champion_errors, ratio)
    return tolerance_llr(candidate_requests, candidate_errors, champion_requests, champion_errors, tolerance, ratio)


def conditional_llr(
    candidate_requests: int, candidate_errors: int, champion_requests: int, champion_errors: int, ratio: float
) -> float:
    """Log-likelihood ratio, odds ratio `ratio` vs equal rates, of who served the window's errors.

    Exact: given both variants' requests and the window's errors, the candidate's errors follow the
    hypergeometric law when both err at the same rate (whatever that rate, even if it changed during the
    window), and Fisher's noncentral hypergeometric law with odds ratio `ratio` under the alternative; the
    ratio of the two is ratio**x / E0[ratio**X], which has expectation exactly 1 under the null.
    """
    total = candidate_errors + champion_errors
    if total == 0 or candidate_requests == 0 or champion_requests == 0:
        return 0.0
    return candidate_errors * math.log(ratio) - _log_hypergeometric_pgf(
        candidate_requests, champion_requests, total, ratio)


def tolerance_llr(candidate_requests: int, candidate_errors: int, champion_requests: int, champion_errors: int,
                  tolerance: float, ratio: float) -> float:
    """With a tolerance: evidence of one window for "the candidate errs at `ratio` x (r + tolerance)" against
    "at most r + tolerance", r the champion's rate in the same window, unknown and free to change.

    The additive null has the champion's rate as a nuisance that conditioning cannot remove (a plug-in
    estimate of it biases the test: an error-free champion's smoothed rate invented errors, and a candidate
    at the tolerance was rolled back). Instead the champion's own errors pay for the candidate's expected
    ones: with u = e**theta - 1 and q = n_c / n_b,

        theta * x_c - u * n_c * tolerance + x_b * log(1 - u * q)

    has E[exp(.)] <= 1 under the null whatever r is (Poisson generating functions; Bernoulli requests only
    lower it), so the product over windows stays a supermartingale through outages shared by both variants.
    theta = log(ratio) is Wald's tilt; u is capped at 1 / (2q) so that a champion error costs at most log 2
    when the candidate serves as much as the champion or more.
    """
    if candidate_requests == 0 or champion_requests == 0:
        return 0.0
    q = candidate_requests / champion_requests
    u = min(ratio - 1, 1 / (2 * q))
    return (candidate_errors * math.log1p(u) - u * candidate_requests * tolerance
            + champion_errors * math.log1p(-u * q))


def tolerance_acceptance_llr(
    candidate_requests: int, candidate_errors: int, champion_requests: int, champion_errors: int, tolerance: float
) -> float:
    """With a tolerance: the acceptance evidence of one window, "the detectable increase" against "within
    tolerance" (a step may advance once the sum reaches its bar, log(beta) to complete). Mirror of
    tolerance_llr: under the detectable increase, r_c = DETECTABLE_RATIO * (r + tolerance) for any champion
    rate r,

        x_c * log(k) - (k - 1) * n_c * tolerance - x_b * log(1 + (k - 1) * q)

    has E[exp(-.)] <= 1, so such a candidate is accepted with probability at most beta. The tolerance makes
    the question absolute: a candidate's error-free requests are evidence, even while nobody errs."""
    if candidate_requests == 0 or champion_requests == 0:
        return 0.0
    k = DETECTABLE_RATIO
    q = candidate_requests / champion_requests
    return (candidate_errors * math.log(k) - (k - 1) * candidate_requests * tolerance
            - champion_errors * math.log1p((k - 1) * q))


def _log_hypergeometric_pgf(candidate: int, champion: int, draws: int, z: float) -> float:
    """log E[z**X], X hypergeometric: how many of `draws` items taken from candidate + champion are the
    candidate's. Summed outward from the z-tilted mode until the terms no longer count in double precision."""
    low, high = max(0, draws - champion), min(candidate, draws)
    log_z = math.log(z)

    def log_term(x: int) -> float:  # log C(candidate, x) C(champion, draws - x) z**x, without C(N, draws)
        return (_log_choose(candidate, x) + _log_choose(champion, draws - x) + x * log_z)

    def ratio(x: int) -> float:  # term(x + 1) / term(x)
        return (candidate - x) * (draws - x) * z / ((x + 1) * (champion - draws + x + 1))

    share = candidate * z / (candidate * z + champion)
    x = min(max(round(draws * share), low), high)
    while x < high and ratio(x) > 1:
        x += 1
    while x > low and ratio(x - 1) < 1:
        x -= 1
    # Terms fall off on both sides of the mode (the law is log-concave): sum them relative to the mode's.
    total = 1.0
    for step in (1, -1):
        term, y = 1.0, x
        while low <= y + step <= high and term > 1e-17 * total:
            term *= ratio(y) if step == 1 else 1 / ratio(y - 1)
            y += step
            total += term
    return log_term(x) + math.log(total) - _log_choose(candidate + champion, draws)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def acceptance_drift(rate: float, tolerance: float, share: float) -> float:
    """Expected change of the acceptance statistic per candidate request when both variants err at `rate` and the
    candidate serves `share` (0..1) of the traffic (negative: a healthy candidate proves itself in about
    log(1/beta) / -drift candidate requests). Without a tolerance, of the summed conditional_llr of the
    detectable increase; with one, of tolerance_acceptance_llr."""
    if not 0 < share < 1:
        return 0.0
    k, q = DETECTABLE_RATIO, share / (1 - share)
    if tolerance > 0:
        return rate * math.log(k) - (k - 1) * tolerance - rate / q * math.log1p((k - 1) * q)
    if rate <= 0:
        return 0.0
    p0 = _share(share * rate, (1 - share) * rate)
    p1 = _share(share * k * rate, (1 - share) * rate)
    per_error = p0 * math.log(p1 / p0) + (1 - p0) * math.log((1 - p1) / (1 - p0))
    return rate / share * per_error


def negligible_llr(requests: int, errors: int) -> float:
    """Poisson log-likelihood ratio of "the rate is NEGLIGIBLE_RATE" vs "a quarter of it" for the champion's
    errors of one class: at or below log(beta) the class is shown negligible with error at most beta."""
    low = NEGLIGIBLE_RATE / 4
    return errors * math.log(4) - requests * (NEGLIGIBLE_RATE - low)


def negligible_drift(rate: float) -> float:
    """Expected change of negligible_llr per champion request at a true error rate `rate`."""
    return rate * math.log(4) - 0.75 * NEGLIGIBLE_RATE


def gaussian_shift_llr(information: float, z: float, shift: float) -> float:
    """Log-likelihood ratio of a mean difference of `shift` standard deviations vs none, given the observed
    standardized difference z and the information n_c * n_b / (n_c + n_b): an exponential martingale in the
    information when there is no shift (the always-valid sequential z-test)."""
    return information * (shift * z - shift * shift / 2)


def log_mixture(llrs: list[float], weights: list[float]) -> float:
    """log(sum_k w_k * exp(llr_k)), computed without overflow."""
    terms = [llr + math.log(w) for llr, w in zip(llrs, weights) if w > 0]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def start_allocation(shares: dict[str, float]) -> dict:
    """Before any error: every class holds its share of the (unit) capital."""
    return {"classes": list(shares), "log_capital": 0.0, "since": {c: 0.0 for c in shares}}


def allocated_log_lr(class_log_lr: dict[str, float], shares: dict[str, float], allocation: dict) -> float:
    """log of the rollback statistic: the capital at the last reallocation, times the share-weighted growth
    since then of the mixture of each class it was allocated to."""
    classes = allocation["classes"]
    total = sum(shares[c] for c in classes)
    growth = [class_log_lr[c] - allocation["since"][c] for c in classes]
    return allocation["log_capital"] + log_mixture(growth, [shares[c] / total for c in classes])


def reallocate(allocation: dict, active: list[str], class_log_lr: dict[str, float], log_lr: float) -> dict:
    """The allocation from this check on: the capital the statistic had (log_lr, with each class's statistic
    class_log_lr at that moment) to the classes that have had errors, by their shares.

    A class without any error has a likelihood ratio of exactly 1, so its share would only sit idle. Whether
    a class had errors is part of the margins each exact ratio conditions on (its expectation given them
    is 1), so deciding from them, this check's included, keeps the statistic a martingale.
    """
    if not active or set(active) == set(allocation["classes"]):
        return allocation
    return {"classes": list(active), "log_capital": log_lr, "since": dict(class_log_lr)}


def wald_expected_sample_size(p0: float, p1: float, alpha: float, beta: float) -> float:
    """Wald's average sample number under H1 of the one-sample Bernoulli SPRT p0 vs p1 (p1 > p0)."""
    upper = math.log((1 - beta) / alpha)
    lower = math.log(beta / (1 - alpha))
    drift = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    return ((1 - beta) * upper + beta * lower) / drift


def _share(candidate_mass: float, champion_mass: float) -> float:
    """Probability that an error is the candidate's, kept strictly inside (0, 1)."""
    p = candidate_mass / (candidate_mass + champion_mass)
    return min(max(p, 1e-12), 1 - 1e-12)
