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


#: Bootstrap resamples for track-clustered intervals (the issue's floor is 1000).
BOOTSTRAP_RESAMPLES = 2000


def track_bootstrap_interval(correct, track, *, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                             level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of a segment-level proportion, resampling whole tracks.

    Segments of one track are not independent (they share the recording, the artist and the
    label), so the interval resamples tracks with replacement and keeps each track's segments
    together (a cluster bootstrap). It is widened to contain the Wilson interval of the same
    count, so it is never narrower than treating segments as independent — the percentile
    bootstrap collapses to a point at 0 % and 100 %, and with one track it has nothing to resample.

    Parameters
    ----------
    correct : array-like of bool, shape (n,)
        Per-segment outcome.
    track : array-like, shape (n,)
        Track id of each segment.
    n_resamples : int
        Bootstrap resamples (≥ 1000 recommended).
    seed : int
        Seed of the resampling; the same inputs and seed give the same interval.
    level : float
        Coverage in (0, 1).

    Returns
    -------
    (low, high) : tuple of float in [0, 1]; ``(0.0, 1.0)`` for no segments.
    """
    import numpy as np

    correct = np.asarray(correct, dtype=bool).ravel()
    track = np.asarray(track).ravel()
    if correct.shape != track.shape:
        from artgenre.errors import ParameterError

        raise ParameterError(f"correct has shape {correct.shape} but track has shape {track.shape}")
    n = correct.size
    lo, hi = wilson_interval(int(correct.sum()), n)
    if n == 0:
        return (lo, hi)
    _, inverse = np.unique(track, return_inverse=True)
    k_t = np.bincount(inverse, weights=correct.astype(np.float64))
    n_t = np.bincount(inverse).astype(np.float64)
    if k_t.size >= 2:
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, k_t.size, size=(int(n_resamples), k_t.size))
        p = k_t[pick].sum(axis=1) / n_t[pick].sum(axis=1)
        alpha = (1.0 - level) / 2.0
        b_lo, b_hi = np.quantile(p, [alpha, 1.0 - alpha])
        lo, hi = min(lo, float(b_lo)), max(hi, float(b_hi))
    return (max(0.0, lo), min(1.0, hi))


def segment_proportion(correct, track, *, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """A segment-level proportion with its track-clustered 95 % interval, as a JSON-ready dict.

    Same shape as `proportion` (``value, ci_low, ci_high, k, n``) plus ``n_tracks`` and
    ``ci_method: "track-bootstrap"``; see `track_bootstrap_interval`.
    """
    import numpy as np

    correct = np.asarray(correct, dtype=bool).ravel()
    lo, hi = track_bootstrap_interval(correct, track, n_resamples=n_resamples, seed=seed)
    k, n = int(correct.sum()), int(correct.size)
    return {
        "value": k / n if n else float("nan"),
        "ci_low": lo,
        "ci_high": hi,
        "k": k,
        "n": n,
        "n_tracks": int(np.unique(np.asarray(track)).size),
        "ci_method": "track-bootstrap",
    }
