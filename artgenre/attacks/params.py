"""Attack parameters: ``--param`` parsing and per-attack resolution.

``"pgd.steps=50"`` targets one attack; a bare ``"norm=inf"`` targets every attack of the run
that accepts the key (attack ``"*"``). Configs store parameters as ``(attack, key, value)``
triples; `resolve_params` turns them into one dict per attack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from artgenre.attacks.spec import attack_spec
from artgenre.errors import ParameterError

Triple = tuple[str, str, Any]


def attack_params(*, name: str) -> tuple[str, ...]:
    """Parameter names attack ``name`` (an `ATTACKS` key or ``art:<Class>``) accepts besides
    ``eps`` and ``batch_size``.

    Raises
    ------
    ParameterError
        Unknown attack or ART class.
    """
    return attack_spec(name).params()


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
    for kind in (int, float):
        try:
            return kind(s)
        except ValueError:
            pass
    return s


def parse_params(*, items: Iterable[str]) -> tuple[Triple, ...]:
    """Parse ``--param`` strings into ``(attack, key, value)`` triples.

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


def parse_triples(values) -> tuple[Triple, ...]:
    """Triples from ``"attack.key=value"`` strings, ``(attack, key, value)`` sequences (as read
    back from JSON or TOML) or a mix of both.

    Raises
    ------
    ParameterError
        An entry that is neither form.
    """
    if isinstance(values, str):
        values = [values]
    out: list[Triple] = []
    for t in values or ():
        if isinstance(t, str):
            out += parse_params(items=[t])
        elif isinstance(t, (list, tuple)) and len(t) == 3:
            out.append((str(t[0]), str(t[1]), json_param(t[2], reverse=True)))
        else:
            raise ParameterError(f"params entry {t!r} is not valid; expected (attack, key, value) or 'attack.key=value'")
    return tuple(out)


def json_param(v: Any, *, reverse: bool = False) -> Any:
    """Non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (JSON has none), and
    back with ``reverse=True``."""
    if reverse:
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(v, v) if isinstance(v, str) else v
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def params_to_json(triples: Iterable[Triple]) -> list[list]:
    """``[[attack, key, value], ...]`` with non-finite values as text (see `json_param`)."""
    return [[a, k, json_param(v)] for a, k, v in triples]


def resolve_params(*, attacks: Iterable[str], triples: Iterable[Triple]) -> dict[str, dict[str, Any]]:
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
        attack_spec(attack).check_params({key: value})
        per[attack][key] = value
    return per


def select_params(*, attacks: Iterable[str], triples: Iterable[Triple]) -> tuple[Triple, ...]:
    """The triples that apply to a sweep over ``attacks``: those naming one of them, and ``"*"``
    keys at least one of them accepts. Lets one parameter list serve sweeps over different
    attacks (white-box, transfer, defense) without `resolve_params` rejecting it."""
    attacks = list(attacks)
    return tuple(
        (a, k, v) for a, k, v in triples
        if a in attacks or (a == "*" and any(k in attack_params(name=n) for n in attacks))
    )
