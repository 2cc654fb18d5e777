"""Evasion attacks through IBM ART: the `ATTACKS` registry, `make_attack` and parameter parsing.

Every factory in `ATTACKS` has the signature ``(classifier, *, eps, batch_size, **params)``
and returns a `PreparedAttack`, an object with ``generate(x, y) -> x_adv``. ε is an L∞ budget
in input units (x ∈ [0, 1]; ``ε = 0.01`` is 0.8 dB, see `artgenre.data.features.unit_to_db`).

- ``fgsm``: ART ``FastGradientMethod`` (L∞, one step of size ε, no random start).
- ``pgd``: ART ``ProjectedGradientDescent`` (L∞), as in the seed: ``steps=10`` steps of
  ``step_ratio * ε = ε / 4`` from one uniform random start in the ε ball; ``restarts`` adds
  random restarts (ART keeps, per sample, the first restart that fools the model); the
  stronger setting is one option away (``steps=50``). ART runs it natively in PyTorch when
  every preprocessing step of the classifier is framework-native; a numpy preprocessing
  defence (e.g. ``FeatureSqueezing``) makes ART fall back to its numpy implementation, which
  is logged as a warning. Without restarts, ART's PyTorch batch routine is driven directly
  (`_pgd_torch_driver`) to skip the success rate ART's ``generate`` computes only for a log
  line; the examples are the same.
- ``deepfool``: ART ``DeepFool`` (minimum-norm, not ε-bounded: ``eps`` is ignored) with
  overshoot `DEEPFOOL_OVERSHOOT` = 0.02, the DeepFool paper's value (ART defaults to 1e-6,
  which leaves many samples exactly on the decision boundary).
- ``noise``: a sanity reference, not an attack: ``clip(x + ε · sign(U(-1, 1)), 0, 1)``.

``art:<ClassName>`` names (resolved by `make_attack`) build any evasion attack class of
``art.attacks.evasion`` with keyword parameters, e.g. ``art:SquareAttack`` with
``norm=inf, max_iter=20``; ``eps`` and ``batch_size`` are passed where the class accepts them.

While a gradient attack runs, the model's parameters are frozen (``requires_grad=False``):
ART's ``loss_gradient`` calls ``loss.backward()``, which would otherwise also compute every
weight gradient, about doubling the cost of a step, although attacks only need the input
gradient. The previous flags are restored afterwards.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from artgenre.errors import ParameterError, check_range
from artgenre.registry import Registry
from artgenre.runtime import log

ATTACKS: Registry = Registry("attack")

#: DeepFool overshoot (Moosavi-Dezfooli et al. 2016 use 0.02); ART's default is 1e-6.
DEEPFOOL_OVERSHOOT = 0.02
#: PGD defaults (the seed's): 10 steps of ε/4 from one random start, no extra restarts.
PGD_STEPS = 10
PGD_STEP_RATIO = 0.25
#: Attacks that find minimal perturbations instead of respecting an ε budget; a sweep runs
#: them once and derives accuracy-at-ε from their per-sample norms (`artgenre.sweep`).
MINIMAL_NORM_ATTACKS = ("deepfool",)
#: Prefix of names resolved to ART evasion classes by `make_attack`.
ART_PREFIX = "art:"


# --------------------------------------------------------------------------- attack objects


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


def _as_input(x) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    # ART hands arrays to torch.from_numpy, which warns on read-only memory (memory maps).
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.array(arr, dtype=np.float32, order="C", copy=True)
    return arr


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
        L∞ budget in input units (informational for minimal-norm attacks).
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
        x : np.ndarray, shape (N, C, H, W), values in [0, 1]
        y : np.ndarray, shape (N,) int labels (or (N, K) one-hot), optional
            True labels; without them ART attacks use the model's predictions.

        Returns
        -------
        np.ndarray, shape (N, C, H, W), float32 in [0, 1]
        """
        x = _as_input(x)
        y = _as_labels(y)
        if len(x) == 0:
            return x.copy()
        with frozen_weights(model=self._model):
            if self._fn is not None:
                return self._fn(x, y)
            return np.asarray(self.art_attack.generate(x, y=y), dtype=np.float32)

    def __repr__(self) -> str:
        inner = type(self.art_attack).__name__ if self.art_attack is not None else "numpy"
        return f"PreparedAttack({self.name!r}, eps={self.eps:g}, {inner})"


