"""The attack stage: evasion attacks through IBM ART, the ε sweep, checks and ``run_attack``.

Layout (one concern per module):

=================  ==========================================================================
``spec``           `AttackSpec` (a registry entry with behaviour), `ATTACKS`, `PreparedAttack`
``library``        the registered attacks: ``fgsm``, ``pgd``, ``deepfool``, ``noise``
``strong``         ``apgd-ce``, ``apgd-dlr``, ``square``, ``autoattack`` (ART classes)
``art_classes``    ``art:<Class>``: any ART evasion class, and `art_factory` for entries
``params``         ``--param`` parsing (``pgd.steps=50``, ``norm=inf``) and resolution
``cells``          the (attack, ε) cell engine `sweep_cells` and its metrics
``minimal``        minimal-norm attacks run once; accuracy left at each ε
``checks``         the automatic sanity checks (attack and defense runs)
``run``            `AttackConfig` + `run_attack` (``artgenre attack``)
=================  ==========================================================================

`make_attack(name, classifier, *, eps, batch_size, params)` builds any registered or
``art:<Class>`` attack; `attack_spec(name)` answers what it is (ε-bounded, minimal-norm,
budget-checked, threat models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from artgenre.attacks import library as _library  # noqa: F401  (registers the attacks)
from artgenre.attacks import strong as _strong  # noqa: F401  (registers apgd-*, square, autoattack)
from artgenre.attacks.art_classes import art_attack_classes, art_factory
from artgenre.attacks.library import (
    DEEPFOOL_MAX_ITER,
    DEEPFOOL_OVERSHOOT,
    PGD_STEP_RATIO,
    PGD_STEPS,
    deepfool,
    fgsm,
    noise,
    pgd,
)
from artgenre.attacks.params import attack_params, parse_params, parse_triples, parse_value, resolve_params
from artgenre.attacks.spec import (
    ART_PREFIX,
    ATTACKS,
    AttackSpec,
    PreparedAttack,
    attack_spec,
    frozen_weights,
    register_attack,
)


def check_attack_name(*, name: str) -> str:
    """Return ``name`` if it is a key of `ATTACKS` or a valid ``art:<ClassName>``.

    Raises
    ------
    ParameterError
        Naming the bad value and listing the registered attacks (and the ``art:`` form).
    """
    attack_spec(name)
    return name


def is_eps_bounded(*, name: str) -> bool:
    """False for minimal-norm attacks, which a sweep runs once (`artgenre.attacks.minimal`)."""
    return attack_spec(name).eps_bounded


def make_attack(name: str, classifier, *, eps: float, batch_size: int, params: Mapping[str, Any] | None = None
                ) -> PreparedAttack:
    """Build attack ``name`` against ``classifier`` with budget ``eps``.

    Parameters
    ----------
    name : str
        A key of `ATTACKS` or ``art:<ClassName>`` (any evasion attack class of
        ``art.attacks.evasion``).
    classifier : art.estimators.classification.PyTorchClassifier
    eps : float
        Budget in [0, 1]; passed to ART classes that take ``eps``.
    batch_size : int
        >= 1; passed to ART classes that take ``batch_size``.
    params : mapping, optional
        Extra keyword parameters (see `attack_params`); for ART classes ``verbose`` defaults
        to False.

    Returns
    -------
    PreparedAttack
        Ready to ``generate(x, y)``.

    Raises
    ------
    ParameterError
        Unknown attack or ART class (listing valid ones), unknown parameter (naming it and
        the accepted ones), out-of-range values, or values the ART class rejects.
    """
    return attack_spec(name).build(classifier, eps=eps, batch_size=batch_size, params=params)


__all__ = [
    "ART_PREFIX", "ATTACKS", "AttackSpec", "DEEPFOOL_MAX_ITER", "DEEPFOOL_OVERSHOOT",
    "PGD_STEPS", "PGD_STEP_RATIO", "PreparedAttack",
    "art_attack_classes", "art_factory", "attack_params", "attack_spec", "check_attack_name", "deepfool",
    "fgsm", "frozen_weights", "is_eps_bounded", "make_attack", "noise", "parse_params", "parse_triples",
    "parse_value", "pgd", "register_attack", "resolve_params",
]
