"""The registered attacks: one `AttackSpec` entry per attack, next to its factory.

Every factory has the signature ``(classifier, *, eps, batch_size, **params)`` and returns a
`PreparedAttack`. ε is an L∞ budget in the threat model's units (spectrogram: x ∈ [0, 1];
``ε = 0.01`` is 0.8 dB, see `artgenre.threats`).

- ``fgsm``: ART ``FastGradientMethod`` (L∞, one step of size ε, no random start).
- ``pgd``: ART ``ProjectedGradientDescent`` (L∞), as in the seed: ``steps=10`` steps of
  ``step_ratio * ε = ε / 4`` from one uniform random start in the ε ball; ``restarts`` adds
  random starts (ART keeps, per sample, the last start whose prediction differs from the
  clean one); the stronger setting is one option away (``steps=50``). ART runs it natively
  in PyTorch when every preprocessing step of the classifier is framework-native; a numpy
  preprocessing defence (e.g. ``FeatureSqueezing``) makes ART fall back to its numpy
  implementation, which is logged as a warning. Without restarts, or with a per-sample
  budget, ART's PyTorch batch routine is driven directly (`pgd_torch_driver`), skipping the
  success rate ART's ``generate`` computes only for a log line; the examples are the same.
- ``deepfool``: ART ``DeepFool`` (minimum-norm, not ε-bounded: ``eps`` is ignored) with
  overshoot `DEEPFOOL_OVERSHOOT` = 0.02, the DeepFool paper's value (ART defaults to 1e-6,
  which leaves many samples exactly on the decision boundary).
- ``noise``: a sanity reference, not an attack: ``clip(x + ε · sign(U(-1, 1)), 0, 1)``.

To add an attack, write its factory here and register an `AttackSpec` for it; an attack that
is an ART class needs only the entry, with `artgenre.attacks.art_classes.art_factory`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

from artgenre.attacks.spec import (
    AttackSpec,
    PreparedAttack,
    check_batch_size,
    check_eps,
    identity_attack,
    prepared,
    register_attack,
)
from artgenre.errors import ParameterError, check_int, check_range
from artgenre.runtime import log

#: DeepFool overshoot (Moosavi-Dezfooli et al. 2016 use 0.02); ART's default is 1e-6.
DEEPFOOL_OVERSHOOT = 0.02
#: DeepFool's iteration cap. ART's DeepFool reaches the boundary in a few iterations and then
#: creeps along it (it checks the point before its overshoot); on the quick models 7 and 50
#: give the same adversarial examples to ~1.2e-6 (docs/methodology.md). The paper profile runs 50.
DEEPFOOL_MAX_ITER = 7
#: PGD defaults (the seed's): 10 steps of ε/4 from one random start, no extra restarts.
PGD_STEPS = 10
PGD_STEP_RATIO = 0.25


def _per_sample(eps: float, scale, input_shape) -> np.ndarray:
    """``eps * scale`` as an (N, 1, ...) float32 array: ART's per-sample ``eps`` for inputs of
    ``input_shape``."""
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    return (eps * scale).reshape((-1,) + (1,) * len(input_shape)).astype(np.float32)


def fgsm(classifier, *, eps: float, batch_size: int, norm: float = np.inf, scale=None) -> PreparedAttack:
    """FGSM (Goodfellow et al. 2015): ``x + ε · sign(∇ₓ loss)``, clipped to [0, 1].

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
    eps : float
        L∞ budget in [0, 1], also the step size.
    batch_size : int
        Gradient batch size (>= 1).
    norm : float
        ``np.inf`` (the sweep's L∞ budget) or 2 (an L2 budget: `artgenre.threats_waveform`'s
        l2rel); set by the threat model, not a user parameter.
    scale : np.ndarray, shape (N,), optional
        Per-sample budget multipliers: sample ``i`` gets budget ``eps * scale[i]`` (the waveform
        threat's per-example L2 budget); the attack then runs on exactly those N rows. Set by
        the threat model, not a user parameter.

    Returns
    -------
    PreparedAttack
        ``art_attack`` is ART's ``FastGradientMethod`` (the identity at ε = 0).

    Raises
    ------
    ParameterError
        ``eps`` outside [0, 1] or NaN; ``batch_size < 1``.
    """
    from art.attacks.evasion import FastGradientMethod

    eps, batch_size = check_eps(eps), check_batch_size(batch_size)
    if eps == 0:
        return identity_attack("fgsm", eps)
    budget = eps if scale is None else _per_sample(eps, scale, classifier.input_shape)
    attack = FastGradientMethod(
        classifier, norm=norm, eps=budget, eps_step=budget, num_random_init=0,
        batch_size=batch_size, minimal=False, summary_writer=False,
    )
    return prepared("fgsm", eps, classifier, art_attack=attack)


def pgd(classifier, *, eps: float, batch_size: int, steps: int = PGD_STEPS, step_ratio: float = PGD_STEP_RATIO,
        restarts: int = 0, norm: float = np.inf, scale=None) -> PreparedAttack:
    """L∞ PGD (Madry et al. 2018) with a uniform random start.

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
    eps : float
        L∞ budget in [0, 1].
    batch_size : int
        Gradient batch size (>= 1); equal to the number of inputs is fastest.
    steps : int
        Gradient steps per start (>= 1); 10 by default, 50 for the stronger setting.
    step_ratio : float
        Step size as a fraction of ε, in (0, 1]; ``eps_step = step_ratio * eps``.
    restarts : int
        Extra random restarts (>= 0): ``num_random_init = 1 + restarts``.
    norm : float
        ``np.inf`` or 2, as for `fgsm` (set by the threat model).
    scale : np.ndarray, shape (N,), optional
        Per-sample budget multipliers, as for `fgsm`: ``eps`` and the step of sample ``i`` are
        multiplied by ``scale[i]`` (set by the threat model).

    Returns
    -------
    PreparedAttack
        ``art_attack._attack`` is ART's ``ProjectedGradientDescentPyTorch`` unless the
        classifier has non-framework preprocessing (then a warning is logged).

    Raises
    ------
    ParameterError
        Out-of-range ``eps``, ``batch_size``, ``steps``, ``step_ratio`` or ``restarts``.
    """
    from art.attacks.evasion import ProjectedGradientDescent
    from art.attacks.evasion.projected_gradient_descent.projected_gradient_descent_pytorch import (
        ProjectedGradientDescentPyTorch,
    )

    eps, batch_size = check_eps(eps), check_batch_size(batch_size)
    steps = check_int("steps", steps, 1)
    restarts = check_int("restarts", restarts, 0)
    step_ratio = check_range("step_ratio", step_ratio, low=0.0, high=1.0, low_open=True)
    if eps == 0:
        return identity_attack("pgd", eps)
    attack = ProjectedGradientDescent(
        classifier, norm=norm, eps=eps, eps_step=step_ratio * eps, max_iter=steps,
        num_random_init=1 + restarts, batch_size=batch_size, summary_writer=False, verbose=False,
    )
    if isinstance(attack._attack, ProjectedGradientDescentPyTorch):
        # With restarts ART's generate must compare successes between starts: keep it, unless
        # the budget is per sample, which only the driver handles.
        fn = pgd_torch_driver(attack._attack, scale=scale) if restarts == 0 or scale is not None else None
        return prepared("pgd", eps, classifier, art_attack=attack, fn=fn)
    preprocessing = ", ".join(type(p).__name__ for p in getattr(classifier, "preprocessing_operations", [])) or "?"
    if scale is not None:
        raise ParameterError(f"a per-sample budget (scale) needs ART's PyTorch PGD, but the classifier has "
                             f"non-framework preprocessing ({preprocessing}); put such a defence inside the "
                             "model (as the waveform threat model does) or use one budget for all samples")
    log.warning(
        "PGD runs on ART's numpy path (%s), not the PyTorch-native one: the classifier has "
        "non-framework preprocessing (%s); expect it to be several times slower",
        type(attack._attack).__name__, preprocessing,
    )
    return prepared("pgd", eps, classifier, art_attack=attack)


def pgd_torch_driver(inner, *, scale=None) -> Callable:
    """``fn(x, y)`` running ART's PyTorch PGD batch by batch, as its ``generate`` does for one
    random start and no mask, minus the success rate that ``generate`` computes at the end
    only to log it (two extra forward passes over every input, ~7 % of PGD-10's time).

    Each batch goes through ART's own ``_generate_batch`` (random start, steps, clipping,
    projection), so the adversarial examples are identical to ``generate``'s for the same
    NumPy seed (tested). With ``scale`` (a per-sample budget, see `pgd`) each batch runs ART's
    steps (``_compute_pytorch``) from a random start drawn here, since ART's L2 random start
    takes one radius for all samples; restarts then keep, per sample, the last start whose
    prediction differs from the clean one (else the first), as ``generate`` does.
    """
    import torch

    def fn(x: np.ndarray, y) -> np.ndarray:
        inner._check_compatibility_input_and_eps(x=x)
        inner._random_eps()
        targets = inner._set_targets(x, y).astype(np.float32, copy=False)
        out = np.empty_like(x)
        bs = inner.batch_size
        with step_ops_on_one_thread(inner):
            for batch_id, i in enumerate(range(0, len(x), bs)):
                inner._batch_id = batch_id
                xb, tb = torch.from_numpy(x[i : i + bs]), torch.from_numpy(targets[i : i + bs])
                if scale is None:
                    out[i : i + bs] = inner._generate_batch(x=xb, targets=tb, mask=None, eps=inner.eps,
                                                            eps_step=inner.eps_step)
                else:
                    out[i : i + bs] = _scaled_starts(inner, xb, tb, np.asarray(scale[i : i + bs]))
        return out

    return fn


@contextlib.contextmanager
def step_ops_on_one_thread(inner) -> Iterator[None]:
    """Run ART's L∞ PGD step on one CPU thread except for the model's own passes.

    Between two gradients ART's step makes about ten elementwise passes over the batch (sign,
    step, clip, projection, NaN checks). Each is a parallel region that waits for its slowest
    thread, and when another process holds one of the two cores that wait is most of the step's
    overhead (ART/plain CPU time 1.11 → 1.02–1.05 under such load in
    ``benchmarks/attack_overhead.py``). Elementwise results do not depend on the thread count,
    so the examples are the same (tested). The estimator's ``loss_gradient`` and ``predict``
    get the threads back for the duration of each call. L2 steps (per-sample norms: reductions,
    whose rounding does depend on it), CUDA and single-threaded runs are left as they are.
    """
    import torch

    est, n = inner.estimator, torch.get_num_threads()
    if inner.norm not in (np.inf, "inf") or getattr(est.device, "type", "cpu") != "cpu" or n == 1:
        yield
        return

    def with_threads(method):
        def call(*args, **kwargs):
            torch.set_num_threads(n)
            try:
                return method(*args, **kwargs)
            finally:
                torch.set_num_threads(1)
        return call

    names = ("loss_gradient", "predict")
    shadowed = {k: est.__dict__[k] for k in names if k in est.__dict__}
    for k in names:
        setattr(est, k, with_threads(getattr(est, k)))
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
        for k in names:
            if k in shadowed:
                est.__dict__[k] = shadowed[k]
            else:
                del est.__dict__[k]


def _scaled_starts(inner, x, targets, scale: np.ndarray) -> np.ndarray:
    """ART's PGD steps on one batch whose sample ``i`` has budget ``inner.eps * scale[i]``."""
    import torch
    from art.utils import compute_success_array, random_sphere

    s = scale.reshape((-1,) + (1,) * (x.ndim - 1)).astype(np.float32)
    eps, eps_step = inner.eps * s, inner.eps_step * s
    device = inner.estimator.device
    x0, tb = x.to(device), targets.to(device)
    lo, hi = inner.estimator.clip_values
    best = None
    for _ in range(max(1, inner.num_random_init)):
        # A point uniform in the unit ball, scaled per sample: ART's draws for a scalar radius.
        delta = random_sphere(len(x), int(np.prod(x.shape[1:])), 1.0, inner.norm).reshape(x.shape) * eps
        adv = torch.clamp(x0 + torch.from_numpy(delta.astype(np.float32)).to(device), float(lo), float(hi))
        momentum = torch.zeros(x0.shape, device=device)
        for step in range(inner.max_iter):
            inner._i_max_iter = step
            adv = inner._compute_pytorch(adv, x0, tb, None, eps, eps_step, False, momentum)
        adv = adv.detach().cpu().numpy()
        if best is None:
            best = adv
        else:
            won = compute_success_array(inner.estimator, x.numpy(), targets.numpy(), adv, inner.targeted,
                                        batch_size=inner.batch_size)
            best[won] = adv[won]
    return best


