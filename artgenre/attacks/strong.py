"""Stronger attacks for a robust-accuracy claim: APGD, Square and AutoAttack (all ART classes).

- ``apgd-ce`` / ``apgd-dlr``: ART ``AutoProjectedGradientDescent`` (Croce & Hein 2020) with
  ``loss_type`` ``"cross_entropy"`` / ``"difference_logits_ratio"``; L∞ by default (``norm=2``
  for an L2 ball of radius ε), ``max_iter=100`` iterations, ``nb_random_init=1`` start (APGD
  always starts from a random point of the ball), initial step ``step_ratio * ε = 2ε`` (the
  paper's η⁽⁰⁾; ART's default ``eps_step=0.1`` is absolute and would ignore ε). The DLR loss
  needs at least 3 classes.
- ``square``: ART ``SquareAttack`` (Andriushchenko et al. 2020), gradient-free random search,
  ``max_iter=1000`` queries, ``nb_restarts=1``, ``p_init=0.8``. It only uses predictions, so it
  is the gradient-masking reference of `artgenre.attacks.checks`.
- ``autoattack``: ART ``AutoAttack`` over APGD-CE, APGD-DLR and Square, each run by ART on the
  samples still robust after the previous ones (ART's ``run_attack`` keeps an earlier
  success and checks the budget). ART has no FAB; its own default list would also run DeepFool
  (not ε-bounded) and 5 restarts × 5000 Square queries, so the components are built here with
  the same settings as the entries above. ``targeted=True`` adds ART's targeted pass of
  APGD-DLR over every other class (APGD-T; Square is skipped by ART there).

- ``detector-pgd``: the detector-aware attack of `artgenre.defenses.detector_attack` (BPDA
  through the squeezers, penalty on the detector score) for the ``detector`` defense.

Labels: every class accepts integer labels (ART one-hot encodes them); ``y=None`` would use the
model's predictions. All four respect the ε ball in their norm, so the L∞ budget check of
`artgenre.attacks.checks` applies (an L2 ball of radius ε lies inside the L∞ ball).
"""

from __future__ import annotations

import sys
import types

import numpy as np

from artgenre import pass_counts
from artgenre.attacks.spec import AttackSpec, PreparedAttack, identity_attack, prepared, register_attack
from artgenre.attacks.spec import check_batch_size, check_eps
from artgenre.errors import ParameterError, check_choice, check_int, check_range

#: APGD iterations (ART's and the paper's default); the quick profile passes fewer.
APGD_STEPS = 100
#: APGD initial step as a fraction of ε (Croce & Hein 2020: η⁽⁰⁾ = 2ε).
APGD_STEP_RATIO = 2.0
#: Square queries per restart.
SQUARE_QUERIES = 1000
#: Norm names accepted by ``norm`` and what ART receives.
NORMS = {"inf": np.inf, "2": 2}


def _norm(norm) -> float | int:
    key = "inf" if norm in (np.inf, "inf", "linf") else str(norm).strip()
    check_choice("norm", key, tuple(NORMS))
    return NORMS[key]


def _apgd(classifier, *, eps: float, batch_size: int, loss_type: str, max_iter: int, restarts: int,
          step_ratio: float, norm, targeted: bool = False):
    from art.attacks.evasion import AutoProjectedGradientDescent

    if int(classifier.nb_classes) < 3 and loss_type == "difference_logits_ratio":
        raise ParameterError(f"apgd-dlr needs at least 3 classes; the classifier has {classifier.nb_classes}")
    return AutoProjectedGradientDescent(
        classifier, norm=_norm(norm), eps=eps, eps_step=step_ratio * eps, max_iter=max_iter,
        targeted=targeted, nb_random_init=restarts, batch_size=batch_size,
        loss_type=_apgd_loss_type(classifier, loss_type), verbose=False,
    )


def _apgd_loss_type(classifier, loss_type: str) -> str | None:
    """ART's APGD re-wraps the model in a plain ``PyTorchClassifier`` for a named loss. An
    `ArtGenreClassifier` whose loss is plain mean cross-entropy is that loss already, and
    attacked as itself (``loss_type=None``) it keeps its forward graph between ``compute_loss``
    and ``loss_gradient`` (`artgenre.loss_graph`): the same examples, one forward pass fewer per
    iteration."""
    import torch

    from artgenre.art_adapter import ArtGenreClassifier

    loss = getattr(classifier, "_loss", None)
    plain_ce = (isinstance(loss, torch.nn.CrossEntropyLoss) and loss.weight is None and loss.reduction == "mean"
                and loss.label_smoothing == 0.0 and loss.ignore_index == -100)
    return None if loss_type == "cross_entropy" and plain_ce and isinstance(classifier, ArtGenreClassifier) \
        else loss_type


def _check_apgd(max_iter, restarts, step_ratio) -> tuple[int, int, float]:
    return (check_int("max_iter", max_iter, 1), check_int("nb_random_init", restarts, 1),
            check_range("step_ratio", step_ratio, low=0.0, high=4.0, low_open=True))


