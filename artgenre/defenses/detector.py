"""Feature-squeezing detector (Xu, Evans & Qi 2018); ART ships the squeezers but no detector.

Score of an input ``x`` for a classifier ``f`` and squeezers ``s_1..s_k``::

    score(x) = max_i || softmax(f(x)) - softmax(f(s_i(x))) ||_1        (in [0, 2])

An input is *rejected* (flagged adversarial) when ``score > threshold``; the threshold is the
smallest value that flags at most ``target_fpr`` of a clean calibration set (the clean
validation split), so the false-positive rate on that set is ``<= target_fpr`` exactly.

Definitions used in every detector result (also in docs/design.md):

- *successful* adversarial example: its clean input is classified correctly and the adversarial
  one is not (by the guarded classifier) — the population Xu et al. report detection rates on.
- ``tpr`` (detection rate): fraction of *successful* adversarial examples (as defined above)
  that are rejected — not of all adversarial inputs; ``tpr_all`` the same over all adversarial
  inputs.
- ``fpr_test``: fraction of clean test inputs rejected.
- ``auc``: ``sklearn.metrics.roc_auc_score`` with clean test scores as negatives and the scores of
  successful adversarial examples as positives (None when either group is empty); ``roc`` its
  curve, thinned to at most `ROC_POINTS` points.
- ``reject_accuracy`` (reject-or-classify system): over all adversarial inputs, the fraction that
  are rejected *or* accepted and classified correctly. ``clean_reject_accuracy`` is the same
  system on clean test inputs, where a rejection counts as an error. ``worst_case`` (per ε):
  the same system per sample over every attack at that ε (white-box and detector-aware
  ``detector-pgd``), counting only samples accepted and correct on clean input.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from artgenre.errors import DataError, check_range
from artgenre.evaluation import predict_logits
from artgenre.stats import proportion

#: Most points kept of a ROC curve in a result file.
ROC_POINTS = 50


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _check_batch(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] == 0:
        raise DataError(f"expected a non-empty batch of shape (N, C, H, W); got shape {x.shape}")
    return x.astype(np.float32, copy=False)


def detector_scores(*, classifier, x, squeezers, batch_size: int = 64) -> np.ndarray:
    """Feature-squeezing scores of a batch.

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        The guarded classifier, returning logits, *without* a squeezer attached (its own
        preprocessing would squeeze the "raw" view too).
    x : np.ndarray, shape (N, C, H, W), float in [0, 1]
    squeezers : list of ART preprocessors
        E.g. `artgenre.defenses.squeeze.detector_squeezers`; each is applied to ``x`` alone.
    batch_size : int
        Prediction batch size.

    Returns
    -------
    np.ndarray, shape (N,), float64 in [0, 2]
        Max over squeezers of the L1 distance between the softmax outputs.

    Raises
    ------
    DataError
        ``x`` is not a non-empty 4-D batch, or ``squeezers`` is empty.
    """
    x = _check_batch(x)
    if not squeezers:
        raise DataError("squeezers is empty; the detector needs at least one squeezer")
    # predict_logits copies a read-only memory map (a cached split) a chunk at a time.
    p_raw = _softmax(predict_logits(classifier, x, batch_size=batch_size).astype(np.float64))
    score = np.zeros(x.shape[0])
    for squeezer in squeezers:
        x_sq, _ = squeezer(x)
        p_sq = _softmax(classifier.predict(x_sq.astype(np.float32), batch_size=batch_size).astype(np.float64))
        score = np.maximum(score, np.abs(p_raw - p_sq).sum(axis=1))
    return score


def calibrate_threshold(*, scores, target_fpr: float = 0.05) -> float:
    """Threshold that rejects at most ``target_fpr`` of ``scores`` (clean calibration data).

    Parameters
    ----------
    scores : array-like, shape (n,)
        Detector scores of clean inputs, n >= 1, all finite.
    target_fpr : float
        Target false-positive rate in (0, 1).

    Returns
    -------
    float
        ``t`` such that ``mean(scores > t) <= target_fpr``; with ``k = floor(target_fpr * n)``
        it is the (k+1)-th largest score, so at most ``k`` scores exceed it (fewer on ties).

    Raises
    ------
    ParameterError
        ``target_fpr`` outside (0, 1).
    DataError
        ``scores`` empty or not finite.
    """
    target = check_range("target_fpr", target_fpr, low=0.0, high=1.0, low_open=True, high_open=True)
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise DataError(f"calibration scores must be a non-empty finite array; got {s.size} values")
    # The small tolerance keeps e.g. 0.05 * 20 from flooring to 0 through rounding.
    k = int(np.floor(target * s.size + 1e-9))
    return float(s[s.size - 1 - k])


def thin_roc(fpr, tpr, *, max_points: int = ROC_POINTS) -> dict:
    """Keep at most ``max_points`` points of a ROC curve, always including both ends."""
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.size > max_points:
        keep = np.unique(np.round(np.linspace(0, fpr.size - 1, max_points)).astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}


def detection_metrics(
    *,
    threshold: float,
    clean_scores,
    adv_scores,
    y,
    clean_pred,
    adv_pred,
) -> dict:
    """Detector metrics for one set of adversarial examples (see the module docstring).

    Parameters
    ----------
    threshold : float
        From `calibrate_threshold`; a score above it is a rejection.
    clean_scores : array-like, shape (m,)
        Scores of the clean test inputs (negatives for FPR and AUC).
    adv_scores : array-like, shape (n,)
        Scores of the adversarial inputs.
    y : array-like of int, shape (n,)
        True labels of the adversarial inputs.
    clean_pred, adv_pred : array-like of int, shape (n,)
        Guarded classifier's labels for the clean and adversarial versions of those inputs.

    Returns
    -------
    dict
        ``tpr``, ``tpr_all``, ``fpr_test``, ``reject_accuracy`` (proportions), ``auc`` (float or
        None), ``roc`` (``{"fpr": [...], "tpr": [...]}``, empty lists without AUC),
        ``n_successful``.

    Raises
    ------
    DataError
        Arrays of mismatched lengths.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    clean_scores = np.asarray(clean_scores, dtype=np.float64).ravel()
    adv_scores = np.asarray(adv_scores, dtype=np.float64).ravel()
    y, clean_pred, adv_pred = (np.asarray(a).ravel() for a in (y, clean_pred, adv_pred))
    n = adv_scores.size
    if not (y.size == clean_pred.size == adv_pred.size == n):
        raise DataError(
            f"adv_scores, y, clean_pred, adv_pred must have equal lengths; got "
            f"{n}, {y.size}, {clean_pred.size}, {adv_pred.size}"
        )
    rejected = adv_scores > threshold
    successful = (clean_pred == y) & (adv_pred != y)
    auc, roc = None, {"fpr": [], "tpr": []}
    if clean_scores.size and successful.any():
        labels = np.r_[np.zeros(clean_scores.size), np.ones(int(successful.sum()))]
        values = np.r_[clean_scores, adv_scores[successful]]
        auc = float(roc_auc_score(labels, values))
        fpr, tpr, _ = roc_curve(labels, values)
        roc = thin_roc(fpr, tpr)
    return {
        "tpr": proportion(int((rejected & successful).sum()), int(successful.sum())),
        "tpr_all": proportion(int(rejected.sum()), n),
        "fpr_test": proportion(int((clean_scores > threshold).sum()), clean_scores.size),
        "auc": auc,
        "reject_accuracy": proportion(int((rejected | (adv_pred == y)).sum()), n),
        "n_successful": int(successful.sum()),
        "roc": roc,
    }


