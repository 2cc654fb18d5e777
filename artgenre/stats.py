"""Small statistics helpers shared by evaluation, attacks and reports."""

from __future__ import annotations

import math


def wilson_interval(successes: int, total: int, *, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes : int
        Number of successes, ``0 <= successes <= total``.
    total : int
        Number of trials. With ``total == 0`` the interval is ``(0.0, 1.0)``.
    z : float
        Normal quantile; the default gives a 95 % interval.

    Returns
    -------
    (low, high) : tuple of float
        Bounds in [0, 1].
    """
    if total <= 0:
        return (0.0, 1.0)
    p = successes / total
    denom = 1.0 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def proportion(successes: int, total: int) -> dict:
    """Proportion with its Wilson 95 % interval as a JSON-ready dict."""
    lo, hi = wilson_interval(successes, total)
    return {
        "value": successes / total if total else float("nan"),
        "ci_low": lo,
        "ci_high": hi,
        "k": int(successes),
        "n": int(total),
    }
