"""An attack on the guarded system itself: fool the classifier *and* stay under the detector.

The feature-squeezing detector rejects an input whose softmax moves by more than the calibrated
threshold ``τ`` when the input is squeezed. An adaptive adversary therefore maximises

    CE(f(x'), y)  −  λ · max(0, score(x') − (τ − margin))

over the ε-ball, where ``score`` is the detector's own score, computed with the squeezers in
the forward pass and differentiated as the identity (BPDA, Athalye et al. 2018). For every
sample it keeps the iterate that is misclassified *and* accepted (score ≤ τ) if one appears,
checking each candidate with the exact detector, so the attack is never scored on an iterate
the real system would reject. ART has no detector-aware attack, hence this loop; it uses ART's
squeezers and the same projection as ART's PGD (the L∞ or L2 ball ∩ the input range).

The squeezers act on the spectrogram model's input. For a model that computes it from the
attacked input (the waveform threat model's front end ∘ model), `split_features` finds the
spectrogram: the attack perturbs the audio, differentiates through the front end, and squeezes
the front end's output, as the detector of that system does.
"""

from __future__ import annotations

import numpy as np
import torch

from artgenre.defenses.detector import _SqueezeView
from artgenre.frontend import split_features
from artgenre.errors import DataError, ParameterError, check_int, check_range

#: Weight of the detector penalty: cross-entropy is O(1–10), scores are in [0, 2].
DETECTOR_PENALTY = 10.0
#: Aim this far under τ so float rounding between the torch and numpy scores cannot flip a decision.
SCORE_MARGIN = 0.02


def _scores(features, head, x: torch.Tensor, squeezers) -> tuple[torch.Tensor, torch.Tensor]:
    z = features(x)
    logits = head(z)
    p_raw = torch.softmax(logits, dim=1)
    score = torch.zeros(x.shape[0], device=x.device, dtype=logits.dtype)
    for s in squeezers:
        p_sq = torch.softmax(head(_SqueezeView.apply(z, s)), dim=1)
        score = torch.maximum(score, (p_raw - p_sq).abs().sum(dim=1))
    return logits, score


