"""Threat models: what an attack perturbs, within which range, and how its budget reads.

`THREAT_MODELS` maps a name to a `ThreatModel`. The sweep, the checks, the defenses and the
report ask the threat model, never a hard-coded shape or dB factor:

- `ThreatModel.inputs` — the array of a data `Split` that is perturbed,
- ``input_shape`` / ``clip_values`` — its per-example shape (from the split) and value range,
- ``budget_unit`` / `ThreatModel.eps_db` — the unit of ε and its reading in dB,
- ``budget_kinds`` — which budgets it accepts,
- `ThreatModel.classifier` — the ART ``PyTorchClassifier`` the attacks run on, built from a
  trained spectrogram model.

``spectrogram`` (the only entry for now) perturbs the 128×128 log-mel segment ``x`` ∈ [0, 1]
itself, with an L∞ budget ε in input units; ``x = (dB + 80) / 80``, so ε reads as 80·ε dB.
A threat model on raw audio would be one more entry: its inputs are the split's audio
windows, its classifier the feature front-end followed by the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artgenre.errors import DataError
from artgenre.registry import Registry

THREAT_MODELS: Registry = Registry("threat model")
DEFAULT_THREAT = "spectrogram"


def threat_suffix(threat: str) -> str:
    """``-<threat>`` for result file names, empty for `DEFAULT_THREAT` (whose files keep their
    names), so each threat model has its own result files."""
    return "" if threat == DEFAULT_THREAT else f"-{threat}"


class ThreatModel:
    """Base class of the `THREAT_MODELS` entries (see the module docstring).

    Attributes
    ----------
    name : str
    summary : str
    clip_values : (float, float)
        Range every perturbed input is clipped to.
    budget_unit : str
        What one unit of ε means.
    budget_kinds : tuple of str
        Budgets accepted (``"linf"``: ‖x_adv − x‖∞ ≤ ε).
    """

    name = ""
    summary = ""
    clip_values: tuple[float, float] = (0.0, 1.0)
    budget_unit = ""
    budget_kinds: tuple[str, ...] = ("linf",)
    #: Saved examples are only verified successful attacks (`artgenre.attacks.audio_examples`).
    verified_examples = False

    def inputs(self, split) -> np.ndarray:
        """The perturbed array of ``split``, shape (N, ...)."""
        raise NotImplementedError

    def eps_db(self, eps: float, norm: str = "inf") -> float:
        """ε read in dB (``norm``: the cell's ``"inf"`` or ``"l2rel"``)."""
        raise NotImplementedError

    def groups(self, split) -> list[np.ndarray]:
        """Index groups of ``split`` crafted and predicted together (`prepare` before each);
        one group of every sample by default."""
        return [np.arange(len(split.y), dtype=np.int64)]

    def prepare(self, classifier, *, split, group: np.ndarray) -> None:
        """Set ``classifier`` up for the samples ``group`` of ``split`` (nothing by default)."""

    def attack_params(self, *, attack: str, norm: str, params) -> dict:
        """Parameters of ``attack`` under budget ``norm`` (``"inf"``: ``params`` unchanged)."""
        return dict(params or {})

    def craft(self, *, attack: str, classifier, x: np.ndarray, y: np.ndarray, split, norm: str, eps: float,
              batch_size: int, params, chunk: int, advance, workers: int = 1) -> np.ndarray:
        """Adversarial ``x`` (rows of ``split``) from ``attack`` at budget (``norm``, ``eps``),
        crafted group by group (`groups`, `prepare`) in chunks of ``chunk``, ``workers`` chunks
        at a time (`artgenre.attacks.cells.generate_chunks`); ``advance(k)`` after every ``k``
        samples."""
        from artgenre.attacks import make_attack
        from artgenre.attacks.cells import generate_chunks

        atk = make_attack(attack, classifier, eps=eps, batch_size=batch_size,
                          params=self.attack_params(attack=attack, norm=norm, params=params))
        out = np.empty_like(x)
        for g in self.groups(split):
            self.prepare(classifier, split=split, group=g)
            out[g] = generate_chunks(atk, x[g], y[g], chunk, advance, workers=workers)
        return out

    def model_inputs(self, classifier, x: np.ndarray, *, split, batch_size: int) -> np.ndarray:
        """What the spectrogram model inside ``classifier`` sees for ``x`` (rows of ``split``):
        (N, 1, n_mels, frames) in [0, 1], for defenses that read it outside the classifier (the
        squeezing detector). ``x`` itself by default."""
        return np.asarray(x, dtype=np.float32)

    def predict(self, classifier, x: np.ndarray, *, split, batch_size: int) -> np.ndarray:
        """``classifier``'s logits (N, n_classes) on ``x`` (rows of ``split``), group by group."""
        from artgenre.evaluation import predict_logits

        out = None
        for g in self.groups(split):
            self.prepare(classifier, split=split, group=g)
            logits = predict_logits(classifier, x[g], batch_size=batch_size)
            out = np.empty((len(x),) + logits.shape[1:], logits.dtype) if out is None else out
            out[g] = logits
        return out

    def measure(self, *, norm: str, eps: float, x, x_adv, y, split, classifier, clean_pred,
                batch_size: int) -> dict:
        """Extra fields of a cell (none by default)."""
        return {}

    def checks(self, *, cells: list, norm: str, n_classes: int, whitebox_cells=None, transfer: bool = False) -> list:
        """The automatic checks of ``cells`` (all of budget ``norm``): `run_checks` by default."""
        from artgenre.attacks.checks import run_checks

        return run_checks(cells=cells, n_classes=n_classes, whitebox_cells=whitebox_cells, transfer=transfer)

    def perturbation_fields(self, *, x, x_adv) -> dict:
        """Extra fields of a minimal-norm block for the perturbations ``x_adv - x`` (none by default)."""
        return {}

    def classifier(self, model, *, device: str = "auto", model_input_shape: Sequence[int], nb_classes: int,
                   preprocessing_defences=None, features=None):
        """The ART classifier that attacks on this threat model run on.

        Parameters
        ----------
        model : torch.nn.Module
            A trained spectrogram model (returns logits).
        device : str
        model_input_shape : sequence of int
            The model's own input shape ``(C, H, W)``.
        nb_classes : int
        preprocessing_defences : list, optional
            ART preprocessing defences applied before the model.
        features : FeatureParams, mapping or None
            Feature configuration the model was trained on (None: the defaults); a threat
            model that computes features itself refuses other ones (`CheckpointError`).

        Returns
        -------
        art.estimators.classification.PyTorchClassifier
            Its ``input_shape`` is this threat model's perturbed shape.
        """
        raise NotImplementedError

    def input_shape(self, split) -> tuple[int, ...]:
        """Per-example shape of `inputs` (without the batch axis)."""
        return tuple(int(s) for s in np.shape(self.inputs(split))[1:])

    def arrays(self, split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, y, track)`` of a split: perturbed inputs as writable float32, int64 labels and
        track ids.

        Raises
        ------
        DataError
            Not a split, mismatched lengths or an empty split.
        """
        from artgenre.evaluation import as_float32

        try:
            x, y, track = self.inputs(split), split.y, split.track
        except AttributeError:
            raise DataError("split must have x, y and track arrays (an artgenre.data.Split)") from None
        x = as_float32(x)
        y = np.asarray(y, dtype=np.int64)
        track = np.asarray(track)
        if x.ndim < 2 or not (len(x) == len(y) == len(track)):
            raise DataError(f"split has x {x.shape}, y {y.shape}, track {track.shape}; expected matching (N, ...) arrays")
        if len(x) == 0:
            raise DataError("split is empty; nothing to attack")
        return x, y, track

    def __repr__(self) -> str:
        return f"ThreatModel({self.name!r})"


class SpectrogramThreat(ThreatModel):
    """Perturb the log-mel segment ``split.x`` ∈ [0, 1] directly (L∞ budget, 80·ε dB)."""

    name = "spectrogram"
    summary = "the 128x128 log-mel segment x in [0, 1]; L∞ budget ε in input units (80·ε dB)"
    clip_values = (0.0, 1.0)
    budget_unit = "log-mel input units (x = (dB + 80) / 80)"
    budget_kinds = ("linf",)

    def inputs(self, split) -> np.ndarray:
        return split.x

    def eps_db(self, eps: float, norm: str = "inf") -> float:
        from artgenre.data.features import unit_to_db

        return float(unit_to_db(float(eps)))

    def classifier(self, model, *, device: str = "auto", model_input_shape: Sequence[int], nb_classes: int,
                   preprocessing_defences=None, features=None):
        from artgenre.art_adapter import as_art_classifier

        # The perturbed input is the model's input itself.
        return as_art_classifier(model, device=device, input_shape=tuple(model_input_shape),
                                 nb_classes=int(nb_classes), preprocessing_defences=preprocessing_defences)


THREAT_MODELS.register(SpectrogramThreat.name)(SpectrogramThreat())


# The waveform entry lives in its own module and registers itself.
from artgenre import threats_waveform as _waveform  # noqa: E402,F401


def threat_model(name: str = DEFAULT_THREAT) -> ThreatModel:
    """`THREAT_MODELS` [name]; unknown names raise `ParameterError` listing the valid ones."""
    return THREAT_MODELS[name]


__all__ = ["DEFAULT_THREAT", "THREAT_MODELS", "SpectrogramThreat", "ThreatModel", "threat_model", "threat_suffix"]
