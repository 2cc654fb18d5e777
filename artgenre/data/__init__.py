"""Data layer: GTZAN reader, built-in synthetic dataset, track-level splits and feature cache.

The one entry point is `load_dataset`; `DATASETS` maps each dataset name to its loader and
`DataConfig` is the frozen, JSON-able description that later stages store so they can reload
exactly the same splits (``load_dataset(**config.loader_kwargs())``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from artgenre.data.dataset import GENRES, Dataset, Split
from artgenre.data.features import DEFAULT_FEATURES, FeatureParams
from artgenre.data.loaders import load_gtzan, load_synth
from artgenre.data.pipeline import check_seed
from artgenre.data.splits import SPLIT_NAMES, SPLIT_SCHEMES
from artgenre.errors import ParameterError
from artgenre.registry import Registry

DATASETS: Registry = Registry("dataset")
DATASETS.register("synth")(load_synth)
DATASETS.register("gtzan")(load_gtzan)

# Arguments every loader takes; the rest of a loader's keywords are its dataset options.
_COMMON = ("root", "split_scheme", "seed", "cache_dir", "progress")

__all__ = [
    "DATASETS", "DEFAULT_FEATURES", "GENRES", "SPLIT_SCHEMES", "DataConfig", "Dataset",
    "FeatureParams", "Split", "dataset_options", "load_dataset", "summarize",
]


def dataset_options(*, name: str) -> tuple[str, ...]:
    """Names of the extra options dataset ``name`` accepts (e.g. ``clips_per_genre``).

    Raises
    ------
    ParameterError
        Unknown dataset name (the message lists the registered ones).
    """
    params = inspect.signature(DATASETS[name]).parameters
    return tuple(p for p in params if p not in _COMMON)


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    valid = dataset_options(name=name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ParameterError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for dataset {name!r}; "
            f"valid options: {', '.join(valid)}"
        )


def load_dataset(
    *,
    name: str = "synth",
    root: str | os.PathLike | None = None,
    split_scheme: str = "random",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> Dataset:
    """Prepare a dataset: features of every track, split by track, cached on disk.

    The first call computes the log-mel segments (two worker processes, progress bar) and
    stores them under the cache root; later calls with the same inputs load the cache
    (memory-mapped) without touching audio.

    Parameters
    ----------
    name : str
        A key of `DATASETS`: ``"synth"`` (default, generated) or ``"gtzan"`` (needs
        ``root``).
    root : path or None
        GTZAN folder (``genres/*.au`` or ``genres_original/*.wav`` layout).
    split_scheme : {"random", "filtered"}
        ``random``: stratified by genre, seeded, 80/10/10 of tracks by default;
        ``filtered``: the fault-filtered GTZAN partition (gtzan only).
    seed : int
        Non-negative; seeds the random split (and the synthetic clips).
    cache_dir : path or None
        Cache root; default ``$ARTGENRE_CACHE`` or ``~/.cache/artgenre``.
    progress : bool
        Show a progress bar on stderr while computing.
    **options
        Dataset options, see `dataset_options`: ``synth`` takes ``clips_per_genre``,
        ``clip_seconds``, ``fractions``, ``workers``; ``gtzan`` takes ``fractions``,
        ``workers``.

    Returns
    -------
    Dataset
        ``train``/``val``/``test`` splits with ``x`` of shape (N, 1, 128, 128), float32 in
        [0, 1], ``y`` (N,) int64 and ``track`` (N,) str; no track is in two splits.

    Raises
    ------
    ParameterError
        Unknown dataset, scheme or option, gtzan without ``root``, bad seed or fractions.
    DataError
        A GTZAN root without genre folders, or no usable audio.
    """
    loader = DATASETS[name]
    _check_options(name, options)
    return loader(
        root=root, split_scheme=split_scheme, seed=seed, cache_dir=cache_dir, progress=progress,
        **options,
    )


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class DataConfig:
    """Frozen description of a prepared dataset, embedded in training and attack configs.

    Attributes
    ----------
    dataset : str
        A key of `DATASETS`.
    root : str or None
        GTZAN folder.
    split_scheme : str
        A key of `SPLIT_SCHEMES`.
    seed : int
        Split (and synthesis) seed.
    cache_dir : str or None
        Cache root override.
    options : tuple of (name, value) pairs
        Dataset options (see `dataset_options`), sorted by name; a mapping is accepted and
        converted. Lists become tuples so the config stays hashable.

    Raises
    ------
    ParameterError
        Unknown dataset, scheme or option name, or a bad seed.
    """

    dataset: str = "synth"
    root: str | None = None
    split_scheme: str = "random"
    seed: int = 0
    cache_dir: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        DATASETS[self.dataset]  # noqa: B018 - raises ParameterError listing the datasets
        SPLIT_SCHEMES[self.split_scheme]  # noqa: B018
        object.__setattr__(self, "seed", check_seed(self.seed))
        for attr in ("root", "cache_dir"):
            value = getattr(self, attr)
            object.__setattr__(self, attr, None if value is None else os.fspath(value))
        opts = self.options
        try:
            pairs = dict(opts.items() if isinstance(opts, Mapping) else opts)
        except (TypeError, ValueError):
            raise ParameterError(
                f"options={opts!r} is not valid; expected a mapping or (name, value) pairs"
            ) from None
        _check_options(self.dataset, pairs)
        object.__setattr__(self, "options", tuple(sorted((str(k), _freeze(v)) for k, v in pairs.items())))

    def loader_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `load_dataset` that reproduce this dataset."""
        return {
            "name": self.dataset, "root": self.root, "split_scheme": self.split_scheme,
            "seed": self.seed, "cache_dir": self.cache_dir, **dict(self.options),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DataConfig":
        """Rebuild a config from its JSON form (``to_jsonable(config)``).

        Raises
        ------
        ParameterError
            Unknown keys or invalid values.
        """
        fields = {"dataset", "root", "split_scheme", "seed", "cache_dir", "options"}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ParameterError(
                f"unknown data config key(s) {', '.join(map(repr, unknown))}; valid: {', '.join(sorted(fields))}"
            )
        return cls(**dict(data))


def summarize(*, dataset: Dataset) -> list[dict]:
    """Tracks and segments per genre per split, for tables.

    Parameters
    ----------
    dataset : Dataset

    Returns
    -------
    list of dict
        One row per (split, genre), in split then genre order, with keys ``split``,
        ``genre``, ``tracks``, ``segments``.
    """
    rows = []
    for split_name in SPLIT_NAMES:
        split = dataset.split(split_name)
        y = np.asarray(split.y)
        track = np.asarray(split.track)
        for label, genre in enumerate(dataset.genres):
            mask = y == label
            rows.append({
                "split": split_name,
                "genre": genre,
                "tracks": int(np.unique(track[mask]).size),
                "segments": int(mask.sum()),
            })
    return rows
