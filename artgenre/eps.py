"""Perturbation budgets: the one ε parser and the one ε-equality rule.

Every place that reads an ε (CLI options, config files, configs built in Python, the cell
engine, resume, the report) goes through `parse_eps` and compares with `same_eps` / `eps_key`,
so two budgets are "the same" by one rule everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from artgenre.errors import ParameterError

#: Budgets equal after rounding to this many decimals are the same budget. ε values are
#: written to JSON with full precision, so the rounding only absorbs float noise from
#: arithmetic (e.g. 0.1 + 0.2), never two budgets a user meant to differ.
EPS_DECIMALS = 9


def eps_key(eps: float) -> float:
    """The canonical form of ``eps`` used to match budgets (rounded to `EPS_DECIMALS`)."""
    return round(float(eps), EPS_DECIMALS)


def same_eps(a: float, b: float) -> bool:
    """True when ``a`` and ``b`` denote the same budget (`eps_key` equal)."""
    return eps_key(a) == eps_key(b)


def parse_eps(values: Any, *, name: str = "eps", low: float = 0.0, high: float = 1.0,
              allow_empty: bool = False) -> tuple[float, ...]:
    """Parse an ε grid from a comma-separated string, a number or a sequence.

    Parameters
    ----------
    values : str, float or iterable of (str | float)
        E.g. ``"0,0.01,0.1"``, ``0.03`` or ``[0, 0.01]``.
    name : str
        Option name used in error messages (``eps``, ``defense_eps``, ``snr_db``, ...).
    low, high : float
        Inclusive range every value must lie in.
    allow_empty : bool
        Accept an empty grid (returns ``()``).

    Returns
    -------
    tuple of float
        Sorted, duplicates (by `eps_key`) removed.

    Raises
    ------
    ParameterError
        A value that is not a finite number in ``[low, high]``, a boolean, or an empty grid
        when ``allow_empty`` is False.
    """
    accepted = f"numbers in [{low:g}, {high:g}]"
    if values is None:
        values = []
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    elif isinstance(values, (int, float)):
        values = [values]
    elif not isinstance(values, Iterable):
        raise ParameterError(f"{name}={values!r} is not valid; expected {accepted}, e.g. 0,0.01,0.1")
    out: dict[float, float] = {}
    for v in values:
        if isinstance(v, bool):
            raise ParameterError(f"{name}={v!r} is not valid; expected {accepted}")
        try:
            f = float(v.strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            raise ParameterError(f"{name}={v!r} is not a number; expected {accepted}, e.g. 0,0.01,0.1") from None
        if not math.isfinite(f) or not low <= f <= high:
            raise ParameterError(f"{name}={v!r} is out of range; every value must be a finite number in [{low:g}, {high:g}]")
        out.setdefault(eps_key(f), f)
    if not out and not allow_empty:
        raise ParameterError(f"{name} is empty; give at least one value in [{low:g}, {high:g}], e.g. 0,0.01,0.1")
    return tuple(sorted(out.values()))


__all__ = ["EPS_DECIMALS", "eps_key", "parse_eps", "same_eps"]