class _SqueezeView(torch.autograd.Function):
    """Forward: an ART squeezer on the (detached) input; backward: the identity (BPDA)."""

    @staticmethod
    def forward(ctx, x, squeezer):
        out, _ = squeezer(x.detach().cpu().numpy())
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class SqueezeEnsemble(nn.Module):
    """The classifier seen through the raw input and each squeezer at once, for adaptive attacks.

    ``forward(x) = log(mean_v softmax(model(v(x))))`` over the views ``v`` = identity and each
    squeezer, with the squeezers differentiated as the identity (BPDA). Cross-entropy on this
    output is low only when every view predicts the true class, so maximising it (any ART
    gradient attack on ``as_art_classifier(SqueezeEnsemble(...))``) pushes the raw and squeezed
    predictions *together* away from the label, which also keeps the detector score low.

    Parameters
    ----------
    model : torch.nn.Module
        The guarded model (returns logits).
    squeezers : list of ART preprocessors
    """

    def __init__(self, model: nn.Module, squeezers: list) -> None:
        super().__init__()
        self.model = model
        self.squeezers = list(squeezers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = [x] + [_SqueezeView.apply(x, s) for s in self.squeezers]
        log_probs = torch.stack([torch.log_softmax(self.model(v), dim=1) for v in views])
        return torch.logsumexp(log_probs, dim=0) - np.log(len(views))


def _row_key(attack: str, eps: float, adaptive: bool) -> tuple:
    from artgenre.eps import eps_key

    return (attack, eps_key(eps), bool(adaptive))


class DetectorMonitor:
    """The calibrated detector of a defense run and its per-(attack, ε, adaptive) metrics.

    Calibrates on the clean validation split (``config.target_fpr``), scores the clean
    evaluated samples, then `record` scores each adversarial set; `block` is the result's
    ``detector`` entry. Rows of a previous run with the same threshold are kept for resuming.

    Parameters
    ----------
    config : artgenre.defenses.DefenseConfig
        Uses ``bit_depth``, ``median``, ``target_fpr``, ``eval_batch_size``.
    guarded : ART classifier
        The spectrogram classifier the detector protects (without a squeezer attached).
    data : artgenre.data.Dataset
        ``val`` calibrates the threshold.
    split : artgenre.data.Split
        The evaluated samples.
    previous : dict or None
        A previous result of the same run.
    inputs : np.ndarray, optional
        The attacked array of ``split`` (the threat model's `inputs`; default ``split.x``).
    model_inputs : callable, optional
        Maps an attacked array (clean or adversarial, rows of ``split``) to what ``guarded``
        classifies, e.g. the waveform front end's log-mels (default: the identity). The
        threshold is calibrated on ``data.val.x``, the dataset's own log-mels.
    """

    def __init__(self, *, config, guarded, data, split, previous: dict | None, inputs=None, model_inputs=None):
        import time

        from artgenre.defenses.squeeze import detector_squeezers

        t0 = time.perf_counter()
        self.guarded = guarded
        self.batch_size = config.eval_batch_size
        self.squeezers = detector_squeezers(bit_depth=config.bit_depth, median=config.median)
        bs = self.batch_size
        x_val = np.asarray(data.val.x, dtype=np.float32)
        val_scores = detector_scores(classifier=guarded, x=x_val, squeezers=self.squeezers, batch_size=bs)
        self.threshold = calibrate_threshold(scores=val_scores, target_fpr=config.target_fpr)
        self.model_inputs = model_inputs or (lambda x: np.asarray(x, dtype=np.float32))
        self.x = self.model_inputs(split.x if inputs is None else inputs)
        self.y = np.asarray(split.y, dtype=np.int64)
        self.track = np.asarray(split.track)
        self.clean_scores = detector_scores(classifier=guarded, x=self.x, squeezers=self.squeezers, batch_size=bs)
        self.clean_pred = predict_logits(guarded, self.x, batch_size=bs).argmax(axis=1)
        accepted_right = (self.clean_scores <= self.threshold) & (self.clean_pred == self.y)
        self.header = {
            "threshold": self.threshold,
            "target_fpr": config.target_fpr,
            "fpr_val": proportion(int((val_scores > self.threshold).sum()), len(val_scores)),
            "fpr_test": proportion(int((self.clean_scores > self.threshold).sum()), len(self.clean_scores)),
            "clean_reject_accuracy": proportion(int(accepted_right.sum()), len(self.y)),
            "squeezers": [f"bit_depth={config.bit_depth}"] + (["median_2x2"] if config.median else []),
            "score": "max over squeezers of L1(softmax(x), softmax(squeeze(x)))",
            "tpr_population": "successful adversarial examples (clean correct, adversarial wrong)",
            "n_val": int(len(val_scores)),
            "calibration_seconds": time.perf_counter() - t0,
        }
        old = (previous or {}).get("detector") or {}
        same = isinstance(old, dict) and old.get("threshold") == self.threshold
        self.per_attack: list[dict] = [p for p in old.get("per_attack") or [] if isinstance(p, dict)] if same else []

    def has_row(self, cell: dict) -> bool:
        """Whether ``cell``'s adversarial set has been scored (a resumed cell without a row must
        be recomputed)."""
        key = _row_key(cell["attack"], cell["eps"], cell["adaptive"])
        return any(_row_key(p["attack"], p["eps"], p["adaptive"]) == key for p in self.per_attack)

    def record(self, attack: str, eps: float, adaptive: bool, x_adv: np.ndarray) -> None:
        """Score one adversarial set (the attacked samples, as ``inputs``)."""
        bs = self.batch_size
        x_adv = self.model_inputs(x_adv)
        scores = detector_scores(classifier=self.guarded, x=x_adv, squeezers=self.squeezers, batch_size=bs)
        adv_pred = predict_logits(self.guarded, x_adv, batch_size=bs).argmax(axis=1)
        metrics = detection_metrics(threshold=self.threshold, clean_scores=self.clean_scores, adv_scores=scores,
                                    y=self.y, clean_pred=self.clean_pred, adv_pred=adv_pred)
        key = _row_key(attack, eps, adaptive)
        self.per_attack = [p for p in self.per_attack if _row_key(p["attack"], p["eps"], p["adaptive"]) != key]
        # Per sample, so the system's worst case over attacks can be taken (`worst_case`).
        system_ok = (scores > self.threshold) | (adv_pred == self.y)
        self.per_attack.append({"attack": attack, "eps": float(eps), "adaptive": bool(adaptive), **metrics,
                                "system_ok": system_ok.astype(int).tolist()})

    def worst_case(self, rows: list[dict]) -> list[dict]:
        """Per ε: share of samples the guarded system gets right on clean input (accepted and
        correct) *and* under every attack of ``rows`` (rejected, or accepted and correct),
        adaptive and non-adaptive together; rows without per-sample outcomes are left out."""
        from artgenre.eps import eps_key
        from artgenre.stats import segment_proportion

        clean_ok = (self.clean_scores <= self.threshold) & (self.clean_pred == self.y)
        by: dict = {}
        for p in rows:
            if isinstance(p.get("system_ok"), list) and len(p["system_ok"]) == len(self.y):
                by.setdefault(eps_key(p["eps"]), []).append(p)
        out = []
        for _, group in sorted(by.items()):
            ok = clean_ok.copy()
            for p in group:
                ok &= np.asarray(p["system_ok"], dtype=bool)
            out.append({"eps": float(group[0]["eps"]), "reject_accuracy": segment_proportion(ok, self.track),
                        "attacks": sorted({p["attack"] + (" (adaptive)" if p["adaptive"] else "") for p in group})})
        return out

    def block(self, cells: list[dict]) -> dict:
        """The result's ``detector`` entry: header plus the rows of ``cells``, in cell order."""
        order = {_row_key(c["attack"], c["eps"], c["adaptive"]): i for i, c in enumerate(cells)}
        rows = [p for p in self.per_attack if _row_key(p["attack"], p["eps"], p["adaptive"]) in order]
        rows.sort(key=lambda p: order[_row_key(p["attack"], p["eps"], p["adaptive"])])
        return {**self.header, "per_attack": rows, "worst_case": self.worst_case(rows)}