def _apgd_factory(loss_type: str, name: str):
    def factory(classifier, *, eps: float, batch_size: int, max_iter: int = APGD_STEPS, nb_random_init: int = 1,
                step_ratio: float = APGD_STEP_RATIO, norm: str = "inf") -> PreparedAttack:
        eps, batch_size = check_eps(eps), check_batch_size(batch_size)
        max_iter, nb_random_init, step_ratio = _check_apgd(max_iter, nb_random_init, step_ratio)
        _norm(norm)
        if eps == 0:
            return identity_attack(name, eps)
        attack = _apgd(classifier, eps=eps, batch_size=batch_size, loss_type=loss_type, max_iter=max_iter,
                       restarts=nb_random_init, step_ratio=step_ratio, norm=norm)
        return prepared(name, eps, classifier, art_attack=attack)

    factory.__doc__ = f"""APGD with the {loss_type} loss (module docstring).

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
    eps : float
        Budget in [0, 1] (radius of the ``norm`` ball).
    batch_size : int
        >= 1.
    max_iter : int
        Iterations per start (>= 1).
    nb_random_init : int
        Random starts (>= 1).
    step_ratio : float
        Initial step over ε, in (0, 4].
    norm : {{"inf", "2"}}

    Returns
    -------
    PreparedAttack
        The identity at ε = 0.

    Raises
    ------
    ParameterError
        Out-of-range values, an unknown norm, fewer than 3 classes for the DLR loss.
    """
    return factory


def square(classifier, *, eps: float, batch_size: int, max_iter: int = SQUARE_QUERIES, nb_restarts: int = 1,
           p_init: float = 0.8, norm: str = "inf") -> PreparedAttack:
    """Square attack: gradient-free random search in the ε ball (module docstring).

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        Image-shaped inputs (N, C, H, W) only (ART's restriction).
    eps : float
        Budget in [0, 1].
    batch_size : int
        Prediction batch size (>= 1).
    max_iter : int
        Queries per restart (>= 1).
    nb_restarts : int
        Restarts (>= 1).
    p_init : float
        Initial fraction of the input changed per square, in (0, 1].
    norm : {"inf", "2"}
        Ball of the search.

    Returns
    -------
    PreparedAttack
        ART's ``SquareAttack`` (the identity at ε = 0).

    Raises
    ------
    ParameterError
        Out-of-range values or an unknown norm.
    """
    from art.attacks.evasion import SquareAttack

    eps, batch_size = check_eps(eps), check_batch_size(batch_size)
    max_iter, nb_restarts = check_int("max_iter", max_iter, 1), check_int("nb_restarts", nb_restarts, 1)
    p_init = check_range("p_init", p_init, low=0.0, high=1.0, low_open=True)
    art_norm = _norm(norm)
    if eps == 0:
        return identity_attack("square", eps)
    attack = SquareAttack(classifier, norm=art_norm, max_iter=max_iter, eps=eps, p_init=p_init,
                          nb_restarts=nb_restarts, batch_size=batch_size, verbose=False)
    return prepared("square", eps, classifier, art_attack=attack)


def _ensure_multiprocess() -> None:
    # ART's AutoAttack.generate imports `multiprocess` unconditionally but uses it only with
    # parallel_pool_size > 0, which this package never sets; without the optional package the
    # sequential path would fail on the import alone.
    if "multiprocess" in sys.modules:
        return
    try:
        import multiprocess  # noqa: F401
    except ImportError:
        placeholder = types.ModuleType("multiprocess")
        placeholder.__doc__ = "placeholder: ART's parallel AutoAttack is unavailable without `multiprocess`"
        sys.modules["multiprocess"] = placeholder


def autoattack(classifier, *, eps: float, batch_size: int, max_iter: int = APGD_STEPS,
               square_max_iter: int = SQUARE_QUERIES, targeted: bool = False, norm: str = "inf") -> PreparedAttack:
    """ART ``AutoAttack`` over APGD-CE, APGD-DLR and Square (module docstring).

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        At least 3 classes (APGD-DLR).
    eps : float
        Budget in [0, 1].
    batch_size : int
        >= 1.
    max_iter : int
        APGD iterations (>= 1), one random start each.
    square_max_iter : int
        Square queries (>= 1).
    targeted : bool
        Also run ART's targeted pass (every other class as target).
    norm : {"inf", "2"}
        Ball shared by the three components.

    Returns
    -------
    PreparedAttack
        ART's ``AutoAttack``, per sample the first component that succeeds (identity at ε = 0).

    Raises
    ------
    ParameterError
        Out-of-range values, an unknown norm, fewer than 3 classes.
    """
    from art.attacks.evasion import AutoAttack, SquareAttack

    eps, batch_size = check_eps(eps), check_batch_size(batch_size)
    max_iter, _, step_ratio = _check_apgd(max_iter, 1, APGD_STEP_RATIO)
    square_max_iter = check_int("square_max_iter", square_max_iter, 1)
    if not isinstance(targeted, (bool, np.bool_)):
        raise ParameterError(f"targeted={targeted!r} is not valid; expected true or false")
    art_norm = _norm(norm)
    if eps == 0:
        return identity_attack("autoattack", eps)
    parts = [_apgd(classifier, eps=eps, batch_size=batch_size, loss_type=loss, max_iter=max_iter, restarts=1,
                   step_ratio=step_ratio, norm=norm)
             for loss in ("cross_entropy", "difference_logits_ratio")]
    parts.append(SquareAttack(classifier, norm=art_norm, max_iter=square_max_iter, eps=eps, p_init=0.8,
                              nb_restarts=1, batch_size=batch_size, verbose=False))
    attack = AutoAttack(classifier, norm=art_norm, eps=eps, eps_step=step_ratio * eps, attacks=parts,
                        batch_size=batch_size, targeted=bool(targeted), parallel_pool_size=0)

    def fn(x: np.ndarray, y) -> np.ndarray:
        _ensure_multiprocess()
        return np.asarray(attack.generate(x, y=y), dtype=np.float32)

    return prepared("autoattack", eps, classifier, art_attack=attack, fn=fn)


