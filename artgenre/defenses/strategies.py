"""The `DEFENSES` entries: one strategy object per defense, with its behaviour.

A strategy answers, for the run machinery (`artgenre.defenses.run`, `artgenre.defenses.baseline`):

- how it trains: ``ratio`` and ``inner`` (None = no training), `Defense.training_preprocessing`
  (preprocessing attached while training), `Defense.selection` (which epoch is kept) and
  `Defense.record_fields` (what the trained weights depend on beyond the common fields);
- how it wraps the classifier and which evaluations it needs: `Defense.plan` (the defended
  classifier and the sweeps: craft on what, evaluate what, adaptive or not);
- what else it measures: `Defense.monitor` (the detector's per-attack metrics).

To add a defense, subclass `Defense` (or one of the classes here) and register an instance at
the end of this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from artgenre.registry import Registry

DEFENSES: Registry = Registry("defense")


@dataclass(frozen=True)
class Pass:
    """One sweep: craft on ``craft``, evaluate ``evaluate``; its cells carry ``adaptive`` and go
    to the result's ``cells``, or to ``detector_cells`` for attacks aimed at a detector.
    ``attacks`` replaces the configured attack list (None: ``config.attacks``)."""

    adaptive: bool
    craft: Any
    evaluate: Any
    into: str = "cells"
    attacks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Plan:
    """How a defense is evaluated: ``defended`` (whose clean accuracy is reported), the
    ``passes``, and ``guarded`` (the raw classifier a detector protects, None without one)."""

    defended: Any
    passes: tuple[Pass, ...]
    guarded: Any = None


def _wrap(module, *, config, model, preprocessing_defences=None):
    """``module`` (``model``'s network, or a module around it) as the threat model's classifier."""
    from artgenre.threats import threat_model

    return threat_model(config.threat).classifier(
        module, device=config.device, model_input_shape=model.input_shape, nb_classes=model.n_classes,
        preprocessing_defences=preprocessing_defences)


class Defense:
    """A defense that changes nothing: white-box attacks on the model (adaptive, since there is
    no defense to be unaware of). Subclasses override what their defense changes.

    Parameters
    ----------
    name : str
    summary : str
        One line for help texts and tables.
    """

    #: Default share of adversarial examples per training batch; None = does not train.
    ratio: float | None = None
    #: `artgenre.defenses.adversarial.INNER_ATTACKS` key of the training attack.
    inner: str | None = None
    #: Whether a non-adaptive pass crafts on the baseline's own weights, as the white-box sweep
    #: does (so it can read that sweep's adversarial sets: `artgenre.attacks.store`).
    crafts_on_baseline = False

    def __init__(self, name: str, summary: str) -> None:
        self.name = name
        self.summary = summary

    @property
    def trains(self) -> bool:
        """Whether the defense trains its own weights (else it builds on the baseline's)."""
        return self.ratio is not None

    def training_preprocessing(self, config) -> list | None:
        """ART preprocessing defences attached while training (None: none)."""
        return None

    def selection(self, *, config, data) -> tuple[Any, str]:
        """``(score_fn, name)``: model selection for `artgenre.training.fit` (None = −val loss)."""
        return None, "val_loss"

    def record_fields(self, config) -> dict:
        """Settings the trained weights depend on besides the common ones."""
        return {"squeeze_bit_depth": None, "guard_size": None}

    def plan(self, *, config, raw, model) -> Plan:
        """The evaluation plan; ``raw`` is the defended weights as a plain classifier."""
        return Plan(defended=raw, passes=(Pass(adaptive=True, craft=raw, evaluate=raw),))

    def monitor(self, *, config, plan: Plan, data, split, previous: dict | None):
        """An object with ``record(attack, eps, adaptive, x_adv)`` and ``block(cells)`` that
        measures more than accuracy under each attack, or None."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class AdversarialTraining(Defense):
    """ART ``AdversarialTrainer`` with an inner attack (`artgenre.defenses.adversarial`);
    attacking the trained model itself is the adaptive attack."""

    def __init__(self, name: str, summary: str, *, ratio: float, inner: str) -> None:
        super().__init__(name, summary)
        self.ratio = ratio
        self.inner = inner


class FastAdversarialTraining(AdversarialTraining):
    """Fast adversarial training; keeps the epoch with the best PGD validation accuracy (the
    catastrophic-overfitting guard of Wong et al. 2020)."""

    def selection(self, *, config, data) -> tuple[Any, str]:
        from artgenre.defenses.adversarial import guard_subset, pgd_guard_score

        x_guard, y_guard = guard_subset(split=data.val, size=config.guard_size, seed=config.seed)
        return (pgd_guard_score(x=x_guard, y=y_guard, settings=config.inner, batch_size=config.eval_batch_size),
                "pgd_val_accuracy")

    def record_fields(self, config) -> dict:
        return {"squeeze_bit_depth": None, "guard_size": config.guard_size}


def _squeeze_plan(*, config, raw, model) -> Plan:
    from artgenre.defenses.squeeze import make_squeezer

    squeezed = _wrap(model.model, config=config, model=model,
                     preprocessing_defences=[make_squeezer(bit_depth=config.bit_depth)])
    # Non-adaptive: crafted on the same weights without the squeezer; adaptive: through it (BPDA).
    return Plan(defended=squeezed, passes=(Pass(adaptive=False, craft=raw, evaluate=squeezed),
                                           Pass(adaptive=True, craft=squeezed, evaluate=squeezed)))


class Squeezing(Defense):
    """ART ``FeatureSqueezing`` at inference on the baseline weights."""

    @property
    def crafts_on_baseline(self) -> bool:
        return not self.trains  # squeeze-mixed / squeeze-pure craft on their own weights

    def record_fields(self, config) -> dict:
        return {"squeeze_bit_depth": config.bit_depth, "guard_size": None}

    def plan(self, *, config, raw, model) -> Plan:
        return _squeeze_plan(config=config, raw=raw, model=model)


class SqueezedAdversarialTraining(Squeezing, AdversarialTraining):
    """Adversarial training with the squeezer attached at training *and* inference (the
    squeezer's record and plan are `Squeezing`'s, the training `AdversarialTraining`'s)."""

    def training_preprocessing(self, config) -> list | None:
        from artgenre.defenses.squeeze import make_squeezer

        return [make_squeezer(bit_depth=config.bit_depth, apply_fit=True)]


class SqueezeDetector(Defense):
    """Feature-squeezing detector guarding the baseline (`artgenre.defenses.detector`)."""

    crafts_on_baseline = True

    def plan(self, *, config, raw, model) -> Plan:
        from artgenre.threats import DEFAULT_THREAT, threat_model

        # The attacks' own classifier: `monitor` hands it the calibrated detector, which
        # `detector-pgd` (`artgenre.defenses.detector_attack.detector_aware_pgd`) then evades.
        guard = _wrap(model.model, config=config, model=model)
        guard.detector_guard = None
        # The detector scores the spectrogram model's own input (behind the waveform front end
        # under that threat model), so it guards the spectrogram classifier of the same weights.
        spectrogram = threat_model(DEFAULT_THREAT).classifier(
            model.model, device=config.device, model_input_shape=model.input_shape, nb_classes=model.n_classes)
        # The detector leaves classification alone, so the classifier's accuracy under attack
        # is the white-box one (adaptive: false; it ignores the detector). The detector-aware
        # attack trades misclassification for evasion by design: its cells go to
        # ``detector_cells`` so that no report credits them as the classifier's robust accuracy;
        # the guarded system's worst case is the detector block's ``worst_case``.
        return Plan(defended=raw, guarded=spectrogram, passes=(
            Pass(adaptive=False, craft=raw, evaluate=raw),
            Pass(adaptive=True, craft=guard, evaluate=raw, into="detector_cells", attacks=("detector-pgd",)),
        ))

    def monitor(self, *, config, plan: Plan, data, split, previous: dict | None):
        from artgenre.defenses.detector import DetectorMonitor
        from artgenre.threats import threat_model

        threat = threat_model(config.threat)

        def model_inputs(x):
            return threat.model_inputs(plan.defended, x, split=split, batch_size=config.eval_batch_size)

        monitor = DetectorMonitor(config=config, guarded=plan.guarded, data=data, split=split, previous=previous,
                                  inputs=threat.inputs(split), model_inputs=model_inputs)
        for p in plan.passes:
            if hasattr(p.craft, "detector_guard"):
                p.craft.detector_guard = (monitor.squeezers, monitor.threshold)
        return monitor


for _defense in (
    AdversarialTraining("adv-mixed", "adversarial training, half of each batch PGD examples", ratio=0.5, inner="pgd"),
    AdversarialTraining("adv-pure", "adversarial training on PGD examples only", ratio=1.0, inner="pgd"),
    FastAdversarialTraining("adv-fast", "fast adversarial training (FGSM + random start), PGD-selected epoch",
                            ratio=1.0, inner="fgsm-rs"),
    Squeezing("squeeze", "feature squeezing (bit depth) at inference on the baseline model"),
    SqueezedAdversarialTraining("squeeze-mixed", "squeezing + adversarial training, half PGD examples",
                                ratio=0.5, inner="pgd"),
    SqueezedAdversarialTraining("squeeze-pure", "squeezing + adversarial training on PGD examples only",
                                ratio=1.0, inner="pgd"),
    SqueezeDetector("detector", "feature-squeezing detector (reject if squeezing changes the output)"),
):
    DEFENSES.register(_defense.name)(_defense)
