"""Robust accuracy as a per-sample worst case over every attack run at one budget.

The per-attack accuracies of the cells are each an *upper* bound on what the model keeps
under attack; the reviewer's number is the share of segments that survive *all* of them:
a segment counts as robust at (threat, norm, ε) only if it is classified correctly on clean
input and under every ε-bounded attack run at that ε (cells' per-sample ``correct``). A
segment wrong on clean input never counts, even if a perturbation happens to fix it. A
minimal-norm attack (DeepFool) joins the L∞ entries of its threat model through its norms: a
sample is broken at ε if its attack succeeded with minimal L∞ ≤ ε (``broken_linf``).

For defenses, adaptive and non-adaptive cells are merged into one entry (``adaptive: null``),
with one entry per group beside it when both groups exist. Intervals are the track-clustered
bootstrap of `artgenre.stats.segment_proportion`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from artgenre.eps import eps_key
from artgenre.errors import DataError
from artgenre.stats import segment_proportion
from artgenre.threats import DEFAULT_THREAT

#: Norm a cell without a ``norm`` field was run under.
DEFAULT_NORM = "inf"


def _usable(cell: dict, n: int) -> bool:
    return isinstance(cell, dict) and isinstance(cell.get("correct"), list) and len(cell["correct"]) == n


def _minimal_broken(block: dict | None, n: int) -> np.ndarray | None:
    values = (block or {}).get("broken_linf")
    if not isinstance(values, list) or len(values) != n:
        return None  # a block written before per-sample norms were stored
    return np.array([np.inf if v is None else float(v) for v in values])


def robust_entries(*, cells: Iterable[dict], clean_correct: Sequence, track: Sequence,
                   minimal: dict | None = None, threat: str = DEFAULT_THREAT, merge_adaptive: bool = False,
                   seed: int = 0) -> list[dict]:
    """Per-sample worst-case robust accuracy at each (threat, norm, ε) of ``cells``.

    Parameters
    ----------
    cells : iterable of dict
        Cells of one result (`artgenre.attacks.cells.make_cell`), each with per-sample
        ``correct`` (0/1, length n, attacked-sample order); cells without it (old files) are
        skipped.
    clean_correct : sequence of bool, shape (n,)
        Whether each attacked sample is right on clean input (the evaluated classifier).
    track : sequence, shape (n,)
        Track id per sample (for the interval).
    minimal : dict, optional
        A minimal-norm block (`artgenre.attacks.minimal.minimal_norm_block`) with
        ``broken_linf``; it joins the ``norm: "inf"`` entries of ``threat``.
    threat : str
        Threat model of ``minimal``.
    merge_adaptive : bool
        Defenses: add the union of adaptive and non-adaptive cells (``adaptive: None``); the
        per-group entries are written too when both groups exist.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    list of dict
        ``{"threat", "norm", "eps", "robust_accuracy" (proportion), "attacks" (names),
        "adaptive" (bool or None)}``, sorted by threat, norm, ε, adaptive group.

    Raises
    ------
    DataError
        ``clean_correct`` and ``track`` differ in length.
    """
    clean = np.asarray(clean_correct, dtype=bool).ravel()
    track = np.asarray(track).ravel()
    n = clean.size
    if track.size != n:
        raise DataError(f"clean_correct has {n} samples but track has {track.size}; expected equal lengths")
    groups: dict[tuple, dict] = {}
    for c in cells:
        if not _usable(c, n):
            continue
        key = (c.get("threat", DEFAULT_THREAT), c.get("norm", DEFAULT_NORM), eps_key(c["eps"]))
        g = groups.setdefault(key, {"eps": float(c["eps"]), "by": {}})
        g["by"].setdefault(bool(c.get("adaptive")), []).append(c)
    broken = _minimal_broken(minimal, n)
    out = []
    for (th, norm, _), g in sorted(groups.items(), key=lambda kv: kv[0]):
        variants: list[tuple[bool | None, list[dict]]] = [(a, cs) for a, cs in sorted(g["by"].items())]
        if merge_adaptive and len(variants) > 1:
            variants.append((None, [c for _, cs in variants for c in cs]))
        elif merge_adaptive:
            variants = [(None, variants[0][1])]
        for adaptive, members in variants:
            ok = clean.copy()
            names = []
            for c in members:
                ok &= np.asarray(c["correct"], dtype=bool)
                names.append(c["attack"] + (" (adaptive)" if adaptive is None and c.get("adaptive") else ""))
            if broken is not None and th == threat and norm == DEFAULT_NORM and not adaptive:
                ok &= ~(broken <= g["eps"] + 1e-12)
                names.append(minimal.get("attack", "deepfool"))
            out.append({"threat": th, "norm": norm, "eps": g["eps"],
                        "robust_accuracy": segment_proportion(ok, track, seed=seed),
                        "attacks": sorted(dict.fromkeys(names)), "adaptive": adaptive})
    return out


def robust_mask(*, cells: Iterable[dict], clean_correct: Sequence, eps: float, threat: str = DEFAULT_THREAT,
                norm: str = DEFAULT_NORM, adaptive: bool | None = None) -> np.ndarray:
    """Per-sample robustness (clean right and right under every matching cell) at one budget.

    ``adaptive=None`` takes both groups. Returns a bool array of shape (n,).
    """
    ok = np.asarray(clean_correct, dtype=bool).copy()
    for c in cells:
        if (_usable(c, ok.size) and eps_key(c["eps"]) == eps_key(eps) and c.get("threat", DEFAULT_THREAT) == threat
                and c.get("norm", DEFAULT_NORM) == norm and (adaptive is None or bool(c.get("adaptive")) == adaptive)):
            ok &= np.asarray(c["correct"], dtype=bool)
    return ok
