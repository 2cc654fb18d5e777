"""The ``waveform`` threat model: perturb the audio a segment is computed from.

The attacked input is the segment's audio window (`Split.audio`, (N, L) float32 in [-1, 1],
`artgenre.data.windows`); the classifier is the trained spectrogram model, unchanged, behind
the differentiable log-mel front end (`artgenre.frontend.WaveformModel`) in an ART
``PyTorchClassifier`` over ``(L,)`` with clip values (-1, 1). Two budgets:

- ``linf`` (cell ``norm: "inf"``): ‖δ‖∞ ≤ ε in full-scale amplitude; ``eps_db`` = 20·log10 ε dBFS.
- ``l2rel`` (cell ``norm: "l2rel"``): ‖δ‖₂ ≤ ε·‖x‖₂ per example, i.e. an SNR of at least
  −20·log10 ε dB (``eps_db`` is that SNR); the attack gets ``norm=2``. An attack whose spec
  has ``per_sample_budget`` (fgsm, pgd, noise) is crafted in batches, with the radius
  ε·‖xᵢ‖ of each example passed as ``scale``; any other attack is run one example per call
  (ART's L2 random start takes one radius for all samples of a call), in the scaled
  coordinates ``u = x / ‖x‖`` where the radius is ε itself and the clip range is
  (−1/‖x‖, 1/‖x‖). Both give the same algorithm (tested).

The dB scale of a segment refers to its clip's loudest mel bin (`Split.audio_ref`), so samples
are crafted and predicted per reference group (`groups`, `prepare`).

Each cell also measures the achieved SNR per example and the WAV round trip
(`artgenre.attacks.roundtrip`): the adversarial windows written as 16-bit PCM, read back,
passed through the standard features and classified again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from artgenre import pass_counts
from artgenre.errors import DataError, ParameterError
from artgenre.threats import THREAT_MODELS, ThreatModel

#: Cell ``norm`` of each budget kind.
NORMS = {"linf": "inf", "l2rel": "l2rel"}
#: dB an achieved SNR may fall below its budget (float32 rounding) before the check fails.
SNR_TOLERANCE = 1e-3


def snr_to_eps(snr_db) -> float:
    """ε = 10^(−SNR/20) of an SNR budget in dB (finite, >= 0).

    Raises
    ------
    ParameterError
        ``snr_db`` is not a finite number >= 0.
    """
    try:
        value = float(snr_db)
    except (TypeError, ValueError):
        raise ParameterError(f"snr_db={snr_db!r} is not a number; expected a finite SNR in dB >= 0, e.g. 40") from None
    if isinstance(snr_db, bool) or not math.isfinite(value) or value < 0:
        raise ParameterError(f"snr_db={snr_db!r} is not valid; expected a finite SNR in dB >= 0, e.g. 30,40,50")
    return 10.0 ** (-value / 20.0)


def parse_snr(values) -> tuple[float, ...]:
    """SNR budgets (dB) from a comma-separated string, a number or a sequence; sorted, unique.

    Raises
    ------
    ParameterError
        A value that is not a finite number >= 0.
    """
    if values is None:
        return ()
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    elif not isinstance(values, (list, tuple)):
        values = [values]
    out = []
    for v in values:
        snr_to_eps(v)
        out.append(float(v))
    return tuple(sorted(set(out)))


def snr_db(x: np.ndarray, x_adv: np.ndarray) -> np.ndarray:
    """Per-example SNR 20·log10(‖x‖/‖x_adv − x‖) in dB, shape (N,); inf for δ = 0, nan for x = 0."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    d = np.asarray(x_adv, dtype=np.float64).reshape(len(x), -1) - x
    with np.errstate(divide="ignore", invalid="ignore"):
        return 20.0 * np.log10(np.linalg.norm(x, axis=1) / np.linalg.norm(d, axis=1))


def snr_stats(values: np.ndarray) -> dict:
    """``{median, min, mean}`` of the finite SNRs (None when there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"median": None, "min": None, "mean": None}
    return {"median": float(np.median(v)), "min": float(v.min()), "mean": float(v.mean())}


def _scaled(*, model, scale: float):
    """``u ↦ model(u · scale)``: one example's attack in coordinates where its L2 radius is ε."""
    import torch

    class Scaled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, u):
            return self.inner(u * scale)

        def split_features(self):
            from artgenre.frontend import split_features

            features, head = split_features(self.inner)
            return (lambda u: features(u * scale)), head

    return Scaled()


