"""Exception hierarchy: every error artgenre raises on purpose derives from `ArtGenreError`.

The CLI catches `ArtGenreError`, prints its message and exits with status 1, so messages must
name the bad value and say what would have been accepted.
"""

from __future__ import annotations


class ArtGenreError(Exception):
    """Root of all artgenre errors."""


class ParameterError(ArtGenreError, ValueError):
    """A parameter (CLI option, config field, function argument) has an invalid value."""


class DataError(ArtGenreError):
    """Input data (audio folders, split lists, caches, result files) is missing or malformed."""


class CheckpointError(ArtGenreError):
    """A checkpoint cannot be read or does not fit the requested model."""


def check_choice(name: str, value: object, choices) -> None:
    """Raise `ParameterError` unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ParameterError(
            f"{name}={value!r} is not valid; choose one of: {', '.join(map(str, choices))}"
        )


def check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as float, or raise `ParameterError` if it is NaN or outside the range."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is not a number") from None
    bad = v != v
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or (v >= high if high_open else v > high)
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ParameterError(f"{name}={value!r} is out of range; expected a number in {interval}")
    return v


def check_int(name: str, value, low: int) -> int:
    """Return ``value`` as int, or raise `ParameterError` unless it is an integer >= ``low``."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(f"{name}={value!r} is not valid; expected an integer >= {low}")
    return int(value)


def check_device_name(value) -> str:
    """Normalise a device name without touching CUDA: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    name = str(value).strip().lower()
    if name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    raise ParameterError(f"device={value!r} is not valid; choose one of: auto, cpu, cuda, cuda:N")
