"""Adversarial training through ART's `AdversarialTrainer`, one epoch at a time.

The shared loop `artgenre.training.fit` (ReduceLROnPlateau, early stopping, best-weight
restore, history, progress) drives the training; this module only supplies its ``epoch_fn``
(``trainer.fit(x, y, nb_epochs=1, batch_size=bs)``) and, for ``adv-fast``, its ``score_fn``.

How ART crafts the training examples (checked against ART 1.20.1): for an attack whose
estimator is the classifier being trained, ``AdversarialTrainer.fit`` shuffles the data, and
for every batch replaces ``ceil(ratio * batch)`` samples (chosen at random; all of them when
``ratio == 1``) with ``attack.generate`` on them, then calls ``classifier.fit`` on the mixed
batch. The attacks reach the model only through ``PyTorchClassifier.loss_gradient``, whose
``training_mode`` defaults to False: examples are crafted with the model in eval mode
(BatchNorm running statistics, no dropout), and ``fit`` switches back to training mode for
the update. Labels are the true labels (no label leaking through predictions).

Inner attacks (`INNER_ATTACKS`), all L∞ at the training budget ε (default 0.01 input units =
0.8 dB, the seed's training ε):

- ``pgd``: ART ``ProjectedGradientDescent`` with one uniform random start and ``steps`` steps
  of ``step_ratio * ε``. Profile ``quick``: 3 steps of ε/2 (cheap on CPU; 3 × ε/2 = 1.5 ε
  still reaches the boundary of the ball from any start); ``paper``: 7 steps of ε/4
  (Madry-style, ~1.75 ε of total travel).
- ``fgsm-rs``: "FGSM with random start" of Wong, Rice & Kolter (2020): start uniformly in the
  ε ball, one signed-gradient step of 1.25 ε, project back to the ball. ART's
  ``FastGradientMethod`` cannot express it: outside ``minimal`` mode its ``generate`` passes
  ``eps`` as the step size and ignores ``eps_step``. ART's ``ProjectedGradientDescent`` with
  ``max_iter=1``, ``eps_step=1.25 ε`` and ``num_random_init=1`` is exactly that recipe, so it
  is used instead.

Fast adversarial training is known to overfit catastrophically (PGD accuracy collapses to ~0
within an epoch while FGSM accuracy soars); `pgd_guard_score` is the ``score_fn`` that keeps the
epoch with the best PGD accuracy on a fixed validation subset, as Wong et al. recommend.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from artgenre.errors import DataError, ParameterError, check_int, check_range
from artgenre.registry import Registry

#: Inner-attack settings per training profile: PGD steps and step size as a fraction of ε.
INNER_PROFILES: dict[str, dict] = {
    "quick": {"steps": 3, "step_ratio": 0.5},
    "paper": {"steps": 7, "step_ratio": 0.25},
}

#: Step of the fast (FGSM with random start) inner attack, as a fraction of ε (Wong et al.).
FAST_STEP_RATIO = 1.25


@dataclass(frozen=True)
class InnerAttack:
    """The attack that crafts training examples.

    Attributes
    ----------
    kind : str
        `INNER_ATTACKS` key: ``"pgd"`` or ``"fgsm-rs"``.
    eps : float
        L∞ budget in input units, in (0, 1].
    steps : int
        PGD iterations (>= 1); ignored by ``fgsm-rs`` (always 1).
    step_ratio : float
        Step size as a fraction of ``eps`` (> 0); ``fgsm-rs`` always uses `FAST_STEP_RATIO`.
    """

    kind: str = "pgd"
    eps: float = 0.01
    steps: int = 3
    step_ratio: float = 0.5

    def __post_init__(self) -> None:
        INNER_ATTACKS[self.kind]
        check_range("train_eps", self.eps, low=0.0, high=1.0, low_open=True)
        check_int("inner_steps", self.steps, 1)
        check_range("inner_step_ratio", self.step_ratio, low=0.0, low_open=True)


INNER_ATTACKS: Registry = Registry("inner attack")


@functools.cache
def _frozen_pgd_class():
    from art.attacks.evasion import ProjectedGradientDescent

    from artgenre.attacks import frozen_weights

    class FrozenWeightsPGD(ProjectedGradientDescent):
        """ART's PGD with the model's weights frozen while it crafts.

        ``loss_gradient`` back-propagates through the whole model, which otherwise also fills
        every weight gradient: about twice the work an input gradient needs. Subclassing (not
        wrapping) keeps it an ``EvasionAttack`` whose ``estimator`` is the trained classifier,
        which is what makes ``AdversarialTrainer`` craft fresh examples per batch. On ART's
        PyTorch path with one random start and no mask, the batches go through
        `artgenre.attacks.library.pgd_torch_driver`: the same examples for the same NumPy seed,
        without the success rate ART's ``generate`` computes for a log line (two forward passes
        per example, about a quarter of PGD-3's time). ART's ``generate`` also draws from
        torch's global generator (its DataLoader), the driver does not: the training after it
        (its shuffling) follows another path from the same seed than after ART's ``generate``.
        """

        def generate(self, x, y=None, **kwargs):
            from art.attacks.evasion.projected_gradient_descent.projected_gradient_descent_pytorch import (
                ProjectedGradientDescentPyTorch,
            )

            from artgenre.attacks.library import pgd_torch_driver

            with frozen_weights(model=getattr(self.estimator, "model", None)):
                if isinstance(self._attack, ProjectedGradientDescentPyTorch) and self.num_random_init <= 1 \
                        and kwargs.get("mask") is None:
                    return pgd_torch_driver(self._attack)(np.ascontiguousarray(x, dtype=np.float32), y)
                return super().generate(x, y=y, **kwargs)

    return FrozenWeightsPGD


def _pgd(classifier, *, eps: float, eps_step: float, steps: int, batch_size: int):
    return _frozen_pgd_class()(
        classifier,
        norm=np.inf,
        eps=float(eps),
        eps_step=float(eps_step),
        max_iter=int(steps),
        num_random_init=1,
        batch_size=int(batch_size),
        verbose=False,
    )


@INNER_ATTACKS.register("pgd")
def _inner_pgd(classifier, *, settings: InnerAttack, batch_size: int):
    return _pgd(classifier, eps=settings.eps, eps_step=settings.step_ratio * settings.eps,
                steps=settings.steps, batch_size=batch_size)


@INNER_ATTACKS.register("fgsm-rs")
def _inner_fgsm_rs(classifier, *, settings: InnerAttack, batch_size: int):
    return _pgd(classifier, eps=settings.eps, eps_step=FAST_STEP_RATIO * settings.eps, steps=1,
                batch_size=batch_size)


def make_inner_attack(*, classifier, settings: InnerAttack, batch_size: int = 32):
    """ART attack crafting training examples against ``classifier`` itself.

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        The classifier being trained (crafting goes through its preprocessing defences, with
        BPDA gradients for a squeezer).
    settings : InnerAttack
    batch_size : int
        Attack batch size (>= 1).

    Returns
    -------
    art.attacks.evasion.ProjectedGradientDescent
    """
    check_int("batch_size", batch_size, 1)
    return INNER_ATTACKS[settings.kind](classifier, settings=settings, batch_size=batch_size)


def make_trainer(*, classifier, settings: InnerAttack, ratio: float, batch_size: int = 32):
    """ART `AdversarialTrainer` with one inner attack against ``classifier``.

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
    settings : InnerAttack
    ratio : float
        Fraction of every batch replaced by adversarial examples, in (0, 1].
    batch_size : int

    Returns
    -------
    art.defences.trainer.AdversarialTrainer

    Raises
    ------
    ParameterError
        ``ratio`` outside (0, 1].
    """
    from art.defences.trainer import AdversarialTrainer

    ratio = check_ratio(ratio)
    attack = make_inner_attack(classifier=classifier, settings=settings, batch_size=batch_size)
    return AdversarialTrainer(classifier, attacks=attack, ratio=ratio)


def check_ratio(ratio) -> float:
    """``ratio`` as float, or `ParameterError` unless it lies in (0, 1]."""
    if isinstance(ratio, bool):
        raise ParameterError(f"ratio={ratio!r} is not valid; expected a number in (0, 1]")
    return check_range("ratio", ratio, low=0.0, high=1.0, low_open=True)


def trainer_epoch_fn(trainer) -> Callable:
    """``epoch_fn`` for `artgenre.training.fit`: one epoch of ``trainer.fit``."""

    def epoch_fn(classifier, x, y, batch_size):
        trainer.fit(x, y, nb_epochs=1, batch_size=batch_size)

    return epoch_fn


def pgd_guard_score(*, x, y, settings: InnerAttack, batch_size: int = 64) -> Callable:
    """``score_fn`` for `artgenre.training.fit`: PGD accuracy on a fixed set of inputs.

    The PGD is the ``pgd`` inner attack with ``settings``' ε, steps and step ratio (one random
    start). Score = PGD accuracy + 0.001 × clean accuracy on the same inputs, so that among
    epochs with equal PGD accuracy the more accurate one wins.

    Parameters
    ----------
    x : np.ndarray, shape (N, C, H, W), float32 in [0, 1]
        Typically a fixed subset of the validation split (see `guard_subset`).
    y : np.ndarray, shape (N,), int
    settings : InnerAttack
    batch_size : int

    Returns
    -------
    callable
        ``score_fn(classifier) -> float`` in [0, 1.001].
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if len(x) == 0 or len(x) != len(y):
        raise DataError(f"the PGD guard needs matching non-empty x and y; got {len(x)} and {len(y)}")
    pgd = InnerAttack(kind="pgd", eps=settings.eps, steps=max(settings.steps, 1),
                      step_ratio=settings.step_ratio)

    def score_fn(classifier) -> float:
        attack = make_inner_attack(classifier=classifier, settings=pgd, batch_size=batch_size)
        x_adv = attack.generate(x, y=y)
        robust = float((classifier.predict(x_adv, batch_size=batch_size).argmax(1) == y).mean())
        clean = float((classifier.predict(x, batch_size=batch_size).argmax(1) == y).mean())
        return robust + 1e-3 * clean

    return score_fn


