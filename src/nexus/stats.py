"""Honest statistics for rates: the Wilson score interval and severity from it.

A rate is never shown without its n and its interval. An alert is critical
only when the whole interval lies past the threshold; when the point estimate
is past it but the interval straddles it, it is a warning; below the minimum
n it is `insufficient_data` — neither green nor red.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


class Severity(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class Rate:
    """k of n, with its 95 % Wilson interval."""

    k: int
    n: int
    rate: float
    ci_low: float
    ci_high: float


def wilson(k: int, n: int, z: float = Z95) -> Rate:
    """The Wilson score interval for k successes in n trials (n = 0 gives [0, 1])."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Rate(k=0, n=0, rate=0.0, ci_low=0.0, ci_high=1.0)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Clamp rounding noise so the interval always contains p and stays in [0, 1].
    return Rate(
        k=k,
        n=n,
        rate=p,
        ci_low=max(0.0, min(p, centre - half)),
        ci_high=min(1.0, max(p, centre + half)),
    )


def severity_above(rate: Rate, threshold: float, min_n: int) -> Severity:
    """Severity of a rate whose bad direction is *above* `threshold`."""
    if rate.n < min_n:
        return Severity.INSUFFICIENT_DATA
    if rate.ci_low > threshold:
        return Severity.CRITICAL
    if rate.rate > threshold:
        return Severity.WARNING
    return Severity.OK