def detector_pgd(classifier, *, eps: float, batch_size: int, steps: int = 20, step_ratio: float = 0.1,
                 restarts: int = 1, norm="inf") -> PreparedAttack:
    """Detector-aware PGD (`artgenre.defenses.detector_attack.detector_aware_pgd`).

    Against a classifier carrying ``detector_guard = (squeezers, threshold)`` (set by the
    ``detector`` defense once calibrated) it maximises CE − λ·relu(score − τ + margin) and keeps
    per sample an accepted-and-misclassified iterate; without a guard it is plain sign-gradient
    PGD on the cross-entropy (no detector to evade).

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        Inputs (N, ...) within its ``clip_values``; the squeezers act on the spectrogram model's
        input (`artgenre.frontend.split_features`).
    eps : float
        Budget in [0, 1] (L∞, or per-sample L2 with ``norm=2``).
    batch_size : int
        >= 1.
    steps, step_ratio, restarts : int, float, int
        Steps of ``step_ratio · ε`` (in (0, 1]) per random start; ``restarts`` >= 1 starts.
    norm : {"inf", 2}
        The budget's norm.

    Returns
    -------
    PreparedAttack
        The identity at ε = 0; random starts seeded from NumPy's global generator (the cell seed).

    Raises
    ------
    ParameterError
        Out-of-range values.
    """
    eps, batch_size = check_eps(eps), check_batch_size(batch_size)
    steps, restarts = check_int("steps", steps, 1), check_int("restarts", restarts, 1)
    step_ratio = check_range("step_ratio", step_ratio, low=0.0, high=1.0, low_open=True)
    from artgenre.defenses.detector_attack import check_norm

    norm = check_norm(norm)
    if eps == 0:
        return identity_attack("detector-pgd", eps)
    squeezers, threshold = getattr(classifier, "detector_guard", None) or ([], float("inf"))
    clip_values = getattr(classifier, "clip_values", None)
    clip = (0.0, 1.0) if clip_values is None else (float(clip_values[0]), float(clip_values[1]))

    def fn(x: np.ndarray, y) -> np.ndarray:
        from artgenre.defenses.detector_attack import detector_aware_pgd

        if y is None:
            y = classifier.predict(x, batch_size=batch_size).argmax(axis=1)
        y = np.asarray(y)
        x_adv, _ = detector_aware_pgd(
            model=classifier.model, squeezers=squeezers, threshold=threshold, x=x,
            y=y.argmax(axis=1) if y.ndim == 2 else y, eps=eps, steps=steps, step_ratio=step_ratio,
            restarts=restarts, batch_size=batch_size, seed=int(np.random.randint(0, 2**31 - 1)),
            device=getattr(classifier, "device", None), norm=norm,
            clip_values=clip, count=lambda k: pass_counts.add(classifier, "gradient", k))
        return x_adv

    return prepared("detector-pgd", eps, classifier, fn=fn)


for _spec in (
    AttackSpec("detector-pgd", detector_pgd, "detector-aware PGD against a guarded classifier (steps, "
               "step_ratio, restarts, norm); plain PGD without a detector", budget_checked=True),
    AttackSpec("apgd-ce", _apgd_factory("cross_entropy", "apgd-ce"),
               "APGD, cross-entropy loss (max_iter, nb_random_init, step_ratio, norm)", budget_checked=True,
               cascade=True),
    AttackSpec("apgd-dlr", _apgd_factory("difference_logits_ratio", "apgd-dlr"),
               "APGD, DLR loss, ≥ 3 classes (max_iter, nb_random_init, step_ratio, norm)", budget_checked=True,
               cascade=True),
    AttackSpec("square", square, "Square attack, gradient-free (max_iter, nb_restarts, p_init, norm)",
               budget_checked=True, gradient_free=True),
    AttackSpec("autoattack", autoattack, "AutoAttack: APGD-CE, APGD-DLR, Square (max_iter, square_max_iter, "
               "targeted, norm)", budget_checked=True),
):
    register_attack(_spec)
