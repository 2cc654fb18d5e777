"""Defenses through ART: adversarial training, feature squeezing, and a squeezing detector.

`DEFENSES` maps a name to a strategy object (`artgenre.defenses.strategies`) that knows how the
defense trains, how it wraps the classifier and which evaluations it needs; `run_defense`
(`artgenre.defenses.run`) runs them and writes ``<out>/defense-<model>-<defense>.json``.

=================  ============================================================================
``adv-mixed``      ART ``AdversarialTrainer``, ratio 0.5, PGD inner attack (`adversarial`)
``adv-pure``       the same with ratio 1.0 (train on adversarial examples only)
``adv-fast``       FGSM with random start, ratio 1.0, kept epoch = best PGD validation accuracy
``squeeze``        ART ``FeatureSqueezing`` (5 bits) on the baseline model, inference only
``squeeze-mixed``  adversarial training (ratio 0.5) with the squeezer at training and inference
``squeeze-pure``   the same with ratio 1.0
``detector``       feature-squeezing detector (5 bits + 2x2 median) guarding the baseline model
=================  ============================================================================

Training recipe: the standard one (`artgenre.training.fit`, same profiles, seeding, progress,
checkpoints). ``init="finetune"`` (default for profile ``quick``: `FINETUNE_EPOCHS` epochs)
starts from the clean baseline's weights; ``init="scratch"`` (default for ``paper``: the
profile's epoch budget) from a fresh initialisation. The baseline comes from
``<out>/train-<model>.json`` and its checkpoint, trained first with `run_training` if absent.

Evaluation (cells, as in ``artgenre attack``): every cell records ``adaptive``:

- adversarial training without squeezing: white-box attacks on the defended model, which *are*
  adaptive (``adaptive: true``).
- squeezing: non-adaptive = examples crafted on the same weights *without* the squeezer, then
  classified *with* it; adaptive = the attack run on the squeezed classifier itself, which ART
  differentiates through the squeezer as the identity (BPDA; see `artgenre.defenses.squeeze`).
- detector: it does not change classification, so ``cells`` hold the guarded classifier's
  white-box accuracy (``adaptive: false``: the attack ignores the detector). The adaptive
  attack runs on `SqueezeEnsemble` (raw and squeezed views at once, BPDA), which fools the
  classifier while keeping raw and squeezed predictions together; its classifier cells go to
  ``detector_cells`` (not ``cells``, which a report would otherwise credit as the detector's
  robust accuracy). ``detector.per_attack`` holds the detector metrics of both.

A defense should be credited with its strongest attack: the lower of its adaptive and
non-adaptive numbers (the report does this).
"""


from __future__ import annotations

import numpy as np

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artgenre.data import DataConfig
from artgenre.defenses.adversarial import INNER_PROFILES, InnerAttack, check_ratio
from artgenre.defenses.squeeze import check_bit_depth
from artgenre.defenses.strategies import DEFENSES, Defense
from artgenre.eps import parse_eps
from artgenre.errors import ParameterError, check_choice, check_device_name, check_int, check_range
from artgenre.threats import DEFAULT_THREAT, THREAT_MODELS, threat_suffix

__all__ = [
    "DEFENSES", "Defense", "DefenseConfig", "FINETUNE_EPOCHS", "make_defense_config", "result_path", "run_defense",
]

#: Fine-tuning epochs per profile (``init="finetune"``); from scratch uses the profile's epochs.
FINETUNE_EPOCHS = {"quick": 2, "paper": 20}
#: Default initialisation per profile.
DEFAULT_INIT = {"quick": "finetune", "paper": "scratch"}
INITS = ("finetune", "scratch")


def _int_or_none(name: str, value, low: int):
    return None if value is None else check_int(name, value, low)