def deepfool(classifier, *, eps: float, batch_size: int, max_iter: int = DEEPFOOL_MAX_ITER, nb_grads: int = 10,
             overshoot: float = DEEPFOOL_OVERSHOOT) -> PreparedAttack:
    """DeepFool (Moosavi-Dezfooli et al. 2016): per-sample minimal L2 perturbations.

    Not ε-bounded: ``eps`` is validated but otherwise ignored (a sweep runs DeepFool once).

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
    eps : float
        Ignored (kept for the common factory signature); must still lie in [0, 1].
    batch_size : int
        Batch size (>= 1).
    max_iter : int
        Maximum linearisation steps per sample (>= 1), `DEEPFOOL_MAX_ITER` by default.
    nb_grads : int
        Number of top-predicted classes whose gradients are used (>= 1).
    overshoot : float
        Final overshoot factor (>= 0), `DEEPFOOL_OVERSHOOT` by default.

    Returns
    -------
    PreparedAttack
        ``art_attack`` is ART's ``DeepFool``.

    Raises
    ------
    ParameterError
        Out-of-range values.
    """
    from art.attacks.evasion import DeepFool

    eps, batch_size = check_eps(eps), check_batch_size(batch_size)
    max_iter = check_int("max_iter", max_iter, 1)
    nb_grads = check_int("nb_grads", nb_grads, 1)
    overshoot = check_range("overshoot", overshoot, low=0.0)
    attack = DeepFool(classifier, max_iter=max_iter, epsilon=overshoot, nb_grads=nb_grads,
                      batch_size=batch_size, verbose=False)
    return prepared("deepfool", eps, classifier, art_attack=attack)