def guard_subset(*, split, size: int, seed: int):
    """A fixed, seeded subset of ``size`` samples of ``split`` (all of it if smaller).

    Returns
    -------
    (x, y) : float32 array (n, C, H, W) and int64 array (n,)
    """
    n = len(split.y)
    rng = np.random.default_rng(seed)
    index = np.sort(rng.permutation(n)[: min(int(size), n)])
    return np.asarray(split.x[index], dtype=np.float32), np.asarray(split.y[index], dtype=np.int64)


def adversarial_fit(
    *,
    classifier,
    data,
    train_config,
    settings: InnerAttack,
    ratio: float,
    score_fn: Callable | None = None,
    progress: bool = True,
):
    """Adversarially train ``classifier`` in place with the shared training loop.

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        Fresh or fine-tuned start; a squeezer attached with ``apply_fit=True`` squeezes the
        (mixed) training batches, and the inner attack crafts through it (BPDA).
    data : artgenre.data.Dataset
        Uses ``train`` and ``val``.
    train_config : artgenre.training.TrainConfig
        Epochs, patience, batch size, LR schedule.
    settings : InnerAttack
    ratio : float
        In (0, 1]: 0.5 for mixed, 1.0 for pure adversarial training.
    score_fn : callable, optional
        Model selection score (default: −validation loss); `pgd_guard_score` for ``adv-fast``.
    progress : bool

    Returns
    -------
    artgenre.training.FitResult
    """
    from artgenre.training import fit

    trainer = make_trainer(classifier=classifier, settings=settings, ratio=ratio,
                           batch_size=train_config.batch_size)
    return fit(
        classifier=classifier,
        data=data,
        config=train_config,
        epoch_fn=trainer_epoch_fn(trainer),
        score_fn=score_fn,
        progress=progress,
    )
