"""``art:<ClassName>``: any evasion attack class of ``art.attacks.evasion`` as an `AttackSpec`.

`art_spec` resolves a name such as ``art:SquareAttack`` to a spec whose accepted parameters are
the class's ``__init__`` keywords (plus its ``attack_params`` when it takes ``**kwargs``);
``eps`` and ``batch_size`` are passed where the class accepts them and ``verbose`` defaults to
False. `art_factory` is the same builder for a *registered* attack backed by an ART class
(e.g. a future ``square`` entry: ``art_factory("SquareAttack", norm=np.inf)``).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable

from artgenre.attacks.spec import ART_PREFIX, AttackSpec, PreparedAttack, check_batch_size, check_eps, identity_attack, prepared
from artgenre.errors import ParameterError

_EXAMPLES = ("FastGradientMethod", "ProjectedGradientDescent", "BasicIterativeMethod", "SquareAttack",
             "CarliniL2Method", "DeepFool")


def art_attack_classes() -> dict[str, type]:
    """Evasion attack classes exported by ``art.attacks.evasion``, by class name."""
    import art.attacks.evasion as evasion
    from art.attacks.attack import EvasionAttack

    return {
        name: obj
        for name, obj in vars(evasion).items()
        if inspect.isclass(obj) and issubclass(obj, EvasionAttack) and obj is not EvasionAttack
    }


def art_class(class_name: str) -> type:
    """The ART evasion class ``class_name`` (without the ``art:`` prefix).

    Raises
    ------
    ParameterError
        Unknown class, with close matches and examples of valid names.
    """
    classes = art_attack_classes()
    if class_name in classes:
        return classes[class_name]
    close = difflib.get_close_matches(class_name, list(classes), n=3, cutoff=0.5)
    examples = [c for c in _EXAMPLES if c in classes]
    hint = f"did you mean {', '.join(ART_PREFIX + c for c in close)}? " if close else ""
    raise ParameterError(
        f"unknown ART evasion attack {ART_PREFIX + class_name!r}; {hint}valid names are {ART_PREFIX}<Class> for "
        f"any of {len(classes)} classes in art.attacks.evasion, e.g. {', '.join(ART_PREFIX + c for c in examples)}"
    )


def init_params(cls: type) -> tuple[list[str], bool]:
    """Keyword names of ``cls.__init__`` (minus self and the estimator) and whether it takes
    ``**kwargs``."""
    sig = inspect.signature(cls.__init__)
    params = list(sig.parameters.values())[1:]
    if params and params[0].name in ("estimator", "classifier"):
        params = params[1:]
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    names = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                   inspect.Parameter.KEYWORD_ONLY)]
    return names, var_kw


def accepted_params(cls: type) -> tuple[str, ...]:
    """What ``params`` may set for ``cls`` (its keywords, plus ``attack_params`` with ``**kwargs``)."""
    names, var_kw = init_params(cls)
    if var_kw:
        names += [p for p in getattr(cls, "attack_params", []) if p not in names]
    return tuple(names)


def art_factory(class_name: str, **fixed) -> Callable:
    """A factory ``(classifier, *, eps, batch_size, **params) -> PreparedAttack`` for an ART class.

    Parameters
    ----------
    class_name : str
        Class of ``art.attacks.evasion``.
    **fixed
        Defaults the entry sets (``params`` override them).

    Returns
    -------
    callable
        Raises `ParameterError` for bad ``eps``/``batch_size`` or values the class rejects;
        ε = 0 returns the input unchanged for classes that take ``eps``. Its
        ``accepted_params()`` lists the class's parameters (read when asked, so ART is not
        imported before an attack is used) and ``fixed`` the entry's defaults.
    """
    name = ART_PREFIX + class_name

    def factory(classifier, *, eps: float, batch_size: int, **params) -> PreparedAttack:
        eps, batch_size = check_eps(eps), check_batch_size(batch_size)
        cls = art_class(class_name)
        names, _ = init_params(cls)
        kwargs = {**fixed, **params}
        if "eps" in names:
            if eps == 0:
                return identity_attack(name, eps)
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
        return prepared(name, eps, classifier, art_attack=attack)

    factory.accepted_params = lambda: accepted_params(art_class(class_name))
    factory.fixed = dict(fixed)
    return factory


@functools.cache
def art_spec(name: str) -> AttackSpec:
    """The `AttackSpec` of ``art:<ClassName>`` (ε-bounded, budget not checked: the class's norm
    may not be L∞).

    Raises
    ------
    ParameterError
        ``name`` lacks the prefix or names no ART evasion class.
    """
    if not name.startswith(ART_PREFIX):
        raise ParameterError(f"attack {name!r} is not an {ART_PREFIX}<Class> name")
    class_name = name[len(ART_PREFIX):]
    cls = art_class(class_name)
    return AttackSpec(name=name, factory=art_factory(class_name), summary=f"ART {class_name}",
                      accepted=accepted_params(cls))
