"""A fixed log-scale latency histogram: mergeable per-second bucket counts and a quantile read from them.

Bucket i holds latencies in (LOWEST_MS * GROWTH**(i-1), LOWEST_MS * GROWTH**i]; bucket 0 holds everything
up to LOWEST_MS and the last bucket everything above the top bound. A quantile is reported as its bucket's
upper bound, so it overestimates by at most GROWTH - 1 (19 %), never underestimates (inside the range).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

LOWEST_MS = 0.05
GROWTH = 2**0.25
BUCKETS = 86  # the top bound is LOWEST_MS * GROWTH**85, about 127 s
_LOG_GROWTH = math.log(GROWTH)


def bucket_of(latency_ms: float) -> int:
    """The bucket index of a latency in milliseconds."""
    if latency_ms <= LOWEST_MS:
        return 0
    index = math.ceil(math.log(latency_ms / LOWEST_MS) / _LOG_GROWTH - 1e-9)
    return min(index, BUCKETS - 1)


def upper_bound_ms(index: int) -> float:
    return LOWEST_MS * GROWTH**index


def quantile_ms(counts: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of the latencies counted in `counts` (bucket index -> count); None if empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return upper_bound_ms(index)
    raise AssertionError("unreachable: rank <= total")
