"""What an attack is: `AttackSpec` (a registry entry with behaviour) and `PreparedAttack`.

An `AttackSpec` knows how to build the attack (its factory), which parameters it accepts and
their defaults, and the facts the rest of the package asks about it instead of testing names:
whether it respects an ε budget (``eps_bounded``) or finds minimal perturbations that a sweep
runs once (``minimal_norm``), whether its L∞ perturbation is checked against ε
(``budget_checked``) and which threat models (`artgenre.threats.THREAT_MODELS`) it applies to.

While a gradient attack runs, the model's parameters are frozen (``requires_grad=False``):
ART's ``loss_gradient`` calls ``loss.backward()``, which would otherwise also compute every
weight gradient, about doubling the cost of a step, although attacks only need the input
gradient. The previous flags are restored afterwards.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from artgenre.errors import ParameterError, check_int, check_range
from artgenre.evaluation import as_float32
from artgenre.registry import Registry

#: Prefix of names resolved to ART evasion classes (`artgenre.attacks.art_classes`).
ART_PREFIX = "art:"
#: Keywords every factory receives from the sweep, never from ``params``.
SWEEP_KEYWORDS = ("eps", "batch_size")


@contextlib.contextmanager
def frozen_weights(*, model) -> Iterator[None]:
    """Context manager: ``requires_grad=False`` on every parameter of ``model``, restored on
    exit. Input gradients are unaffected; weight gradients are simply not computed."""
    params = [p for p in model.parameters() if p.requires_grad] if model is not None else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _as_labels(y) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    return y.astype(np.int64) if y.ndim == 1 else y


class PreparedAttack:
    """An attack ready to run: ``generate(x, y)`` returns adversarial examples.

    Parameters
    ----------
    name : str
        Registry (or ``art:``) name.
    eps : float
        Budget in the threat model's units (informational for minimal-norm attacks).
    art_attack : art.attacks.EvasionAttack or None
        The underlying ART object; None for attacks implemented here.
    model : torch.nn.Module or None
        Model whose weights are frozen while ``art_attack`` runs.
    fn : callable, optional
        ``fn(x, y) -> x_adv`` run instead of ``art_attack.generate`` (attacks implemented here,
        or a leaner driver of ``art_attack``'s own batch routine).
    """

    def __init__(self, *, name: str, eps: float, art_attack=None, model=None, fn: Callable | None = None):
        if art_attack is None and fn is None:
            raise ValueError("PreparedAttack needs art_attack or fn")
        self.name = name
        self.eps = float(eps)
        self.art_attack = art_attack
        self._model = model
        self._fn = fn

    def generate(self, x, y=None) -> np.ndarray:
        """Adversarial examples for ``x``.

        Parameters
        ----------
        x : np.ndarray, shape (N, ...) float, values in the threat model's clip range
        y : np.ndarray, shape (N,) int labels (or (N, K) one-hot), optional
            True labels; without them ART attacks use the model's predictions.

        Returns
        -------
        np.ndarray, shape of ``x``, float32
        """
        x = as_float32(x)
        y = _as_labels(y)
        if len(x) == 0:
            return x.copy()
        with frozen_weights(model=self._model):
            if self._fn is not None:
                return self._fn(x, y)
            return np.asarray(self.art_attack.generate(x, y=y), dtype=np.float32)

    def weights_frozen(self):
        """Context manager: the model's weights frozen as `generate` freezes them, for callers
        that run `generate` from several threads (each call then finds them frozen already and
        restores nothing)."""
        return frozen_weights(model=self._model)

    def __repr__(self) -> str:
        inner = type(self.art_attack).__name__ if self.art_attack is not None else "numpy"
        return f"PreparedAttack({self.name!r}, eps={self.eps:g}, {inner})"


def identity_attack(name: str, eps: float) -> PreparedAttack:
    """The attack a zero budget allows: ``x`` itself (ART rejects a zero step size)."""
    return PreparedAttack(name=name, eps=eps, fn=lambda x, y: x.copy())


def model_of(classifier):
    """The torch model inside an ART classifier (None for objects without one)."""
    return getattr(classifier, "model", None)


#: Attributes an attack reads off its classifier besides ART's (``detector_guard``: the detector
#: that ``detector-pgd`` evades); code that rebuilds a classifier around another copies them.
CLASSIFIER_CONTEXT = ("detector_guard",)


def prepared(name: str, eps: float, classifier, *, art_attack=None, fn=None) -> PreparedAttack:
    """`PreparedAttack` ``name`` at ``eps`` against ``classifier`` (its weights are frozen while
    it runs): ``art_attack.generate`` unless ``fn(x, y)`` is given."""
    return PreparedAttack(name=name, eps=eps, art_attack=art_attack, model=model_of(classifier), fn=fn)


def check_eps(eps) -> float:
    """``eps`` as float in [0, 1], else `ParameterError` (booleans and NaN rejected)."""
    if isinstance(eps, bool):
        raise ParameterError(f"eps={eps!r} is not valid; expected a number in [0, 1]")
    return check_range("eps", eps, low=0.0, high=1.0)


def check_batch_size(batch_size) -> int:
    """``batch_size`` as an int >= 1, else `ParameterError`."""
    return check_int("batch_size", batch_size, 1)


@dataclass(frozen=True)
class AttackSpec:
    """One attack: how to build it and what the sweep, the checks and the report may assume.

    Attributes
    ----------
    name : str
    factory : callable
        ``factory(classifier, *, eps, batch_size, **params) -> PreparedAttack``.
    summary : str
        One line for help texts.
    eps_bounded : bool
        Respects the ε budget (swept over the ε grid).
    minimal_norm : bool
        Finds per-sample minimal perturbations; run once, accuracy-at-ε derived from the
        norms (`artgenre.attacks.minimal`). Exclusive with ``eps_bounded``.
    budget_checked : bool
        Its maximum L∞ perturbation must stay within ε (an automatic check).
    threats : tuple of str
        `artgenre.threats.THREAT_MODELS` keys it can run under.
    accepted : tuple of str or None
        Parameter names besides ``eps``/``batch_size``; None reads them off ``factory``.
    gradient_free : bool
        Uses predictions only (e.g. ``square``): the gradient-masking reference of
        `artgenre.attacks.strength`.
    per_sample_budget : bool
        The factory takes ``scale``, an (N,) array of per-sample budget multipliers (sample
        ``i`` gets ``eps * scale[i]``), and the attack it returns runs on exactly those N rows:
        a per-example L2 budget is then crafted in batches (`artgenre.threats_waveform`), not
        one example per call.
    sample_parallel : bool
        Deterministic and sample by sample: a sample's result depends on that sample and the
        classifier only (no random draws, nothing carried between samples). One-sample calls on
        a CPU may then run side by side, one thread each (`artgenre.attacks.cells.generate_chunks`).
    cascade : bool
        Run as AutoAttack runs its components (`artgenre.attacks.cascade`): in a sweep, after the
        attacks without the flag and only on the segments they all left correct at that ε; its
        cell is the ensemble's adversarial set, so its accuracy is that of every attack before
        it and itself together.
    """

    name: str
    factory: Callable
    summary: str = ""
    eps_bounded: bool = True
    minimal_norm: bool = False
    budget_checked: bool = False
    threats: tuple[str, ...] = ("spectrogram",)
    accepted: tuple[str, ...] | None = None
    gradient_free: bool = False
    per_sample_budget: bool = False
    sample_parallel: bool = False
    cascade: bool = False

    def __post_init__(self) -> None:
        if self.eps_bounded == self.minimal_norm:
            raise ValueError(f"attack {self.name!r}: exactly one of eps_bounded and minimal_norm must be set")

    def params(self) -> tuple[str, ...]:
        """Parameter names accepted besides ``eps`` and ``batch_size``: ``accepted``, else the
        factory's ``accepted_params()`` (factories of `art_factory`), else its signature."""
        names = self.accepted
        if names is None and hasattr(self.factory, "accepted_params"):
            names = self.factory.accepted_params()
        if names is None:
            names = list(inspect.signature(self.factory).parameters)[1:]
        return tuple(p for p in names if p not in SWEEP_KEYWORDS)

    def defaults(self) -> dict[str, Any]:
        """Default values of the factory's keyword parameters (those that have one)."""
        if hasattr(self.factory, "fixed"):
            return dict(self.factory.fixed)
        sig = inspect.signature(self.factory)
        return {k: p.default for k, p in sig.parameters.items()
                if k not in SWEEP_KEYWORDS and p.default is not inspect.Parameter.empty}

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise `ParameterError` for a key this attack does not accept (or a sweep keyword)."""
        accepted = self.params()
        for key in params:
            if key in SWEEP_KEYWORDS:
                raise ParameterError(
                    f"parameter {key!r} of attack {self.name!r} is set by the sweep (--eps / --batch-size), "
                    "not through params"
                )
            if key not in accepted:
                raise ParameterError(
                    f"attack {self.name!r} has no parameter {key!r}; accepted parameters: "
                    f"{', '.join(accepted) if accepted else '(none)'}"
                )

    def build(self, classifier, *, eps: float, batch_size: int, params: Mapping[str, Any] | None = None
              ) -> PreparedAttack:
        """Validate ``params`` and build the attack against ``classifier`` with budget ``eps``."""
        params = dict(params or {})
        self.check_params(params)
        attack = self.factory(classifier, eps=eps, batch_size=batch_size, **params)
        attack.name = self.name
        return attack

    def __call__(self, classifier, *, eps: float, batch_size: int, **params) -> PreparedAttack:
        return self.build(classifier, eps=eps, batch_size=batch_size, params=params)


#: name -> `AttackSpec`; entries are registered in `artgenre.attacks.library`.
ATTACKS: Registry = Registry("attack")


def register_attack(spec: AttackSpec) -> AttackSpec:
    """Add ``spec`` to `ATTACKS` under ``spec.name`` (a name may be registered once)."""
    return ATTACKS.register(spec.name)(spec)


def attack_spec(name: str) -> AttackSpec:
    """The `AttackSpec` of a registered name or of ``art:<Class>``.

    Raises
    ------
    ParameterError
        Unknown name (listing the registered attacks and the ``art:`` form) or ART class.
    """
    if not isinstance(name, str) or not name:
        raise ParameterError(f"attack {name!r} is not valid; valid attacks: {', '.join(ATTACKS)}, or art:<Class>")
    if name.startswith(ART_PREFIX):
        from artgenre.attacks.art_classes import art_spec

        return art_spec(name)
    if name not in ATTACKS:
        raise ParameterError(
            f"unknown attack {name!r}; valid attacks: {', '.join(ATTACKS)}, or art:<Class> for any "
            "evasion attack of art.attacks.evasion (e.g. art:SquareAttack)"
        )
    return ATTACKS[name]