class WaveformThreat(ThreatModel):
    """Perturb the segment's audio window (see the module docstring)."""

    name = "waveform"
    summary = ("the segment's audio window in [-1, 1] through the log-mel front end; L∞ amplitude ε "
               "(20·log10 ε dBFS) or per-example L2 ‖δ‖ ≤ ε‖x‖ (SNR ≥ −20·log10 ε dB)")
    clip_values = (-1.0, 1.0)
    budget_unit = "full-scale amplitude (linf) or ‖δ‖/‖x‖ (l2rel)"
    budget_kinds = ("linf", "l2rel")
    verified_examples = True

    def inputs(self, split) -> np.ndarray:
        audio = getattr(split, "audio", None)
        if audio is None:
            raise DataError("this split has no audio windows (Split.audio); the waveform threat model attacks "
                            "the test split of a dataset cached with its audio (use --partition test)")
        return audio

    def eps_db(self, eps: float, norm: str = "inf") -> float:
        eps = float(eps)
        if eps <= 0:
            return -math.inf if norm == NORMS["linf"] else math.inf
        return 20.0 * math.log10(eps) if norm == NORMS["linf"] else -20.0 * math.log10(eps)

    def classifier(self, model, *, device: str = "auto", model_input_shape: Sequence[int], nb_classes: int,
                   preprocessing_defences=None, features=None):
        from artgenre.art_adapter import as_art_classifier
        from artgenre.data.features import DEFAULT_FEATURES
        from artgenre.frontend import InputDefences, WaveformModel, build_frontend, check_compatible

        check_compatible(trained=features, frontend=DEFAULT_FEATURES)
        frontend = build_frontend(params=DEFAULT_FEATURES)
        if preprocessing_defences:
            # They act on the spectrogram, so behind the front end, not on the audio ART sees.
            model = InputDefences(model=model, defences=preprocessing_defences)
        wrapped = WaveformModel(model=model, frontend=frontend)
        return as_art_classifier(wrapped, device=device, input_shape=(frontend.length,), nb_classes=int(nb_classes),
                                 clip_values=self.clip_values)

    def groups(self, split) -> list[np.ndarray]:
        from artgenre.frontend import reference_groups

        return reference_groups(ref=self._refs(split))

    def prepare(self, classifier, *, split, group: np.ndarray) -> None:
        classifier.model.set_reference(float(self._refs(split)[group[0]]))

    @staticmethod
    def _refs(split) -> np.ndarray:
        ref = getattr(split, "audio_ref", None)
        if ref is None:
            raise DataError("this split has no reference levels (Split.audio_ref); the waveform threat model "
                            "needs the test split of a dataset cached with its audio")
        return np.asarray(ref)

    def attack_params(self, *, attack: str, norm: str, params) -> dict:
        import inspect

        from artgenre.attacks.spec import attack_spec

        params = dict(params or {})
        if norm == NORMS["linf"]:
            return params
        spec = attack_spec(attack)
        spec.check_params(params)
        if "norm" not in spec.params() and "norm" not in inspect.signature(spec.factory).parameters:
            raise ParameterError(f"attack {attack!r} has no norm parameter, so it cannot run under the l2rel "
                                 "(SNR) budget; use fgsm, pgd, noise or an art:<Class> that takes norm")
        return {**params, "norm": 2}

    def craft(self, *, attack: str, classifier, x: np.ndarray, y: np.ndarray, split, norm: str, eps: float,
              batch_size: int, params, chunk: int, advance, workers: int = 1) -> np.ndarray:
        if norm == NORMS["linf"]:
            return super().craft(attack=attack, classifier=classifier, x=x, y=y, split=split, norm=norm, eps=eps,
                                 batch_size=batch_size, params=params, chunk=chunk, advance=advance,
                                 workers=workers)
        from artgenre.attacks.spec import attack_spec

        # ``workers`` is not used here: the per-example SNR budget runs no sample-parallel attack.
        params = self.attack_params(attack=attack, norm=norm, params=params)
        spec = attack_spec(attack)
        craft_group = self._craft_batched if spec.per_sample_budget else self._craft_each
        out = np.array(x, dtype=np.float32, copy=True)
        # Row by row: a float64 copy of the whole split would double its memory.
        norms = np.array([np.linalg.norm(np.asarray(row, dtype=np.float64)) for row in x])
        for g in self.groups(split):
            self.prepare(classifier, split=split, group=g)
            craft_group(spec=spec, classifier=classifier, x=x, y=y, out=out, rows=g, norms=norms, eps=eps,
                        batch_size=batch_size, params=params, chunk=chunk, advance=advance)
        return out

    def _craft_batched(self, *, spec, classifier, x, y, out, rows, norms, eps, batch_size, params, chunk,
                       advance) -> None:
        """``out[rows]`` from a ``per_sample_budget`` attack, ``chunk`` rows per call."""
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            part = part[norms[part] > 0]
            if len(part):
                # The budget's norm and scale go to the factory directly: they are not user
                # parameters (attack_params validated the rest).
                atk = spec.factory(classifier, eps=eps, batch_size=batch_size, scale=norms[part], **params)
                adv = atk.generate(np.ascontiguousarray(x[part]), y[part])
                for j, r in enumerate(part):
                    out[r] = self._project(x[r], adv[j].astype(np.float64), eps * norms[r])
            advance(min(chunk, len(rows) - i))

    def _craft_each(self, *, spec, classifier, x, y, out, rows, norms, eps, batch_size, params, chunk,
                    advance) -> None:
        """``out[rows]`` one example per call, in the scaled coordinates of the module docstring."""
        from artgenre.art_adapter import as_art_classifier
        from artgenre.attacks.spec import CLASSIFIER_CONTEXT

        lo, hi = self.clip_values
        for i in rows:
            scale = float(norms[i])
            if scale > 0:
                # A classifier per example: ART takes one clip range per classifier.
                scaled = as_art_classifier(_scaled(model=classifier.model, scale=scale),
                                           device=str(classifier.device), input_shape=tuple(classifier.input_shape),
                                           nb_classes=int(classifier.nb_classes),
                                           clip_values=(lo / scale, hi / scale))
                for name in CLASSIFIER_CONTEXT:  # e.g. the detector a detector-aware attack evades
                    if hasattr(classifier, name):
                        setattr(scaled, name, getattr(classifier, name))
                atk = spec.factory(scaled, eps=eps, batch_size=1, **params)
                u = atk.generate(x[i : i + 1] / np.float32(scale), y[i : i + 1])
                pass_counts.merge(classifier, scaled)  # the cell counts the passes of every example
                out[i] = self._project(x[i], u[0].astype(np.float64) * scale, eps * scale)
            advance(1)

    def _project(self, x: np.ndarray, x_adv: np.ndarray, radius: float) -> np.ndarray:
        # Rescaling u → x and float32 rounding can leave ‖δ‖ a hair above the radius.
        x64 = np.asarray(x, dtype=np.float64)
        d = x_adv - x64
        n = float(np.linalg.norm(d))
        if n > radius:
            d *= radius / n * (1 - 1e-6)
        return np.clip(x64 + d, *self.clip_values).astype(np.float32)

    def model_inputs(self, classifier, x: np.ndarray, *, split, batch_size: int) -> np.ndarray:
        import torch

        module = classifier.model
        out = None
        with torch.no_grad():
            for g in self.groups(split):
                self.prepare(classifier, split=split, group=g)
                for i in range(0, len(g), batch_size):
                    rows = g[i : i + batch_size]
                    z = module.features(torch.from_numpy(np.ascontiguousarray(x[rows], dtype=np.float32))
                                        .to(classifier.device)).cpu().numpy()
                    out = np.empty((len(x),) + z.shape[1:], np.float32) if out is None else out
                    out[rows] = z
        return out

    def measure(self, *, norm: str, eps: float, x, x_adv, y, split, classifier, clean_pred,
                batch_size: int) -> dict:
        from artgenre.attacks.roundtrip import roundtrip_fields

        out = {"snr_db": snr_stats(snr_db(x, x_adv))}
        if norm == NORMS["l2rel"]:
            out["snr_db_budget"] = self.eps_db(eps, norm)
        out["roundtrip"] = roundtrip_fields(classifier=classifier, audio=x_adv, ref=self._refs(split), y=y,
                                            track=np.asarray(split.track), clean_pred=clean_pred,
                                            batch_size=batch_size)
        return out

    def checks(self, *, cells: list, norm: str, n_classes: int, whitebox_cells=None, transfer: bool = False) -> list:
        from artgenre.attacks.checks import run_checks
        from artgenre.attacks.spec import attack_spec

        if norm == NORMS["linf"]:
            return super().checks(cells=cells, norm=norm, n_classes=n_classes, whitebox_cells=whitebox_cells,
                                  transfer=transfer)
        # The L∞ budget check does not apply to an L2 budget: the SNR check below replaces it.
        strip = [{k: v for k, v in c.items() if k != "linf"} for c in cells]
        strip_wb = None if whitebox_cells is None else [{k: v for k, v in c.items() if k != "linf"}
                                                        for c in whitebox_cells]
        out = run_checks(cells=strip, n_classes=n_classes, whitebox_cells=strip_wb, transfer=transfer,
                         label=f" [{norm}]")
        for attack in dict.fromkeys(c["attack"] for c in cells):
            if not attack_spec(attack).budget_checked:
                continue
            bad = [f"SNR {c['snr_db_budget']:g} dB: min achieved {c['snr_db']['min']:.4g} dB"
                   for c in cells if c["attack"] == attack and c.get("snr_db", {}).get("min") is not None
                   and c.get("snr_db_budget") is not None and c["snr_db"]["min"] < c["snr_db_budget"] - SNR_TOLERANCE]
            out.append({"name": f"{attack}: SNR within budget [{norm}]", "passed": not bad,
                        "detail": "; ".join(bad) if bad else "achieved SNR ≥ budget in every cell"})
        return out

    def perturbation_fields(self, *, x, x_adv) -> dict:
        values = snr_db(x, x_adv)
        return {"snr_db": {**snr_stats(values), "values": [float(v) for v in values]}}


THREAT_MODELS.register(WaveformThreat.name)(WaveformThreat())


__all__ = ["NORMS", "WaveformThreat", "parse_snr", "snr_db", "snr_stats", "snr_to_eps"]
