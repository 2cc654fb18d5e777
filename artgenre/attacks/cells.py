"""The (attack, ε) cell engine: accuracy of a classifier under each attack at each budget.

One function, `sweep_cells`, evaluates cells for every scenario: white-box (craft on the
evaluated classifier), transfer (craft on a source model, evaluate the target), non-adaptive
defense evaluation (craft on the undefended classifier, evaluate the defended one) and
adaptive evaluation (craft on the defended classifier).

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
- ε = 0 cells use ``x_adv = x`` and the clean logits, so they equal the clean accuracy exactly.

Every cell is seeded from (seed, attack, ε) alone, so a cell's value does not depend on which
other cells ran before it, and a resumed sweep gives the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from artgenre import pass_counts
from artgenre.attacks.spec import attack_spec
from artgenre.eps import eps_key, parse_eps, same_eps
from artgenre.errors import ParameterError, check_int
from artgenre.runtime import log, progress as progress_bar, torch_threads
from artgenre.stats import segment_proportion
from artgenre.threats import DEFAULT_THREAT, threat_model

#: Cell ``norm`` of an L∞ budget (the only one of the spectrogram threat model).
DEFAULT_NORM = "inf"


def seed_cell(seed: int, attack: str, eps: float) -> None:
    """Seed NumPy and torch for the cell (seed, attack, ε), independently of other cells."""
    import torch

    mixed = (int(seed) * 1_000_003 + zlib.crc32(f"{attack}|{eps:.12g}".encode())) % 2**32
    np.random.seed(mixed)
    torch.manual_seed(mixed)


def find_cell(cells: Iterable[dict] | None, attack: str, eps: float, adaptive: bool,
              threat: str = DEFAULT_THREAT, norm: str = DEFAULT_NORM) -> dict | None:
    """The cell of (attack, ε, adaptive, threat, norm) in ``cells`` (ε by `same_eps`), else None.
    Cells written before threat models (or norms) existed count as ``spectrogram`` (``inf``)."""
    for c in cells or ():
        if (c.get("attack") == attack and same_eps(c.get("eps", -1), eps)
                and bool(c.get("adaptive")) == bool(adaptive) and c.get("threat", DEFAULT_THREAT) == threat
                and c.get("norm", DEFAULT_NORM) == norm):
            return c
    return None


def generate_chunks(attack, x: np.ndarray, y: np.ndarray, chunk: int, advance: Callable[[int], None],
                    workers: int = 1) -> np.ndarray:
    """``attack.generate`` over ``chunk``-sized slices (to move a progress bar within a cell).

    With ``workers`` > 1 that many slices run at a time in threads, each on one torch thread
    (`artgenre.runtime.torch_threads`), for attacks whose slices are independent and
    deterministic (`AttackSpec.sample_parallel`). One-sample passes leave much of a second core
    idle (DeepFool on a 2-core CPU: 1.4× / 1.6× faster this way for the CNN / ResNet18). The
    examples are those of one call after another on one torch thread, bit for bit (tested); on
    every thread they differ only where a kernel rounds differently with the thread count (not
    at all for the quick CNN and ResNet18 in ``benchmarks/deepfool_gradients.py``; by 2e-7 for
    the tests' tiny net). ``advance`` is called from this thread only.
    """
    out = np.empty_like(x)
    starts = range(0, len(x), chunk)

    def one(i: int) -> int:
        out[i : i + chunk] = attack.generate(x[i : i + chunk], y[i : i + chunk])
        return min(chunk, len(x) - i)

    if workers <= 1 or len(starts) <= 1:
        for i in starts:
            advance(one(i))
        return out
    from concurrent.futures import ThreadPoolExecutor

    with attack.weights_frozen(), torch_threads(1):
        pool = ThreadPoolExecutor(max_workers=min(int(workers), len(starts)), thread_name_prefix="artgenre-craft")
        try:
            for future in [pool.submit(one, i) for i in starts]:
                advance(future.result())
        finally:
            # On an error or an interrupt, samples not started yet are dropped, not crafted.
            pool.shutdown(wait=True, cancel_futures=True)
    return out


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


def sweep_cells(
    *,
    craft_classifier,
    eval_classifier=None,
    split,
    attacks: Sequence[str],
    eps: Sequence[float],
    batch_size: int,
    seed: int,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    on_adversarial: Callable[[str, float, np.ndarray], None] | None = None,
    existing_cells: Iterable[dict] | None = None,
    save: Callable[[list], None] | None = None,
    adaptive: bool = False,
    clean_logits: np.ndarray | None = None,
    progress: bool = True,
    threat: str = DEFAULT_THREAT,
    norm: str = DEFAULT_NORM,
    store=None,
    share: Iterable[tuple[str, float]] = (),
) -> list[dict]:
    """Evaluate every (attack, ε) cell: craft on one classifier, evaluate on another.

    Parameters
    ----------
    craft_classifier : ART classifier
        The attacks' gradients come from it (the source model for transfer, the undefended
        model for non-adaptive and the defended one for adaptive defense evaluation).
    eval_classifier : ART classifier, optional
        Classifier whose accuracy is reported; default ``craft_classifier`` (white-box).
    split : artgenre.data.Split
        Its perturbed array (``threat``'s `inputs`, for ``spectrogram`` ``x`` of shape
        (N, C, H, W) float32 in [0, 1]), ``y`` (N,) int labels, ``track`` (N,) ids.
    attacks : sequence of str
        ε-bounded attack names (`ATTACKS` keys or ``art:<Class>``). Minimal-norm attacks
        (``deepfool``) are rejected: run `artgenre.attacks.minimal.minimal_norm_block`.
    eps : sequence of float
        Budgets, each finite in [0, 1] (`artgenre.eps.parse_eps`).
    batch_size : int
        Attack and prediction batch size (>= 1).
    seed : int
        Each cell is seeded from (seed, attack, ε).
    params : mapping attack -> dict, optional
        Attack parameters (see `artgenre.attacks.attack_params`).
    on_adversarial : callable, optional
        ``on_adversarial(attack, eps, x_adv)`` after each computed cell (not for resumed ones);
        ``x_adv`` has the shape of the perturbed array (``x_adv is x`` at ε = 0).
    existing_cells : iterable of dict, optional
        Finished cells (e.g. from an interrupted run); a requested (attack, ε, adaptive,
        threat) found here is reused, not recomputed.
    save : callable, optional
        ``save(cells)`` after each computed cell with the requested cells finished so far.
    adaptive : bool
        Stored in each cell (True when the attack is crafted through the defense).
    clean_logits : np.ndarray, shape (N, n_classes), optional
        ``eval_classifier``'s logits on the inputs if already computed.
    progress : bool
        Show a progress bar (segments attacked over all cells).
    threat : str
        `artgenre.threats.THREAT_MODELS` key; recorded in each cell. Crafting and prediction
        go through it (`ThreatModel.craft` / ``predict``, per reference group for
        ``waveform``) and it adds its own fields (`ThreatModel.measure`).
    norm : str
        Budget of ``eps``: ``"inf"`` (L∞) or ``"l2rel"`` (‖δ‖ ≤ ε‖x‖, waveform); recorded in
        each cell and part of its key.
    store : artgenre.attacks.store.AdversarialStore, optional
        Each cell's adversarial set is read from it when another run of the grid stored the same
        one (``craft_classifier`` plain, see `artgenre.attacks.store`; the cell then records
        ``reused_adversarial: true`` and the seconds of its evaluation only). A crafted cell
        records ``passes``: the rows its attack ran through ``craft_classifier``
        (`artgenre.pass_counts`; absent for a classifier that does not count them).
    share : iterable of (attack, ε)
        Cells whose adversarial sets are written to ``store`` for other runs to read.

    Returns
    -------
    list of dict
        The requested cells in (attack, ε) order.

    Raises
    ------
    ParameterError
        Bad ε, unknown attack or parameter, a minimal-norm attack, bad batch size.
    DataError
        Malformed or empty split.
    """
    eval_classifier = craft_classifier if eval_classifier is None else eval_classifier
    eps_list = list(parse_eps(eps))
    batch_size = check_int("batch_size", batch_size, 1)
    attacks = list(attacks)
    for a in attacks:
        if not attack_spec(a).eps_bounded:
            raise ParameterError(
                f"attack {a!r} finds minimal perturbations and has no ε budget; run it with "
                "minimal_norm_block (run_attack does) instead of sweep_cells"
            )
    params = {a: dict((params or {}).get(a, {})) for a in attacks}
    tm = threat_model(threat)
    x, y, track = tm.arrays(split)
    n_classes = int(eval_classifier.nb_classes)
    if clean_logits is None:
        clean_logits = tm.predict(eval_classifier, x, split=split, batch_size=batch_size)
    clean_pred = np.asarray(clean_logits).argmax(axis=1)
    existing = list(existing_cells or ())

    todo = [(a, e) for a in attacks for e in eps_list if find_cell(existing, a, e, adaptive, threat, norm) is None]
    cells: list[dict] = []
    # Chunks of a few batches keep the progress bar moving within a cell.
    chunk = 8 * batch_size
    digest = None
    if store is not None and todo:
        from artgenre.attacks.store import classifier_digest

        digest = classifier_digest(craft_classifier)
    shared = {(a, eps_key(e)) for a, e in share}
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task("attack sweep", total=len(todo) * len(x))
        for a in attacks:
            for e in eps_list:
                old = find_cell(existing, a, e, adaptive, threat, norm)
                if old is not None:
                    cells.append(old)
                    continue
                bar.update(task, description=f"{a} ε={e:g}" + (" (adaptive)" if adaptive else ""))
                seed_cell(seed, a, e)
                t0 = time.perf_counter()
                reused, passes = False, None
                if e == 0:
                    x_adv, logits = x, clean_logits
                    bar.advance(task, len(x))
                else:
                    key = None if digest is None else store.key(
                        digest=digest, attack=a, eps=e, norm=norm, params=params[a], seed=seed, chunk=chunk,
                        threat=threat, x=x, y=y, split=split)
                    x_adv = None if key is None else store.get(key, like=x)
                    reused = x_adv is not None
                    if reused:
                        log.info("%s ε=%g: adversarial set read from %s", a, e, store.path(key))
                        bar.advance(task, len(x))
                    else:
                        counted = pass_counts.snapshot(craft_classifier)
                        x_adv = tm.craft(attack=a, classifier=craft_classifier, x=x, y=y, split=split, norm=norm,
                                         eps=e, batch_size=batch_size, params=params[a], chunk=chunk,
                                         advance=lambda k: bar.advance(task, k))
                        passes = pass_counts.since(counted, craft_classifier)
                        if key is not None and (a, eps_key(e)) in shared:
                            store.put(key, x_adv)
                    logits = tm.predict(eval_classifier, x_adv, split=split, batch_size=batch_size)
                seconds = time.perf_counter() - t0
                extra = tm.measure(norm=norm, eps=e, x=x, x_adv=x_adv, y=y, split=split,
                                   classifier=eval_classifier, clean_pred=clean_pred, batch_size=batch_size)
                if reused:
                    extra = {**extra, "reused_adversarial": True}
                if passes is not None:
                    extra = {**extra, "passes": passes}
                cell = make_cell(
                    attack=a, eps=e, adaptive=adaptive, x=x, x_adv=x_adv, logits=logits,
                    clean_pred=clean_pred, y=y, track=track, n_classes=n_classes,
                    seconds=seconds, threat=threat, norm=norm, extra=extra,
                )
                cells.append(cell)
                log.info(
                    "%s ε=%g%s: accuracy %.1f%% (success %.1f%%) in %.1f s", a, e,
                    " (adaptive)" if adaptive else "", 100 * cell["segment_accuracy"]["value"],
                    100 * (cell["success_rate"]["value"] if cell["success_rate"]["n"] else 0.0), cell["seconds"],
                )
                if on_adversarial is not None:
                    on_adversarial(a, e, x_adv)
                if save is not None:
                    save(list(cells))
    return cells
