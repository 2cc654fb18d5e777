"""Which seed replicate a result belongs to.

``artgenre run --seeds 0,1,2`` writes each seed's complete results folder to
``<out>/seed-<s>/``; a single-seed run keeps its files in ``<out>/``. A result's replicate
seed is that of its ``seed-<s>`` folder, else its ``config.seed`` (a defense's training
record nests it under ``config.train``).
"""

from __future__ import annotations

import re

from artgenre.report.collect import ResultFile, ResultSet, as_dict

SEED_FOLDER = re.compile(r"seed-(\d+)")


def folder_seed(r: ResultFile) -> int | None:
    """The seed of the ``seed-<s>`` folder holding ``r``, or None."""
    match = SEED_FOLDER.fullmatch(r.path.parent.name)
    return int(match.group(1)) if match else None


def seed_of(r: ResultFile) -> int | None:
    """``r``'s replicate seed: its ``seed-<s>`` folder's, else ``config.seed``; None if neither."""
    found = folder_seed(r)
    if found is not None:
        return found
    cfg = as_dict(r.data.get("config"))
    seed = cfg.get("seed", as_dict(cfg.get("train")).get("seed"))
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def replicate_seeds(*, results: ResultSet) -> tuple[int, ...]:
    """The seeds of the ``seed-<s>`` folders in ``results`` when there are at least two (a
    seed-replicated run), else ``()``: a single run renders exactly as without replicates."""
    seeds = sorted({s for r in results.all if (s := folder_seed(r)) is not None})
    return tuple(seeds) if len(seeds) >= 2 else ()


__all__ = ["SEED_FOLDER", "folder_seed", "replicate_seeds", "seed_of"]