def _identity(name: str, eps: float) -> PreparedAttack:
    # An ε = 0 budget admits only x itself; ART rejects a zero step size, so short-circuit.
    return PreparedAttack(name=name, eps=eps, fn=lambda x, y: x.copy())


def _model_of(classifier):
    return getattr(classifier, "model", None)


# --------------------------------------------------------------------------- validation helpers


def _eps(eps) -> float:
    if isinstance(eps, bool):
        raise ParameterError(f"eps={eps!r} is not valid; expected a number in [0, 1]")
    return check_range("eps", eps, low=0.0, high=1.0)


def _int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(f"{name}={value!r} is not valid; expected an integer >= {low}")
    return int(value)


def _batch_size(batch_size) -> int:
    return _int("batch_size", batch_size, 1)


# --------------------------------------------------------------------------- registered attacks


@ATTACKS.register("fgsm")
def fgsm(classifier, *, eps: float, batch_size: int) -> PreparedAttack:
    """FGSM (Goodfellow et al. 2015): ``x + ε · sign(∇ₓ loss)``, clipped to [0, 1].

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
    eps : float
        L∞ budget in [0, 1].
    batch_size : int
        Gradient batch size (>= 1).

    Returns
    -------
    PreparedAttack

    Raises
    ------
    ParameterError
        ``eps`` outside [0, 1] or NaN; ``batch_size < 1``.
    """
    from art.attacks.evasion import FastGradientMethod

    eps, batch_size = _eps(eps), _batch_size(batch_size)
    if eps == 0:
        return _identity("fgsm", eps)
    attack = FastGradientMethod(
        classifier, norm=np.inf, eps=eps, eps_step=eps, num_random_init=0,
        batch_size=batch_size, minimal=False, summary_writer=False,
    )
    return PreparedAttack(name="fgsm", eps=eps, art_attack=attack, model=_model_of(classifier))


@ATTACKS.register("pgd")
def pgd(
    classifier,
    *,
    eps: float,
    batch_size: int,
    steps: int = PGD_STEPS,
    step_ratio: float = PGD_STEP_RATIO,
    restarts: int = 0,
) -> PreparedAttack:
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

    eps, batch_size = _eps(eps), _batch_size(batch_size)
    steps = _int("steps", steps, 1)
    restarts = _int("restarts", restarts, 0)
    step_ratio = check_range("step_ratio", step_ratio, low=0.0, high=1.0, low_open=True)
    if eps == 0:
        return _identity("pgd", eps)
    attack = ProjectedGradientDescent(
        classifier, norm=np.inf, eps=eps, eps_step=step_ratio * eps, max_iter=steps,
        num_random_init=1 + restarts, batch_size=batch_size, summary_writer=False, verbose=False,
    )
    if isinstance(attack._attack, ProjectedGradientDescentPyTorch):
        # With restarts ART's generate must compare successes between starts: keep it.
        fn = _pgd_torch_driver(attack._attack) if restarts == 0 else None
        return PreparedAttack(name="pgd", eps=eps, art_attack=attack, model=_model_of(classifier), fn=fn)
    log.warning(
        "PGD runs on ART's numpy path (%s), not the PyTorch-native one: the classifier has "
        "non-framework preprocessing (%s); expect it to be several times slower",
        type(attack._attack).__name__,
        ", ".join(type(p).__name__ for p in getattr(classifier, "preprocessing_operations", [])) or "?",
    )
    return PreparedAttack(name="pgd", eps=eps, art_attack=attack, model=_model_of(classifier))


