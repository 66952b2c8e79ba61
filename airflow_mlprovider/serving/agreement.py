"""How a shadow variant's answers compare with the live variant's on the same mirrored requests (stdlib only).

Per (shadow, live) pair of variants the server keeps, per second: requests mirrored and mirrors dropped
(the shadow queue was full), and over the requests BOTH answered 200 (the pairs): how many gave the same
prediction value (class agreement), and for the pairs whose values are both finite numbers the sum of
|shadow - live|, the sum of shadow - live, and the live predictions' count, mean and sum of squared
deviations (M2, merged with Chan's formula: exact for predictions of any location, e.g. 1e9 +- 1, where a
raw sum of squares would cancel catastrophically). The shadow verdict (airflow_mlprovider/shadow.py) scales
the mean |difference| by the live predictions' spread.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class AgreementCounts:
    mirrored: int = 0  # requests sent to the shadow
    dropped: int = 0  # requests not mirrored: the shadow queue was full
    pairs: int = 0  # mirrored requests both variants answered 200
    same: int = 0  # pairs whose prediction values are equal
    numeric: int = 0  # pairs whose prediction values are both finite numbers
    abs_diff_sum: float = 0.0  # over the numeric pairs: sum of |shadow - live|
    diff_sum: float = 0.0  # over the numeric pairs: sum of shadow - live
    live_mean: float = 0.0  # over the numeric pairs: the live predictions' mean
    live_m2: float = 0.0  # over the numeric pairs: the live predictions' sum of squared deviations from it

    def add_pair(self, live: Any, shadow: Any) -> None:
        """One mirrored request both variants answered 200 with these prediction values."""
        self.pairs += 1
        self.same += same_value(live, shadow)
        if _finite(live) and _finite(shadow):
            diff = float(shadow) - float(live)
            if math.isfinite(diff):
                self.merge(AgreementCounts(numeric=1, abs_diff_sum=abs(diff), diff_sum=diff, live_mean=float(live)))

    def merge(self, other: AgreementCounts) -> None:
        n_a, n_b = self.numeric, other.numeric
        if n_b:
            delta = other.live_mean - self.live_mean
            total = n_a + n_b
            self.live_mean += delta * n_b / total
            self.live_m2 += other.live_m2 + delta * delta * n_a * n_b / total
        self.mirrored += other.mirrored
        self.dropped += other.dropped
        self.pairs += other.pairs
        self.same += other.same
        self.numeric += other.numeric
        self.abs_diff_sum += other.abs_diff_sum
        self.diff_sum += other.diff_sum

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> AgreementCounts:
        """From the window API's body; unknown keys (a newer server) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in known})


def same_value(a: Any, b: Any) -> bool:
    """JSON equality of two prediction values: 1 and 1.0 are the same number, True is not 1."""
    if _number(a) and _number(b):
        return a == b
    return type(a) is type(b) and a == b


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    """A number that is finite as a float (a JSON integer may be too large for one)."""
    try:
        return _number(value) and math.isfinite(float(value))
    except OverflowError:
        return False
