"""ε of each threat model and norm in decibels (`BUDGETS`), for headers, tables and axes.

Keyed ``"<threat>/<norm>"`` as cells record them: the spectrogram L∞ budget is 80·ε dB on the
log-mel scale; a waveform L∞ budget ε (full scale = 1) is 20·log10 ε dBFS; a relative L2
budget ‖δ‖ ≤ ε·‖x‖ guarantees an SNR of −20·log10 ε dB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from artgenre.data.features import unit_to_db
from artgenre.registry import Registry


@dataclass(frozen=True)
class Budget:
    """How a threat model's ε reads in dB: ``to_db(ε)`` (None where undefined) in ``unit``."""

    unit: str
    to_db: Callable[[float], float | None]
    label: str


def _log(scale: float) -> Callable[[float], float | None]:
    return lambda eps: scale * math.log10(eps) if eps > 0 else None


BUDGETS: Registry[Budget] = Registry("threat budget")
BUDGETS.register("spectrogram/inf")(Budget("dB", lambda eps: float(unit_to_db(eps)), "log-mel L∞, 80·ε"))
BUDGETS.register("waveform/inf")(Budget("dBFS", _log(20.0), "waveform L∞, 20·log10 ε"))
BUDGETS.register("waveform/l2rel")(Budget("dB SNR", _log(-20.0), "waveform ‖δ‖ ≤ ε‖x‖, SNR −20·log10 ε"))


def budget_db(*, threat: tuple[str, str], eps: float) -> float | None:
    """ε of ``threat`` = ``(threat model, norm)`` in its dB unit; None for an unknown threat
    model or where the logarithm is undefined (ε = 0)."""
    key = "/".join(threat)
    return BUDGETS[key].to_db(float(eps)) if key in BUDGETS else None


def budget_unit(*, threat: tuple[str, str]) -> str:
    """The dB unit of ``threat``'s budget (``"dB"`` for an unknown one)."""
    key = "/".join(threat)
    return BUDGETS[key].unit if key in BUDGETS else "dB"


def threat_label(*, threat: tuple[str, str]) -> str:
    """``"waveform l2rel"``: how a table names a threat model and norm."""
    return " ".join(threat)


__all__ = ["BUDGETS", "Budget", "budget_db", "budget_unit", "threat_label"]