def _pgd_torch_driver(inner) -> Callable:
    """``fn(x, y)`` running ART's PyTorch PGD batch by batch, as its ``generate`` does for one
    random start and no mask, minus the success rate that ``generate`` computes at the end
    only to log it (two extra forward passes over every input, ~7 % of PGD-10's time).

    Each batch goes through ART's own ``_generate_batch`` (random start, steps, clipping,
    projection), so the adversarial examples are identical to ``generate``'s for the same
    NumPy seed (tested).
    """
    import torch

    def fn(x: np.ndarray, y) -> np.ndarray:
        inner._check_compatibility_input_and_eps(x=x)
        inner._random_eps()
        targets = inner._set_targets(x, y).astype(np.float32, copy=False)
        out = np.empty_like(x)
        bs = inner.batch_size
        for batch_id, i in enumerate(range(0, len(x), bs)):
            inner._batch_id = batch_id
            out[i : i + bs] = inner._generate_batch(
                x=torch.from_numpy(x[i : i + bs]), targets=torch.from_numpy(targets[i : i + bs]),
                mask=None, eps=inner.eps, eps_step=inner.eps_step,
            )
        return out

    return fn


@ATTACKS.register("deepfool")
def deepfool(
    classifier,
    *,
    eps: float,
    batch_size: int,
    max_iter: int = 50,
    nb_grads: int = 10,
    overshoot: float = DEEPFOOL_OVERSHOOT,
) -> PreparedAttack:
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
        Maximum linearisation steps per sample (>= 1).
    nb_grads : int
        Number of top-predicted classes whose gradients are used (>= 1).
    overshoot : float
        Final overshoot factor (>= 0), `DEEPFOOL_OVERSHOOT` by default.

    Returns
    -------
    PreparedAttack

    Raises
    ------
    ParameterError
        Out-of-range values.
    """
    from art.attacks.evasion import DeepFool

    eps, batch_size = _eps(eps), _batch_size(batch_size)
    max_iter = _int("max_iter", max_iter, 1)
    nb_grads = _int("nb_grads", nb_grads, 1)
    overshoot = check_range("overshoot", overshoot, low=0.0)
    attack = DeepFool(
        classifier, max_iter=max_iter, epsilon=overshoot, nb_grads=nb_grads,
        batch_size=batch_size, verbose=False,
    )
    return PreparedAttack(name="deepfool", eps=eps, art_attack=attack, model=_model_of(classifier))


@ATTACKS.register("noise")
def noise(classifier, *, eps: float, batch_size: int, seed: int | None = None) -> PreparedAttack:
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

    Returns
    -------
    PreparedAttack
    """
    eps = _eps(eps)
    _batch_size(batch_size)
    if seed is not None:
        seed = _int("seed", seed, 0)
    if eps == 0:
        return _identity("noise", eps)

    def fn(x: np.ndarray, y) -> np.ndarray:
        rng = np.random.default_rng(seed) if seed is not None else np.random
        sign = np.sign(rng.uniform(-1.0, 1.0, size=x.shape)).astype(np.float32)
        return np.clip(x + np.float32(eps) * sign, 0.0, 1.0, dtype=np.float32)

    return PreparedAttack(name="noise", eps=eps, fn=fn)


# --------------------------------------------------------------------------- art:<Class>


def art_attack_classes() -> dict[str, type]:
    """Evasion attack classes exported by ``art.attacks.evasion``, by class name."""
    import art.attacks.evasion as evasion
    from art.attacks.attack import EvasionAttack

    return {
        name: obj
        for name, obj in vars(evasion).items()
        if inspect.isclass(obj) and issubclass(obj, EvasionAttack) and obj is not EvasionAttack
    }


def _art_class(name: str) -> type:
    cls_name = name[len(ART_PREFIX):]
    classes = art_attack_classes()
    if cls_name in classes:
        return classes[cls_name]
    close = difflib.get_close_matches(cls_name, list(classes), n=3, cutoff=0.5)
    examples = [c for c in ("FastGradientMethod", "ProjectedGradientDescent", "BasicIterativeMethod",
                            "SquareAttack", "CarliniL2Method", "DeepFool") if c in classes]
    hint = f"did you mean {', '.join(ART_PREFIX + c for c in close)}? " if close else ""
    raise ParameterError(
        f"unknown ART evasion attack {name!r}; {hint}valid names are {ART_PREFIX}<Class> for any of "
        f"{len(classes)} classes in art.attacks.evasion, e.g. {', '.join(ART_PREFIX + c for c in examples)}"
    )


