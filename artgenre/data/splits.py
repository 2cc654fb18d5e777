"""Track-level train/validation/test partitions.

Splits are always made over tracks, never over segments: the segments of one clip overlap in
timbre, key and tempo, so letting them straddle two partitions would leak the test set into
training.

Schemes (`SPLIT_SCHEMES`):

``random``
    Stratified by genre and seeded. The global number of validation and test tracks is
    ``round(N * fraction)`` (at least one when the fraction is positive), shared out over the
    genres by largest remainder so every genre is represented in proportion.
``filtered``
    The fault-filtered GTZAN partition (443 / 197 / 290 tracks) shipped as package data in
    ``artgenre/data/splits/{train,valid,test}_filtered.txt``; tracks are matched by track id
    (file stem) so the ``.au`` and ``.wav`` copies of GTZAN both work.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

from artgenre.errors import DataError, ParameterError
from artgenre.registry import Registry

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)

# Package-data file for each split of the filtered scheme.
FILTERED_FILES: dict[str, str] = {
    "train": "train_filtered.txt",
    "val": "valid_filtered.txt",
    "test": "test_filtered.txt",
}
FILTERED_SIZES: dict[str, int] = {"train": 443, "val": 197, "test": 290}

SPLIT_SCHEMES: Registry = Registry("split scheme")
SPLIT_SCHEMES.register("random")("stratified by genre, seeded, fractions of tracks")
SPLIT_SCHEMES.register("filtered")("fault-filtered GTZAN partition 443/197/290 (gtzan only)")

_LINE = re.compile(r"^(?P<genre>[a-z]+)/(?P<track>(?P=genre)\.\d{5})\.(?:wav|au)$")


def check_fractions(fractions) -> tuple[float, float, float]:
    """Validate ``(train, val, test)`` fractions of tracks.

    Parameters
    ----------
    fractions : sequence of 3 numbers
        Each in [0, 1], the train fraction > 0, summing to 1 (within 1e-6).

    Returns
    -------
    tuple of 3 float

    Raises
    ------
    ParameterError
        Wrong length, non-numbers, values outside [0, 1], zero train fraction or a sum ≠ 1.
    """
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ParameterError(
            f"fractions={fractions!r} is not valid; expected three numbers (train, val, test) "
            "summing to 1, e.g. (0.8, 0.1, 0.1)"
        ) from None
    if len(values) != 3:
        raise ParameterError(
            f"fractions={fractions!r} has {len(values)} values; expected three (train, val, test)"
        )
    if any(not (0.0 <= v <= 1.0) for v in values) or values[0] <= 0.0:
        raise ParameterError(
            f"fractions={fractions!r} is not valid; each must lie in [0, 1] and train must be > 0"
        )
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ParameterError(
            f"fractions={fractions!r} sum to {sum(values):g}; they must sum to 1"
        )
    return values


def _largest_remainder(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer shares of ``total`` proportional to ``weights``; ties broken by ``rng``."""
    ideal = total * weights / weights.sum()
    base = np.floor(ideal).astype(np.int64)
    left = total - int(base.sum())
    if left > 0:
        # Random tie-break first, then a stable sort on the remainder: equal remainders are
        # resolved by the seed instead of always favouring the first genre.
        order = rng.permutation(len(weights))
        ranked = order[np.argsort(-(ideal - base)[order], kind="stable")]
        base[ranked[:left]] += 1
    return base