def detector_aware_pgd(*, model, squeezers, threshold: float, x, y, eps: float, steps: int = 20,
                       step_ratio: float = 0.1, restarts: int = 1, batch_size: int = 32,
                       penalty: float = DETECTOR_PENALTY, margin: float = SCORE_MARGIN,
                       seed: int = 0, device=None, norm: str = "inf",
                       clip_values: tuple[float, float] = (0.0, 1.0),
                       count=None) -> tuple[np.ndarray, np.ndarray]:
    """Craft adversarial examples against classifier + detector together.

    Parameters
    ----------
    model : torch.nn.Module
        The guarded model (logits), in eval mode; its weights are not changed. The squeezers
        act on ``split_features(model)``'s features.
    squeezers : list of ART preprocessors
        The detector's squeezers (`artgenre.defenses.squeeze.detector_squeezers`).
    threshold : float
        The detector's calibrated threshold τ (reject when score > τ).
    x : np.ndarray, shape (N, ...), float32 within ``clip_values``
    y : np.ndarray of int, shape (N,)
        True labels.
    eps : float
        Budget in input units, in [0, 1]: the L∞ or per-sample L2 radius (``norm``).
    steps, step_ratio, restarts : int, float, int
        Steps of ``step_ratio · ε`` per restart (along the gradient's sign for L∞, its
        direction for L2); each restart starts uniformly in the ε-ball (L∞) or at a random
        point of norm ≤ ε (L2).
    batch_size : int
    penalty, margin : float
        λ and the safety margin under τ of the objective above.
    seed : int
        Seeds the random starts.
    device : torch.device or str, optional
        Where to compute (default: the model's device).
    norm : {"inf", "2"}
        The budget's norm (``2``, ``np.inf`` are accepted too).
    clip_values : (float, float)
        The input range (the classifier's ``clip_values``).
    count : callable, optional
        Called as ``count(k)`` before each gradient step with the ``k`` samples it steps (a
        sample leaves once accepted and misclassified), e.g. `artgenre.pass_counts.add`.

    Returns
    -------
    x_adv : np.ndarray, shape of ``x``, float32
        For each sample, an accepted-and-misclassified iterate if one was found, else the last
        iterate of the last restart.
    evaded : np.ndarray of bool, shape (N,)
        True where ``x_adv`` is misclassified and accepted by the exact detector.

    Raises
    ------
    DataError
        Mismatched or empty inputs. `ParameterError` for out-of-range settings.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).astype(np.int64).ravel()
    if x.ndim < 2 or x.shape[0] == 0 or x.shape[0] != y.shape[0]:
        raise DataError(f"expected x of shape (N, ...) and y of shape (N,); got {x.shape} and {y.shape}")
    norm = check_norm(norm)
    lo, hi = (float(v) for v in clip_values)
    eps = check_range("eps", eps, low=0.0, high=1.0)
    steps = check_int("steps", steps, 1)
    restarts = check_int("restarts", restarts, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    step_ratio = check_range("step_ratio", step_ratio, low=0.0, high=1.0, low_open=True)
    if device is None:
        device = next(model.parameters()).device
    # Random starts are drawn on the host and moved to `device`, so a seed gives the same starts on
    # CPU and CUDA; the attack itself runs on `device`.
    gen = torch.Generator().manual_seed(int(seed))  # a host generator (torch.Generator default)
    x_adv = x.copy()
    evaded = np.zeros(len(x), dtype=bool)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        for start in range(0, len(x), batch_size):
            sl = slice(start, start + batch_size)
            xb, ev = _attack_batch(split_features(model), squeezers, float(threshold),
                                   torch.as_tensor(x[sl]).to(device), torch.as_tensor(y[sl]).to(device),
                                   _Ball(norm, eps, lo, hi), steps, step_ratio * eps, restarts, float(penalty),
                                   float(margin), gen, count)
            x_adv[sl], evaded[sl] = xb, ev
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return x_adv, evaded


def check_norm(norm) -> str:
    """``norm`` as ``"inf"`` or ``"2"`` (``np.inf``, ``2`` and their strings), else `ParameterError`."""

    try:
        key = {"inf": "inf", "2": "2", 2: "2", float("inf"): "inf"}.get(norm.lower() if isinstance(norm, str) else norm)
    except TypeError:  # unhashable
        key = None
    if key is None or isinstance(norm, bool):
        raise ParameterError(f"norm={norm!r} is not valid; expected 'inf' or 2")
    return key


class _Ball:
    """The budget: the ε-ball of ``norm`` around each clean input, intersected with [lo, hi]."""

    def __init__(self, norm: str, eps: float, lo: float, hi: float) -> None:
        self.norm, self.eps, self.lo, self.hi = norm, eps, lo, hi

    def _per_sample(self, v: torch.Tensor) -> torch.Tensor:
        return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))

    def start(self, x0: torch.Tensor, gen) -> torch.Tensor:
        if self.norm == "inf":
            noise = (torch.rand(x0.shape, generator=gen) * 2 - 1).to(x0.device) * self.eps
        else:
            d = torch.randn(x0.shape, generator=gen).to(x0.device)
            r = torch.rand((x0.shape[0],), generator=gen).to(x0.device) ** (1.0 / x0[0].numel())
            noise = d / self._per_sample(d) * (r * self.eps).view(-1, *([1] * (x0.dim() - 1)))
        return (x0 + noise).clamp(self.lo, self.hi)

    def step(self, xa: torch.Tensor, grad: torch.Tensor, step: float, x0: torch.Tensor) -> torch.Tensor:
        if self.norm == "inf":
            xa = xa + step * grad.sign()
            return torch.min(torch.max(xa, x0 - self.eps), x0 + self.eps).clamp(self.lo, self.hi)
        xa = xa + step * grad / self._per_sample(grad)
        delta = xa - x0
        delta = delta * (self.eps / self._per_sample(delta)).clamp(max=1.0)
        return (x0 + delta).clamp(self.lo, self.hi)


def _attack_batch(split, squeezers, tau, x0, y, ball: _Ball, steps, step, restarts, penalty, margin, gen,
                  count=None):
    features, head = split
    best = x0.clone()
    found = torch.zeros(x0.shape[0], dtype=torch.bool, device=x0.device)
    for _ in range(restarts):
        # Each restart draws the whole batch's start, so the random stream does not depend on
        # which samples are still attacked; a found sample keeps its first accepted-and-wrong
        # iterate, so only the others are stepped (samples are independent in eval mode).
        start = ball.start(x0, gen)
        rows = torch.nonzero(~found).flatten()
        xa = start[rows]
        for _ in range(steps + 1):
            if rows.numel() == 0:
                break
            xa.requires_grad_(True)
            logits, score = _scores(features, head, xa, squeezers)
            yr = y[rows]
            # Exact decision: the squeezers ran in the forward pass, so `score` is the detector's.
            hit = (logits.argmax(dim=1) != yr) & (score <= tau)
            best[rows[hit]] = xa.detach()[hit]
            found[rows[hit]] = True
            ce = torch.nn.functional.cross_entropy(logits, yr, reduction="none")
            objective = ce - penalty * torch.relu(score - (tau - margin))
            if count is not None:
                count(int(rows.numel()))
            (grad,) = torch.autograd.grad(objective.sum(), xa)
            with torch.no_grad():
                keep = ~hit
                rows, xa = rows[keep], ball.step(xa.detach()[keep], grad[keep], step, x0[rows[keep]])
        best[rows] = xa.detach()
    return best.cpu().numpy(), found.cpu().numpy()


__all__ = ["DETECTOR_PENALTY", "SCORE_MARGIN", "check_norm", "detector_aware_pgd"]