@dataclass(frozen=True)
class DefenseConfig:
    """Everything that determines a defense run (saved as ``config`` in its result).

    Fields left as None are filled from the profile and the defense when the config is built,
    so a saved config always holds the values actually used.

    Attributes
    ----------
    model : str
        `artgenre.models.MODELS` key.
    defense : str
        `DEFENSES` key.
    data : DataConfig
    profile : str
        ``quick`` or ``paper`` (`artgenre.training.PROFILES`).
    init : str or None
        ``finetune`` or ``scratch``; default `DEFAULT_INIT` [profile]. Training defenses only.
    epochs : int or None
        Training epochs; default `FINETUNE_EPOCHS` [profile] (finetune) or the profile's.
    batch_size : int or None
        Training batch size; default: the profile's.
    train_eps : float
        L∞ budget of the inner attack, in (0, 1] (0.01 = 0.8 dB).
    inner_steps : int or None
        PGD steps of the inner attack (and of the adv-fast guard); default
        `INNER_PROFILES` [profile] (quick 3, paper 7).
    inner_step_ratio : float or None
        PGD step as a fraction of ``train_eps``; default quick 0.5, paper 0.25.
    ratio : float or None
        Share of adversarial examples per batch, in (0, 1]; default from the defense.

    (``init``, ``epochs``, ``batch_size``, ``inner_steps``, ``inner_step_ratio`` and ``ratio`` are validated
    and then set to None for defenses that do not train.)
    bit_depth : int
        Squeezer bit depth, 1..64 (5 = 32 levels).
    median : bool
        Detector also compares against a 2x2 median filter.
    target_fpr : float
        Detector false-positive rate on clean validation data, in (0, 1).
    attacks : tuple of str
        ε-bounded `artgenre.attacks.ATTACKS` keys (or ``art:<Class>``) for the evaluation sweep.
    eps : tuple of float
        Evaluation budgets (`artgenre.eps.parse_eps`).
    attack_params : tuple of (attack, key, value)
        Parameters of the evaluation attacks, as `artgenre.attacks.AttackConfig.params`
        (``"pgd.steps=50"`` strings accepted); non-finite values are kept as ``"inf"`` text.
    limit : int or None
        Evaluate on at most this many test segments (None: all).
    guard_size : int
        Validation segments in the adv-fast PGD guard (>= 1).
    eval_batch_size : int
        Batch size for attacks and predictions (>= 1).
    seed : int
    device : str
    out : str
    threat : str
        `artgenre.threats.THREAT_MODELS` key of the evaluation attacks.
    strength_check : bool
        Run the stronger-PGD convergence check on each pass into ``cells``
        (`artgenre.attacks.strength`; stored as the result's ``strength``).
    """

    model: str = "cnn"
    defense: str = "adv-mixed"
    data: DataConfig = field(default_factory=DataConfig)
    profile: str = "quick"
    init: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    train_eps: float = 0.01
    inner_steps: int | None = None
    inner_step_ratio: float | None = None
    ratio: float | None = None
    bit_depth: int = 5
    median: bool = True
    target_fpr: float = 0.05
    attacks: tuple[str, ...] = ("fgsm", "pgd")
    eps: tuple[float, ...] = (0.01, 0.03, 0.1)
    attack_params: tuple[tuple[str, str, Any], ...] = ()
    limit: int | None = None
    guard_size: int = 64
    eval_batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    out: str = "results"
    threat: str = DEFAULT_THREAT
    strength_check: bool = True

    def __post_init__(self) -> None:
        from artgenre.models import MODELS
        from artgenre.training import PROFILES

        MODELS[self.model]
        strategy = DEFENSES[self.defense]
        check_choice("profile", self.profile, PROFILES)
        data = self.data
        if isinstance(data, dict):
            data = DataConfig.from_dict(data)
        elif not isinstance(data, DataConfig):
            raise ParameterError(f"data={data!r} is not valid; expected a DataConfig or a dict of its fields")
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen
        set_("data", data)

        if strategy.trains:
            init = DEFAULT_INIT[self.profile] if self.init is None else self.init
            check_choice("init", init, INITS)
            epochs = _int_or_none("epochs", self.epochs, 1)
            if epochs is None:
                epochs = FINETUNE_EPOCHS[self.profile] if init == "finetune" else PROFILES[self.profile]["epochs"]
            ratio = check_ratio(strategy.ratio if self.ratio is None else self.ratio)
            profile_inner = INNER_PROFILES[self.profile]
            steps = profile_inner["steps"] if self.inner_steps is None else self.inner_steps
            step_ratio = profile_inner["step_ratio"] if self.inner_step_ratio is None else self.inner_step_ratio
            inner = InnerAttack(kind=strategy.inner, eps=self.train_eps, steps=steps, step_ratio=step_ratio)
            set_("init", init)
            set_("epochs", epochs)
            set_("ratio", ratio)
            set_("inner_steps", int(inner.steps))
            set_("inner_step_ratio", float(inner.step_ratio))
            set_("train_eps", float(inner.eps))
            set_("batch_size", _int_or_none("batch_size", self.batch_size, 1) or PROFILES[self.profile]["batch_size"])
        else:
            # Training options are validated but dropped, so one command line (or pipeline
            # loop) can serve every defense; the saved config shows they played no part.
            if self.ratio is not None:
                check_ratio(self.ratio)
            if self.init is not None:
                check_choice("init", self.init, INITS)
            _int_or_none("epochs", self.epochs, 1)
            _int_or_none("inner_steps", self.inner_steps, 1)
            if self.inner_step_ratio is not None:
                check_range("inner_step_ratio", self.inner_step_ratio, low=0.0, low_open=True)
            _int_or_none("batch_size", self.batch_size, 1)
            for name in ("ratio", "init", "epochs", "inner_steps", "inner_step_ratio", "batch_size"):
                set_(name, None)
            set_("train_eps", check_range("train_eps", self.train_eps, low=0.0, high=1.0, low_open=True))
        set_("bit_depth", check_bit_depth(self.bit_depth))
        set_("target_fpr", check_range("target_fpr", self.target_fpr, low=0.0, high=1.0,
                                       low_open=True, high_open=True))
        set_("median", bool(self.median))
        set_("attacks", _attack_names(self.attacks))
        set_("eps", parse_eps(self.eps))
        set_("attack_params", _attack_params(self.attacks, self.attack_params))
        set_("limit", _int_or_none("limit", self.limit, 1))
        set_("guard_size", _int_or_none("guard_size", self.guard_size, 1))
        set_("eval_batch_size", _int_or_none("eval_batch_size", self.eval_batch_size, 1))
        set_("seed", _int_or_none("seed", self.seed, 0))
        set_("device", check_device_name(self.device))
        set_("out", str(self.out))
        if not isinstance(self.strength_check, (bool, np.bool_)):
            raise ParameterError(f"strength_check={self.strength_check!r} is not valid; expected true or false")
        THREAT_MODELS[self.threat]  # an unknown name lists the valid ones

    @property
    def strategy(self) -> Defense:
        """The `DEFENSES` entry of ``defense``."""
        return DEFENSES[self.defense]

    @property
    def inner(self) -> InnerAttack | None:
        """The training attack, or None for defenses that do not train."""
        if not self.strategy.trains:
            return None
        return InnerAttack(kind=self.strategy.inner, eps=self.train_eps, steps=self.inner_steps,
                           step_ratio=self.inner_step_ratio)

    def resolved_attack_params(self) -> dict[str, dict[str, Any]]:
        """Per-attack parameter dicts of the evaluation sweep (``"*"`` expanded)."""
        from artgenre.attacks.params import parse_triples, resolve_params

        return resolve_params(attacks=self.attacks, triples=parse_triples(self.attack_params))

    @classmethod
    def from_dict(cls, d: dict) -> "DefenseConfig":
        """Rebuild (and re-validate) a config from its saved JSON form."""
        d = dict(d)
        for key in ("attacks", "eps", "attack_params"):
            if key in d and isinstance(d[key], list):
                d[key] = tuple(d[key])
        return make_defense_config(**d)


