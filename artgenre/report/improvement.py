"""Improvement factor of a defense: defended / undefended robust accuracy."""

from __future__ import annotations

import math

from artgenre.errors import check_range


def improvement_factor(*, defended: float, undefended: float) -> float:
    """Robust accuracy with the defense divided by robust accuracy without it.

    Parameters
    ----------
    defended, undefended : float
        Accuracies in [0, 1] under the same attack and ε (credited, i.e. adaptive where
        available, for the defended model).

    Returns
    -------
    float
        ``defended / undefended``; ``inf`` when ``undefended == 0 < defended``; ``nan``
        when both are 0 (no information: the gain in points is then 0).

    Raises
    ------
    ParameterError
        If either accuracy is not a number in [0, 1].
    """
    d = check_range("defended", defended, low=0.0, high=1.0)
    u = check_range("undefended", undefended, low=0.0, high=1.0)
    if u > 0:
        return d / u
    return math.inf if d > 0 else math.nan


def factor_label(*, factor: float | None) -> str:
    """``"3.20×"``, ``"∞"`` or ``"n/a"`` (None or NaN)."""
    if factor is None or (isinstance(factor, float) and math.isnan(factor)):
        return "n/a"
    if math.isinf(factor):
        return "∞"
    return f"{factor:.2f}×"


__all__ = ["factor_label", "improvement_factor"]
