"""Minimal-norm attacks (`AttackSpec.minimal_norm`, e.g. ``deepfool``): run once per sweep.

Such an attack has no ε budget: it finds, per sample, a small perturbation that flips the
prediction. `minimal_norm_block` runs it once on the clean-correct samples and derives the
accuracy each ε of the grid would leave (`accuracy_at_eps`): a sample is still correct at ε if
it was correct clean and its attack failed or needed an L∞ norm larger than ε.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from artgenre import pass_counts
from artgenre.attacks.cells import seed_cell
from artgenre.attacks.records import delta_stats, norm_stats
from artgenre.attacks.spec import attack_spec
from artgenre.eps import parse_eps
from artgenre.errors import ParameterError, check_int
from artgenre.runtime import log, progress as progress_bar
from artgenre.stats import proportion
from artgenre.threats import DEFAULT_THREAT, threat_model


def accuracy_at_eps(*, linf_values, n_correct: int, n: int, eps: Iterable[float]) -> list[dict]:
    """Accuracy a budget ε would leave, from a minimal-norm attack's per-sample norms.

    Parameters
    ----------
    linf_values : array-like
        Minimal L∞ norms of the *successful* samples (each was correct on clean input).
    n_correct : int
        Samples classified correctly on clean input.
    n : int
        All samples.
    eps : iterable of float

    Returns
    -------
    list of dict
        ``{"eps", "accuracy"}`` per ε (ascending), ``accuracy`` a `proportion`; non-increasing.
    """
    v = np.sort(np.asarray(list(linf_values), dtype=np.float64))
    out = []
    for e in sorted(float(e) for e in eps):
        broken = int(np.searchsorted(v, e, side="right"))
        out.append({"eps": e, "accuracy": proportion(int(n_correct) - broken, int(n))})
    return out


def _on_cpu(classifier) -> bool:
    return getattr(getattr(classifier, "device", None), "type", "cpu") == "cpu"


def _chunk(classifier, batch_size: int) -> int:
    # ART's DeepFool keeps computing every class gradient for the whole batch until its last
    # sample is fooled, so on a CPU (no parallel slack) one sample per call is fastest: 1.4 s
    # vs 1.8 s (batches of 8) per 128x128 segment for the quick CNN. A GPU wants full batches.
    return 1 if _on_cpu(classifier) else int(batch_size)


def _workers(classifier, spec) -> int:
    # One-sample calls side by side, one torch thread each, use a CPU's cores better than one
    # call on all of them (`generate_chunks`); only for attacks whose samples are independent,
    # on a classifier whose passes may run in several threads (`ArtGenreClassifier`).
    if not (spec.sample_parallel and _on_cpu(classifier) and getattr(classifier, "thread_safe_passes", False)):
        return 1
    import torch

    return torch.get_num_threads()


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def minimal_norm_block(
    *,
    craft_classifier,
    eval_classifier=None,
    split,
    eps: Sequence[float],
    batch_size: int,
    seed: int,
    params: Mapping[str, Any] | None = None,
    clean_logits: np.ndarray | None = None,
    on_adversarial: Callable[[str, float, np.ndarray], None] | None = None,
    progress: bool = True,
    attack: str = "deepfool",
    threat: str = DEFAULT_THREAT,
) -> dict:
    """Run a minimal-norm attack once and summarise its per-sample perturbations.

    Parameters
    ----------
    craft_classifier, eval_classifier, split, batch_size, seed, clean_logits, progress, threat
        As in `artgenre.attacks.cells.sweep_cells`.
    eps : sequence of float
        Grid for ``accuracy_at_eps`` (each finite in [0, 1]).
    params : dict, optional
        The attack's parameters (deepfool: ``max_iter``, ``nb_grads``, ``overshoot``).
    on_adversarial : callable, optional
        Called as ``on_adversarial(attack, nan, x_adv)``.
    attack : str
        A minimal-norm attack name.

    Returns
    -------
    dict
        ``attack``; the attack's parameters with their defaults filled in (deepfool:
        ``overshoot``, ``max_iter``, ``nb_grads``); ``success_rate`` (among clean-correct
        samples, judged by ``eval_classifier``); ``l2`` and ``linf`` (``{mean, median, values}``
        over successful samples); ``accuracy_at_eps`` (`accuracy_at_eps`);
        ``adversarial_accuracy`` (accuracy on the attack's outputs; only clean-correct samples
        are attacked, the others are left as they are); ``broken_linf`` (per sample: its
        minimal L∞ norm where the attack succeeded, else None); ``n_correct``; ``n``; ``seconds``;
        ``passes`` (``{"forward", "class_gradient"}`` rows the attack ran through
        ``craft_classifier``, `artgenre.pass_counts`; None for a classifier that does not count).

    Raises
    ------
    ParameterError
        ``attack`` is not minimal-norm, bad ε, batch size or parameters.
    """
    spec = attack_spec(attack)
    if not spec.minimal_norm:
        raise ParameterError(f"attack {attack!r} is not a minimal-norm attack; choose one with an ε budget "
                             "for sweep_cells, or a minimal-norm one such as deepfool")
    eval_classifier = craft_classifier if eval_classifier is None else eval_classifier
    eps_list = list(parse_eps(eps))
    batch_size = check_int("batch_size", batch_size, 1)
    params = dict(params or {})
    tm = threat_model(threat)
    x, y, _track = tm.arrays(split)
    if clean_logits is None:
        clean_logits = tm.predict(eval_classifier, x, split=split, batch_size=batch_size)
    clean_pred = np.asarray(clean_logits).argmax(axis=1)
    correct0 = clean_pred == y
    seed_cell(seed, attack, 0.0)
    t0 = time.perf_counter()
    # Only clean-correct samples can count as broken, so only they are attacked: the attack
    # on a misclassified sample would push it off its (wrong) predicted class, which no
    # reported number uses, at up to max_iter x nb_grads gradients per sample.
    todo = np.flatnonzero(correct0)
    x_adv = x.copy()
    counted = pass_counts.snapshot(craft_classifier)
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(attack, total=len(todo))
        if len(todo):
            x_adv[todo] = tm.craft(attack=attack, classifier=craft_classifier, x=x[todo], y=y[todo],
                                   split=split.take(todo), norm="inf", eps=0.0, batch_size=batch_size,
                                   params=params, chunk=_chunk(craft_classifier, batch_size),
                                   workers=_workers(craft_classifier, spec), advance=lambda k: bar.advance(task, k))
    passes = pass_counts.since(counted, craft_classifier)
    adv_pred = tm.predict(eval_classifier, x_adv, split=split, batch_size=batch_size).argmax(axis=1)
    seconds = time.perf_counter() - t0
    success = correct0 & (adv_pred != y)
    l2, linf, _ = delta_stats(x, x_adv)
    if on_adversarial is not None:
        on_adversarial(attack, float("nan"), x_adv)
    settings = {**spec.defaults(), **params}
    block = {
        "attack": attack,
        **{k: (float(v) if isinstance(v, float) else v) for k, v in settings.items()},
        "success_rate": proportion(int(success.sum()), int(correct0.sum())),
        "l2": norm_stats(l2[success], with_values=True),
        "linf": norm_stats(linf[success], with_values=True),
        "accuracy_at_eps": accuracy_at_eps(linf_values=linf[success], n_correct=int(correct0.sum()), n=len(y),
                                           eps=eps_list),
        "adversarial_accuracy": proportion(int((adv_pred == y).sum()), len(y)),
        # Per attacked sample, so a worst case over attacks can use it (`artgenre.attacks.robust`).
        "broken_linf": [float(v) if s else None for v, s in zip(linf, success)],
        "n_correct": int(correct0.sum()),
        "n": int(len(y)),
        "seconds": float(seconds),
        # Rows the attack ran through the classifier (`artgenre.pass_counts`); None when it
        # does not count them.
        "passes": passes,
        **tm.perturbation_fields(x=x[success], x_adv=x_adv[success]),
    }
    log.info(
        "%s: success %.1f%% of %d correct samples, median minimal L∞ %s, L2 %s (%.1f s)",
        attack, 100 * (block["success_rate"]["value"] if correct0.any() else 0.0), int(correct0.sum()),
        _fmt(block["linf"]["median"]), _fmt(block["l2"]["median"]), seconds,
    )
    return block


def reuse_block(old: Any, *, attack: str, eps: Sequence[float]) -> dict | None:
    """A previous run's block of ``attack`` with ``accuracy_at_eps`` recomputed for the new ε
    grid (the per-sample norms do not depend on it), or None when ``old`` is not one."""
    if not (isinstance(old, dict) and old.get("attack", attack) == attack and isinstance(old.get("linf"), dict)):
        return None
    block = dict(old)
    block["accuracy_at_eps"] = accuracy_at_eps(linf_values=old["linf"].get("values") or [],
                                               n_correct=old["n_correct"], n=old["n"], eps=eps)
    return block