def noise(classifier, *, eps: float, batch_size: int, seed: int | None = None, norm: float = np.inf,
          scale=None) -> PreparedAttack:
    """Random-sign noise ``clip(x + ε · sign(U(-1, 1)), 0, 1)``: a baseline, not an attack.

    Parameters
    ----------
    classifier : object
        Unused (kept for the common factory signature).
    eps : float
        Noise amplitude in [0, 1].
    batch_size : int
        Validated (>= 1) but unused.
    seed : int, optional
        Seed of a fresh generator per ``generate`` call; None draws from NumPy's global
        generator (which `artgenre.runtime.seed_everything` and the sweep seed).
    norm : float
        ``np.inf`` (amplitude ε per element) or 2 (the same signs scaled to L2 norm ε);
        set by the threat model. The result is clipped to ``classifier.clip_values``.
    scale : np.ndarray, shape (N,), optional
        Per-sample amplitude multipliers, as for `fgsm` (set by the threat model).

    Returns
    -------
    PreparedAttack
    """
    eps = check_eps(eps)
    check_batch_size(batch_size)
    if seed is not None:
        seed = check_int("seed", seed, 0)
    if eps == 0:
        return identity_attack("noise", eps)
    # The threat model's range: (0, 1) for log-mel segments, (-1, 1) for audio.
    clip = getattr(classifier, "clip_values", None)
    lo, hi = (0.0, 1.0) if clip is None else (float(clip[0]), float(clip[1]))

    def fn(x: np.ndarray, y) -> np.ndarray:
        rng = np.random.default_rng(seed) if seed is not None else np.random
        sign = np.sign(rng.uniform(-1.0, 1.0, size=x.shape)).astype(np.float32)
        # L2: the same signs scaled so that each sample's perturbation has norm ε.
        step = eps if norm == np.inf else eps / np.sqrt(max(int(np.prod(x.shape[1:])), 1))
        step = np.float32(step) if scale is None else _per_sample(step, scale, x.shape[1:])
        return np.clip(x + step * sign, lo, hi, dtype=np.float32)

    return PreparedAttack(name="noise", eps=eps, fn=fn)


for _spec in (
    # ``norm`` and ``scale`` are the budget's (set by the threat model for a per-example L2
    # budget), not user parameters.
    AttackSpec("fgsm", fgsm, "FGSM, one signed-gradient step of ε", budget_checked=True, accepted=(),
               per_sample_budget=True),
    AttackSpec("pgd", pgd, "L∞ PGD from a random start (steps, step_ratio, restarts)", budget_checked=True,
               accepted=("steps", "step_ratio", "restarts"), per_sample_budget=True),
    AttackSpec("deepfool", deepfool, "DeepFool minimal perturbations (max_iter, nb_grads, overshoot)",
               eps_bounded=False, minimal_norm=True, sample_parallel=True),
    AttackSpec("noise", noise, "random-sign noise of amplitude ε (a reference, not an attack)",
               budget_checked=True, accepted=("seed",), per_sample_budget=True),
):
    register_attack(_spec)