def _init_params(cls: type) -> tuple[list[str], bool]:
    sig = inspect.signature(cls.__init__)
    params = list(sig.parameters.values())[1:]  # drop self
    if params and params[0].name in ("estimator", "classifier"):
        params = params[1:]
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    names = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                   inspect.Parameter.KEYWORD_ONLY)]
    return names, var_kw


def attack_params(*, name: str) -> tuple[str, ...]:
    """Parameter names attack ``name`` accepts besides ``eps`` and ``batch_size``.

    Parameters
    ----------
    name : str
        A key of `ATTACKS` or ``art:<ClassName>``.

    Returns
    -------
    tuple of str
        For registered attacks the factory's keywords; for ART classes the keyword arguments of
        the class's ``__init__`` (plus its ``attack_params`` when it takes ``**kwargs``).

    Raises
    ------
    ParameterError
        Unknown attack or ART class.
    """
    if name.startswith(ART_PREFIX):
        cls = _art_class(name)
        names, var_kw = _init_params(cls)
        if var_kw:
            names += [p for p in getattr(cls, "attack_params", []) if p not in names]
        return tuple(n for n in names if n not in ("eps", "batch_size"))
    factory = ATTACKS[name]
    sig = inspect.signature(factory)
    return tuple(p for p in list(sig.parameters)[1:] if p not in ("eps", "batch_size"))


def check_attack_name(*, name: str) -> str:
    """Return ``name`` if it is a key of `ATTACKS` or a valid ``art:<ClassName>``.

    Raises
    ------
    ParameterError
        Naming the bad value and listing the registered attacks (and the ``art:`` form).
    """
    if not isinstance(name, str) or not name:
        raise ParameterError(f"attack {name!r} is not valid; valid attacks: {', '.join(ATTACKS)}, or art:<Class>")
    if name.startswith(ART_PREFIX):
        _art_class(name)
        return name
    if name not in ATTACKS:
        raise ParameterError(
            f"unknown attack {name!r}; valid attacks: {', '.join(ATTACKS)}, or art:<Class> for any "
            "evasion attack of art.attacks.evasion (e.g. art:SquareAttack)"
        )
    return name