def _attack_names(names) -> tuple[str, ...]:
    from artgenre.attacks import attack_spec

    if isinstance(names, str):
        names = tuple(n.strip() for n in names.split(",") if n.strip())
    names = tuple(names)
    if not names:
        raise ParameterError("attacks=() is empty; name at least one attack, e.g. fgsm,pgd")
    for name in names:
        if not attack_spec(name).eps_bounded:
            raise ParameterError(
                f"attack {name!r} has no ε budget (minimal-norm); defenses are evaluated with "
                "ε-bounded attacks such as fgsm, pgd or noise"
            )
    return tuple(dict.fromkeys(names))


def _attack_params(attacks, values) -> tuple[tuple[str, str, Any], ...]:
    from artgenre.attacks.params import json_param, parse_triples, resolve_params

    triples = parse_triples(values)
    resolve_params(attacks=_attack_names(attacks), triples=triples)  # validates names and keys
    return tuple((a, k, json_param(v)) for a, k, v in triples)


def make_defense_config(**fields) -> DefenseConfig:
    """A validated `DefenseConfig`; fields set to None fall back to their defaults.

    Raises
    ------
    ParameterError
        Unknown field, model, defense, profile, init, attack or attack parameter; ``ratio``
        outside (0, 1]; ``bit_depth`` not an integer in 1..64; ``target_fpr`` outside (0, 1);
        ``train_eps`` outside (0, 1]; ``eps`` outside [0, 1]; a minimal-norm attack (deepfool);
        non-positive epochs, steps, limit or batch sizes.
    """
    known = {f.name for f in dataclasses.fields(DefenseConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ParameterError(
            f"unknown defense option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(known))}"
        )
    defaults = {f.name: f.default for f in dataclasses.fields(DefenseConfig)
                if f.default is not dataclasses.MISSING}
    values = {k: v for k, v in fields.items() if v is not None or defaults.get(k, 0) is None}
    return DefenseConfig(**values)


def result_path(out, *, model: str, defense: str, threat: str = DEFAULT_THREAT) -> Path:
    """``<out>/defense-<model>-<defense>[-<threat>].json`` (`artgenre.threats.threat_suffix`)."""
    return Path(out) / f"defense-{model}-{defense}{threat_suffix(threat)}.json"


from artgenre.defenses.run import run_defense  # noqa: E402  (needs the names above)
