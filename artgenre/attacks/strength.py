"""Is the evaluation strong enough? Convergence, gradient-masking and chance checks.

Three checks beside `artgenre.attacks.checks.run_checks`, for attack AND defense runs; every
slack is the track-clustered bootstrap CI of the cells (`artgenre.stats.segment_proportion`):

- ``worst case converged`` (a): at every ε > 0 a stronger PGD — `STRENGTH_STEP_FACTOR` × the
  run's PGD steps (at least `STRENGTH_MIN_STEPS`), `STRENGTH_STARTS` random starts — attacks
  the segments of a fixed seeded, class-balanced subset of `STRENGTH_SUBSET` that are still
  robust under the run's own attacks (clean right and right under every attack at that ε, as
  AutoAttack runs each component on what the earlier ones left; `strength_block`, stored as
  the result's ``strength`` with its own resumable cells). The subset's worst case with the
  stronger PGD added may not lie below the worst case without it by more than that worst
  case's CI half-width; otherwise the reported attacks had not converged.
- ``gradient attacks not weaker than gradient-free`` (b, when cells of a gradient-free attack,
  `AttackSpec.gradient_free`, e.g. ``square``, exist): at each ε the best gradient attack's
  accuracy may not exceed the gradient-free one's CI high — a sign of gradient masking, as
  AutoAttack flags it.
- ``pgd near chance at every larger ε`` (c, undefended models only): once FGSM or PGD reached
  chance + `CHANCE_MARGIN` at some ε, PGD must stay there (value or CI low) at every larger ε.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from artgenre.attacks.checks import CHANCE_MARGIN
from artgenre.attacks.library import PGD_STEPS
from artgenre.attacks.robust import robust_mask
from artgenre.attacks.spec import attack_spec
from artgenre.eps import same_eps
from artgenre.errors import ArtGenreError
from artgenre.runtime import log
from artgenre.stats import segment_proportion
from artgenre.threats import DEFAULT_THREAT

#: Segments the stronger PGD attacks (seeded, class-balanced).
STRENGTH_SUBSET = 32
#: Stronger PGD: this many times the run's steps, at least `STRENGTH_MIN_STEPS`, from this many starts.
STRENGTH_STEP_FACTOR = 4
STRENGTH_MIN_STEPS = 4 * PGD_STEPS
STRENGTH_STARTS = 2
#: The attack the check runs (the registry's PGD with more steps and restarts).
STRENGTH_ATTACK = "pgd"


def strength_params(*, params: Mapping[str, Mapping[str, Any]] | None) -> dict:
    """The stronger PGD's parameters from the run's PGD parameters (``params["pgd"]``)."""
    base = dict((params or {}).get(STRENGTH_ATTACK, {}))
    steps = int(base.get("steps", PGD_STEPS))
    out = {"steps": max(STRENGTH_STEP_FACTOR * steps, STRENGTH_MIN_STEPS), "restarts": STRENGTH_STARTS - 1}
    if "step_ratio" in base:
        out["step_ratio"] = base["step_ratio"]
    return out


def strength_subset(*, y, seed: int, size: int = STRENGTH_SUBSET) -> np.ndarray:
    """Sorted positions of the checked segments (`artgenre.runs.stratified_order` prefix)."""
    from artgenre.runs import stratified_order

    return np.sort(stratified_order(y=np.asarray(y), seed=seed)[:size])


def strength_block(*, craft_classifier, eval_classifier, split, eps: Sequence[float], batch_size: int, seed: int,
                   params: Mapping[str, Mapping[str, Any]] | None, previous: dict | None = None,
                   adaptive: bool = False, save: Callable[[dict], None] | None = None,
                   threat: str = DEFAULT_THREAT, progress: bool = True, cells: Sequence[dict] | None = None,
                   clean_correct=None, store=None, share: Sequence[tuple[str, float]] = ()) -> dict:
    """Run the stronger PGD of check (a) on the fixed subset at every ε > 0.

    Parameters
    ----------
    craft_classifier, eval_classifier, split, batch_size, seed, threat, progress
        As in `artgenre.attacks.cells.sweep_cells` (``split`` = all attacked samples).
    eps : sequence of float
        The run's ε grid; ε = 0 is left out.
    params : mapping attack -> dict, optional
        The run's attack parameters (its PGD steps set the stronger PGD's).
    previous : dict, optional
        The ``strength`` block of an interrupted run; its cells with the same subset and
        parameters are reused.
    adaptive : bool
        Stored in the cells.
    save : callable, optional
        ``save(block)`` after each computed cell.
    cells : sequence of dict, optional
        The run's cells (per-sample ``correct`` over ``split``) and, with them,
    clean_correct : array-like of bool, shape (len(split),), optional
        its clean correctness: only the subset's segments robust under ``cells`` at an ε are
        attacked there. Without them the whole subset is.
    store, share
        As in `artgenre.attacks.cells.sweep_cells`: a defense's non-adaptive pass reads the
        stronger-PGD sets the white-box run (same classifier, subset and ε) stored.

    Returns
    -------
    dict
        ``{"attack", "params", "indices" (positions among the attacked samples), "n",
        "cells"}``; each cell's ``indices`` are the positions it attacked and its ``correct``
        is over them.
    """
    from artgenre.attacks.cells import sweep_cells

    idx = strength_subset(y=split.y, seed=seed)
    p = strength_params(params=params)
    block = {"attack": STRENGTH_ATTACK, "params": p, "indices": [int(i) for i in idx], "n": int(len(idx)),
             "cells": []}
    prev = previous if isinstance(previous, dict) and previous.get("indices") == block["indices"] \
        and previous.get("params") == p else {}
    old = [c for c in prev.get("cells") or [] if isinstance(c, dict)]
    wanted = [e for e in eps if e > 0]
    # Cells of other groups or ε stay (a narrower rerun adds to the block, as to the cells).
    kept = [c for c in old if bool(c.get("adaptive")) != adaptive or not any(same_eps(c["eps"], e) for e in wanted)]
    done: list[dict] = []

    def on_save(new: list, at: list[int]) -> None:
        block["cells"] = kept + done + [{**c, "indices": at} for c in new]
        if save is not None:
            save(block)

    for e in wanted:
        pos = idx if cells is None or clean_correct is None else idx[robust_mask(
            cells=cells, clean_correct=clean_correct, eps=e, threat=threat, adaptive=adaptive)[idx]]
        at = [int(i) for i in pos]
        reuse = [c for c in old if c.get("indices", block["indices"]) == at]
        if not at:  # nothing left to break at this ε
            done.append({"attack": STRENGTH_ATTACK, "eps": float(e), "adaptive": adaptive, "threat": threat,
                         "norm": "inf", "indices": [], "correct": [], "seconds": 0.0})
            continue
        new = sweep_cells(craft_classifier=craft_classifier, eval_classifier=eval_classifier, split=split.take(pos),
                          attacks=[STRENGTH_ATTACK], eps=[e], batch_size=batch_size, seed=seed,
                          params={STRENGTH_ATTACK: p}, existing_cells=reuse, adaptive=adaptive,
                          save=lambda new, at=at: on_save(new, at),
                          progress=progress, threat=threat, store=store, share=share)
        done.extend({**c, "indices": at} for c in new)
        broke = sum(not ok for c in new for ok in c["correct"])
        log.info("stronger PGD ε=%g%s: broke %d of the %d subset segments still robust", e,
                 " (adaptive)" if adaptive else "", broke, len(at))
    block["cells"] = kept + done
    return block


def _check(name: str, passed: bool | None, detail: str) -> dict:
    return {"name": name, "passed": passed, "detail": detail}


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def convergence_check(*, cells: Sequence[dict], strength: dict | None, clean_correct, track, label: str = ""
                      ) -> list[dict]:
    """Check (a) for each adaptive group of ``strength["cells"]`` (module docstring)."""
    name = "worst case converged (stronger PGD)"
    if not strength or not strength.get("cells"):
        return [_check(name + label, None, "skipped: no stronger-PGD cells (strength_check off or no ε > 0)")]
    idx = np.asarray(strength["indices"], dtype=int)
    tr = np.asarray(track)[idx]
    out = []
    for adaptive in sorted({bool(c.get("adaptive")) for c in strength["cells"]}):
        bad, good = [], 0
        for sc in (c for c in strength["cells"] if bool(c.get("adaptive")) == adaptive):
            e, th, norm = sc["eps"], sc.get("threat", DEFAULT_THREAT), sc.get("norm", "inf")
            full = robust_mask(cells=cells, clean_correct=clean_correct, eps=e, threat=th, norm=norm,
                               adaptive=adaptive)
            ref = segment_proportion(full[idx], tr)
            # Cells written before the robust-only subset have no indices: they cover it all.
            at = np.asarray(sc.get("indices", strength["indices"]), dtype=int)
            with_strong = full.copy()
            with_strong[at] &= np.asarray(sc["correct"], dtype=bool)
            strong = segment_proportion(with_strong[idx], tr)
            half = (ref["ci_high"] - ref["ci_low"]) / 2
            if strong["value"] < ref["value"] - half - 1e-12:
                bad.append(f"ε={e:g}: with the stronger PGD {_pct(strong['value'])} < worst case "
                           f"{_pct(ref['value'])} − CI half-width {_pct(half)} on {len(idx)} segments "
                           f"({len(at)} still robust were attacked)")
            else:
                good += 1
        suffix = (" (adaptive)" if adaptive else "") + label
        out.append(_check(name + suffix, not bad, "; ".join(bad) if bad else
                          f"stronger PGD within one CI half-width of the worst case at all {good} ε > 0"))
    return out


def _gradient_free(attack: str) -> bool:
    try:
        return attack_spec(attack).gradient_free
    except ArtGenreError:  # a name from an old result file
        return False


def masking_check(*, cells: Iterable[dict], label: str = "") -> list[dict]:
    """Check (b): gradient attacks not weaker than a gradient-free one, per adaptive group."""
    out = []
    cells = [c for c in cells if "segment_accuracy" in c]
    for adaptive in sorted({bool(c.get("adaptive")) for c in cells}):
        group = [c for c in cells if bool(c.get("adaptive")) == adaptive and c["eps"] > 0]
        free = [c for c in group if _gradient_free(c["attack"])]
        if not free:
            continue
        bad, n = [], 0
        for f in free:
            grads = [c for c in group if not _gradient_free(c["attack"]) and c["eps"] == f["eps"]
                     and c.get("threat") == f.get("threat") and c.get("norm") == f.get("norm")]
            if not grads:
                continue
            n += 1
            best = min(grads, key=lambda c: c["segment_accuracy"]["value"])
            if best["segment_accuracy"]["value"] > f["segment_accuracy"]["ci_high"] + 1e-12:
                bad.append(f"ε={f['eps']:g}: best gradient attack {best['attack']} "
                           f"{_pct(best['segment_accuracy']['value'])} > {f['attack']} CI high "
                           f"{_pct(f['segment_accuracy']['ci_high'])} (gradient masking?)")
        suffix = (" (adaptive)" if adaptive else "") + label
        out.append(_check("gradient attacks not weaker than gradient-free" + suffix, (not bad) if n else None,
                          "; ".join(bad) if bad else (f"at all {n} ε (within the 95% CI)" if n else
                                                      "skipped: no gradient attack at the same ε")))
    return out


def chance_every_eps_check(*, cells: Iterable[dict], n_classes: int, label: str = "") -> list[dict]:
    """Check (c): once FGSM or PGD reached chance + margin, PGD stays there at every larger ε."""
    threshold = 1.0 / n_classes + CHANCE_MARGIN
    out = []
    cells = [c for c in cells if "segment_accuracy" in c and c["eps"] > 0]
    for adaptive in sorted({bool(c.get("adaptive")) for c in cells}):
        group = [c for c in cells if bool(c.get("adaptive")) == adaptive]
        reached = [c["eps"] for c in group if c["attack"] in ("fgsm", "pgd")
                   and c["segment_accuracy"]["value"] <= threshold]
        name = "pgd near chance at every larger ε" + (" (adaptive)" if adaptive else "") + label
        if not reached:
            out.append(_check(name, None, "skipped: neither FGSM nor PGD reached chance + "
                                          f"{_pct(CHANCE_MARGIN)} at any ε"))
            continue
        e0 = min(reached)
        later = sorted((c for c in group if c["attack"] == "pgd" and c["eps"] > e0), key=lambda c: c["eps"])
        bad = [f"ε={c['eps']:g}: PGD {_pct(c['segment_accuracy']['value'])} (CI low "
               f"{_pct(c['segment_accuracy']['ci_low'])}) > {_pct(threshold)}" for c in later
               if min(c["segment_accuracy"]["value"], c["segment_accuracy"]["ci_low"]) > threshold]
        out.append(_check(name, not bad, "; ".join(bad) if bad else
                          f"reached at ε={e0:g}; PGD ≤ {_pct(threshold)} at all {len(later)} larger ε"))
    return out


def strength_checks(*, cells: Sequence[dict], strength: dict | None, clean_correct, track, n_classes: int,
                    expect_chance: bool = True, label: str = "") -> list[dict]:
    """Checks (a), (b) and (c) (the last only with ``expect_chance``), failures logged loudly.

    Parameters
    ----------
    cells : sequence of dict
        The run's cells (per-sample ``correct`` over the attacked samples).
    strength : dict or None
        The result's ``strength`` block (`strength_block`).
    clean_correct : array-like of bool, shape (n,)
        Clean correctness of the attacked samples.
    track : array-like, shape (n,)
    n_classes : int
    expect_chance : bool
        False for defenses (check (c) is not applied).
    label : str
        Appended to each name.

    Returns
    -------
    list of dict
        ``{"name", "passed" (True, False or None), "detail"}``.
    """
    checks = convergence_check(cells=cells, strength=strength, clean_correct=clean_correct, track=track,
                               label=label)
    checks += masking_check(cells=cells, label=label)
    if expect_chance:
        checks += chance_every_eps_check(cells=cells, n_classes=int(n_classes), label=label)
    for c in checks:
        if c["passed"] is False:
            log.warning("CHECK FAILED: %s: %s", c["name"], c["detail"])
    return checks
