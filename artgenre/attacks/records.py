"""The record of one (attack, ε) cell: what every cell of every sweep stores.

Definitions used in every cell (also in docs/design.md):

- ``segment_accuracy`` / ``track_accuracy``: accuracy of the *evaluated* classifier on the
  adversarial segments / by majority vote of each track's segments (Wilson 95 % CI).
- ``robust_accuracy``: share of segments right on clean input *and* under this attack (a
  clean-wrong segment never counts, even if the perturbation happens to fix it);
  ``segment_accuracy`` keeps counting those, so older numbers stay comparable.
- Segment-level proportions (``segment_accuracy``, ``success_rate``, ``robust_accuracy``) carry
  a track-clustered bootstrap CI (`artgenre.stats.segment_proportion`); track-level ones Wilson.
- ``success_rate``: among segments the evaluated classifier gets right on clean input, the
  fraction it gets wrong on adversarial input.
- ``l2``, ``linf``: per-segment norms of ``x_adv - x`` in input units (mean, median; ``linf``
  also its max); ``perturbation_db``: ``|x_adv - x|`` in dB (the threat model's reading)
  averaged over every bin (``mean_abs``) and its maximum (``max_abs``).
- ``correct`` / ``pred``: per attacked sample (in the attacked-sample order), 1 if the
  evaluated classifier is right under the attack, and its predicted class, so a per-sample
  worst case over attacks can be computed from result files.
- ``threat``: the `artgenre.threats` model the attack perturbed.
- ``cascade`` (attacks with `AttackSpec.cascade`, e.g. ``apgd-ce``): ``after``, the attacks of
  the sweep that ran first, and ``attacked``, 1 per segment the attack itself ran on (the rest
  keep the earlier attacks' adversarial input, `artgenre.attacks.cascade`); the cell's
  accuracy is then that of those attacks and this one together.
- ``passes`` (crafted cells of counting classifiers): the rows the attack ran through the
  crafting classifier (`artgenre.pass_counts`); ``reused_adversarial``: read from the store.
- ε = 0 cells use ``x_adv = x`` and the clean logits, so they equal the clean accuracy exactly.

"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from artgenre.stats import segment_proportion
from artgenre.threats import DEFAULT_THREAT, threat_model

#: Cell ``norm`` of an L∞ budget (the only one of the spectrogram threat model).
DEFAULT_NORM = "inf"


def norm_stats(values: np.ndarray, *, with_values: bool = False, with_max: bool = False) -> dict:
    """``{mean, median}`` (plus ``max`` / ``values``) of per-sample norms; None when empty."""
    v = np.asarray(values, dtype=np.float64)
    out = {
        "mean": float(v.mean()) if v.size else None,
        "median": float(np.median(v)) if v.size else None,
    }
    if with_max:
        out["max"] = float(v.max()) if v.size else None
    if with_values:
        out["values"] = [float(a) for a in v]
    return out


def delta_stats(x: np.ndarray, x_adv: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-sample L2 and L∞ norms of ``x_adv - x`` and the sum of ``|x_adv - x|``.

    Parameters
    ----------
    x, x_adv : np.ndarray, shape (N, ...)

    Returns
    -------
    (l2, linf, abs_sum) : float64 arrays of shape (N,) and a float
    """
    # Chunked so a whole test split never needs a float64 copy of x and x_adv at once.
    n = len(x)
    l2, linf, total = np.zeros(n), np.zeros(n), 0.0
    for i in range(0, n, chunk):
        d = (np.asarray(x_adv[i : i + chunk], dtype=np.float64)
             - np.asarray(x[i : i + chunk], dtype=np.float64)).reshape(min(chunk, n - i), -1)
        if d.shape[1] == 0:
            continue
        a = np.abs(d)
        l2[i : i + chunk] = np.sqrt(np.einsum("ij,ij->i", d, d))
        linf[i : i + chunk] = a.max(axis=1)
        total += float(a.sum())
    return l2, linf, total


def make_cell(*, attack, eps, adaptive, x, x_adv, logits, clean_pred, y, track, n_classes, seconds,
              threat: str = DEFAULT_THREAT, norm: str = DEFAULT_NORM, extra: Mapping[str, Any] | None = None) -> dict:
    """One cell's record (schema in the module docstring and docs/design.md)."""
    from artgenre.evaluation import evaluate

    tm = threat_model(threat)
    ev = evaluate(logits=logits, y=y, track=track, n_classes=n_classes)
    pred = np.asarray(logits).argmax(axis=1)
    correct0 = clean_pred == y
    l2, linf, abs_sum = delta_stats(x, x_adv)
    size = max(int(np.prod(x.shape)), 1)
    return {
        "attack": attack,
        "eps": float(eps),
        "eps_db": tm.eps_db(eps, norm),
        "adaptive": bool(adaptive),
        "threat": threat,
        "norm": norm,
        "segment_accuracy": segment_proportion(pred == y, track),
        "track_accuracy": ev["track_accuracy_vote"],
        "track_accuracy_mean": ev["track_accuracy_mean"],
        "success_rate": segment_proportion((pred != y)[correct0], np.asarray(track)[correct0]),
        "robust_accuracy": segment_proportion(correct0 & (pred == y), track),
        "l2": norm_stats(l2),
        "linf": norm_stats(linf, with_max=True),
        "perturbation_db": {
            "mean_abs": tm.eps_db(abs_sum / size),
            "max_abs": tm.eps_db(float(linf.max(initial=0.0))),
        },
        "seconds": float(seconds),
        "confusion": ev["confusion"],
        "n": int(len(y)),
        "correct": (pred == y).astype(int).tolist(),
        "pred": pred.astype(int).tolist(),
        **dict(extra or {}),
    }