def check_attack_params(*, name: str, params: Mapping[str, Any]) -> None:
    """Raise `ParameterError` if ``params`` holds a key attack ``name`` does not accept."""
    accepted = attack_params(name=name)
    for key in params:
        if key in ("eps", "batch_size"):
            raise ParameterError(
                f"parameter {key!r} of attack {name!r} is set by the sweep (--eps / --batch-size), "
                "not through params"
            )
        if key not in accepted:
            raise ParameterError(
                f"attack {name!r} has no parameter {key!r}; accepted parameters: "
                f"{', '.join(accepted) if accepted else '(none)'}"
            )


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
        L∞ budget in [0, 1]; passed to ART classes that take ``eps``.
    batch_size : int
        >= 1; passed to ART classes that take ``batch_size``.
    params : mapping, optional
        Extra keyword parameters (see `attack_params`); for ART classes ``verbose`` defaults
        to False.

    Returns
    -------
    PreparedAttack

    Raises
    ------
    ParameterError
        Unknown attack or ART class (listing valid ones), unknown parameter (naming it and
        the accepted ones), out-of-range values, or values the ART class rejects.
    """
    params = dict(params or {})
    check_attack_name(name=name)
    check_attack_params(name=name, params=params)
    if not name.startswith(ART_PREFIX):
        return ATTACKS[name](classifier, eps=eps, batch_size=batch_size, **params)

    eps, batch_size = _eps(eps), _batch_size(batch_size)
    cls = _art_class(name)
    names, _ = _init_params(cls)
    kwargs = dict(params)
    if "eps" in names:
        if eps == 0:
            return _identity(name, eps)
        kwargs["eps"] = eps
    if "batch_size" in names:
        kwargs["batch_size"] = batch_size
    if "verbose" in names:
        kwargs.setdefault("verbose", False)
    try:
        attack = cls(classifier, **kwargs)
    except (TypeError, ValueError) as exc:
        shown = {k: v for k, v in kwargs.items() if k != "verbose"}
        raise ParameterError(f"{name} rejected its parameters {shown}: {exc}") from None
    return PreparedAttack(name=name, eps=eps, art_attack=attack, model=_model_of(classifier))


def is_eps_bounded(*, name: str) -> bool:
    """False for minimal-norm attacks (`MINIMAL_NORM_ATTACKS`), which a sweep runs once."""
    return name not in MINIMAL_NORM_ATTACKS


# --------------------------------------------------------------------------- parsing


def parse_value(*, text: str) -> Any:
    """Parse a ``--param`` value: bool (``true``/``false``), ``inf``/``-inf`` (float),
    ``none`` (None), int, float, else the string itself."""
    s = str(text).strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if low in ("inf", "+inf", "np.inf", "infinity"):
        return math.inf
    if low in ("-inf", "-np.inf", "-infinity"):
        return -math.inf
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def parse_params(*, items: Iterable[str]) -> tuple[tuple[str, str, Any], ...]:
    """Parse ``--param`` strings into ``(attack, key, value)`` triples.

    ``"pgd.steps=50"`` targets one attack; a bare ``"norm=inf"`` targets every attack of the
    run that accepts it (attack ``"*"``).

    Raises
    ------
    ParameterError
        An item without ``=`` or with an empty key.
    """
    out = []
    for item in items:
        key, sep, value = str(item).partition("=")
        attack, dot, key = key.strip().rpartition(".")
        if not sep or not key.strip() or (dot and not attack.strip()):
            raise ParameterError(
                f"--param {item!r} is not valid; expected KEY=VALUE or ATTACK.KEY=VALUE, "
                "e.g. pgd.steps=50 or norm=inf"
            )
        out.append((attack.strip() or "*", key.strip(), parse_value(text=value)))
    return tuple(out)


def resolve_params(
    *,
    attacks: Iterable[str], triples: Iterable[tuple[str, str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per-attack parameter dicts from ``(attack, key, value)`` triples.

    ``"*"`` triples go to every attack in ``attacks`` that accepts the key.

    Raises
    ------
    ParameterError
        A triple naming an attack not in ``attacks``, a parameter the attack does not accept,
        or a ``"*"`` key no attack of the run accepts.
    """
    attacks = list(attacks)
    per: dict[str, dict[str, Any]] = {a: {} for a in attacks}
    for attack, key, value in triples:
        if attack == "*":
            takers = [a for a in attacks if key in attack_params(name=a)]
            if not takers:
                accepted = "; ".join(f"{a}: {', '.join(attack_params(name=a)) or '(none)'}" for a in attacks)
                raise ParameterError(
                    f"parameter {key!r} is accepted by none of the attacks {', '.join(attacks)}; "
                    f"accepted parameters: {accepted}"
                )
            for a in takers:
                per[a][key] = value
            continue
        if attack not in per:
            raise ParameterError(
                f"--param names attack {attack!r}, which is not in this run's attacks ({', '.join(attacks)})"
            )
        check_attack_params(name=attack, params={key: value})
        per[attack][key] = value
    return per


__all__ = [
    "ART_PREFIX", "ATTACKS", "DEEPFOOL_OVERSHOOT", "MINIMAL_NORM_ATTACKS", "PGD_STEPS", "PGD_STEP_RATIO",
    "PreparedAttack", "art_attack_classes", "attack_params", "check_attack_name", "check_attack_params",
    "deepfool", "fgsm", "frozen_weights", "is_eps_bounded", "make_attack", "noise", "parse_params",
    "parse_value", "pgd", "resolve_params",
]