def random_split(
    *, tracks: Sequence[str], labels: Sequence[int], seed: int, fractions=DEFAULT_FRACTIONS
) -> dict[str, tuple[str, ...]]:
    """Stratified, seeded split of tracks into train/val/test.

    Parameters
    ----------
    tracks : sequence of str
        Unique track ids.
    labels : sequence of int
        Genre index of each track (same length as ``tracks``).
    seed : int
        Non-negative seed; the same seed and inputs give the same split.
    fractions : (train, val, test)
        Fractions of tracks; see `check_fractions`.

    Returns
    -------
    dict
        ``{"train": tracks, "val": tracks, "test": tracks}``, each a sorted tuple; together
        they hold every input track exactly once.

    Raises
    ------
    ParameterError
        Bad fractions.
    DataError
        Duplicate track ids, mismatched lengths, or too few tracks to give every non-empty
        fraction at least one track while keeping one for training.
    """
    fr = check_fractions(fractions)
    tracks = [str(t) for t in tracks]
    labels = np.asarray(labels, dtype=np.int64)
    if len(tracks) != len(labels):
        raise DataError(f"got {len(tracks)} tracks but {len(labels)} labels")
    if len(set(tracks)) != len(tracks):
        raise DataError("track ids must be unique to split by track")
    n = len(tracks)
    want = [0, 0, 0]
    for i in (1, 2):
        if fr[i] > 0:
            want[i] = max(1, int(round(n * fr[i])))
    want[0] = n - want[1] - want[2]
    if want[0] < 1:
        raise DataError(
            f"{n} tracks are too few for fractions {fr}: need at least one track per non-empty split"
        )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5B117]))
    classes = np.unique(labels)
    members = [sorted(t for t, lab in zip(tracks, labels) if lab == c) for c in classes]
    sizes = np.array([len(m) for m in members], dtype=np.float64)
    # Share out val first, then test over what each genre has left, so a genre never gives
    # away more tracks than it holds.
    val_share = _largest_remainder(want[1], sizes, rng)
    remaining = sizes - val_share
    test_share = (
        _largest_remainder(want[2], remaining, rng) if remaining.sum() > 0 else np.zeros_like(val_share)
    )
    out: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for group, nv, nt in zip(members, val_share, test_share):
        perm = [group[i] for i in rng.permutation(len(group))]
        out["val"] += perm[:nv]
        out["test"] += perm[nv: nv + nt]
        out["train"] += perm[nv + nt:]
    return {name: tuple(sorted(v)) for name, v in out.items()}


def parse_split_list(text: str, *, source: str = "<text>") -> tuple[str, ...]:
    """Parse a split list (``genre/genre.000NN.wav`` per line) into track ids.

    Raises
    ------
    DataError
        A line that does not have that form, or a track listed twice.
    """
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise DataError(
                f"{source}:{lineno}: {line!r} is not of the form 'genre/genre.000NN.wav'"
            )
        out.append(m.group("track"))
    if len(set(out)) != len(out):
        raise DataError(f"{source} lists some tracks more than once")
    return tuple(out)


@lru_cache(maxsize=1)
def filtered_lists() -> dict[str, tuple[str, ...]]:
    """The fault-filtered GTZAN partition as track ids.

    Returns
    -------
    dict
        ``{"train": 443 ids, "val": 197 ids, "test": 290 ids}`` (e.g. ``"blues.00029"``).

    Raises
    ------
    DataError
        A package-data file is missing or malformed, or a track appears in two lists.
    """
    base = resources.files("artgenre.data") / "splits"
    lists = {}
    for split, fname in FILTERED_FILES.items():
        try:
            text = (base / fname).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(f"package data file splits/{fname} is missing; reinstall artgenre") from None
        lists[split] = parse_split_list(text, source=f"splits/{fname}")
    seen: dict[str, str] = {}
    for split, ids in lists.items():
        for t in ids:
            if t in seen:
                raise DataError(f"track {t!r} is in both the {seen[t]} and {split} filtered lists")
            seen[t] = split
    return lists


def filtered_split(*, tracks: Sequence[str]) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...], tuple[str, ...]]:
    """Assign available tracks to the fault-filtered partition.

    Parameters
    ----------
    tracks : sequence of str
        Track ids found on disk (e.g. ``"jazz.00054"``).

    Returns
    -------
    splits : dict
        ``{"train", "val", "test"}`` → sorted tuple of the listed tracks that are available.
    missing : tuple of str
        Listed tracks that are not among ``tracks`` (sorted).
    excluded : tuple of str
        Available tracks that no list names (sorted); they are left out of every split.
    """
    have = set(tracks)
    lists = filtered_lists()
    splits = {s: tuple(sorted(t for t in ids if t in have)) for s, ids in lists.items()}
    listed = set().union(*lists.values())
    missing = tuple(sorted(listed - have))
    excluded = tuple(sorted(have - listed))
    return splits, missing, excluded
