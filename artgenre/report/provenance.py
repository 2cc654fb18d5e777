"""The report's first section: what the kept results were run on and with what software.

Everything comes from the result files' ``config`` and ``meta`` blocks; a setting with
several values across the files lists each value with the number of files that hold it, so
a mixed folder is visible at a glance.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from artgenre.report.collect import ResultFile, ResultSet, as_dict
from artgenre.report.table import Column, Table, make_table

# (meta key, label) of the versions stated in the report.
VERSIONS = (
    ("python", "Python"), ("torch", "torch"), ("torchvision", "torchvision"),
    ("adversarial-robustness-toolbox", "ART"), ("numpy", "numpy"), ("librosa", "librosa"),
    ("scikit-learn", "scikit-learn"), ("artgenre", "artgenre"),
)
_COLUMNS = (Column("setting", "Setting"), Column("value", "Value"), Column("source", "From"))
_NOT_RECORDED = "not recorded"


def _text(v: Any) -> str:
    if v is None:
        return "none"
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _values(pairs: Iterable[tuple[str, Any]]) -> tuple[str, int]:
    """``"a"`` when every file agrees, else ``"a (2 files), b (1 file)"``; and the file count."""
    counts = Counter(_text(v) for _, v in pairs)
    if not counts:
        return _NOT_RECORDED, 0
    total = sum(counts.values())
    if len(counts) == 1:
        return next(iter(counts)), total
    parts = [f"{v} ({n} file{'s' if n > 1 else ''})" for v, n in counts.most_common()]
    return ", ".join(parts), total


def _train_config(r: ResultFile) -> dict:
    cfg = as_dict(r.data.get("config"))
    # A defense's training record nests the training settings under "train".
    return as_dict(cfg.get("train")) or cfg


def _split_sizes(trains: tuple[ResultFile, ...]) -> str:
    sizes = []
    for split in ("train", "val", "test"):
        pairs = []
        for r in trains:
            ev = as_dict(as_dict(r.data.get("metrics")).get(split))
            if isinstance(ev.get("n_segments"), int):
                pairs.append((r.name, f"{ev['n_segments']} segments / {ev.get('n_tracks', '?')} tracks"))
        value, _ = _values(pairs)
        sizes.append(f"{split}: {value}")
    return "; ".join(sizes)


def _epochs(trains: tuple[ResultFile, ...]) -> str:
    parts = []
    for r in trains:
        cfg = _train_config(r)
        label = r.model + (f" ({r.defense})" if r.defense else "")
        parts.append(f"{label}: {_text(r.data.get('epochs_run'))} run of {_text(cfg.get('epochs'))} max, "
                     f"best {_text(r.data.get('best_epoch'))}")
    return "; ".join(parts) or _NOT_RECORDED


def _recorded(results: Iterable[ResultFile], key: str, config) -> list[tuple[str, Any]]:
    """``(file, value)`` of ``key`` in each result's ``config(result)`` that records it."""
    return [(r.name, c[key]) for r in results if key in (c := config(r))]


def _row(setting: str, pairs: list[tuple[str, Any]], source: str) -> dict:
    value, n = _values(pairs)
    return {"setting": setting, "value": value, "source": f"{source} ({n} file{'s' if n != 1 else ''})"}


def build_setup(*, results: ResultSet, reference: dict, seeds: tuple[int, ...] = ()) -> Table:
    """The settings table of the kept results (dataset, splits, profile, seeds, versions, SHA).

    Parameters
    ----------
    results : ResultSet
        The results the report uses (after `select_consistent`).
    reference : dict
        `Consistency.reference` (its ``data`` and ``samples`` are shown as the reference).
    seeds : tuple of int
        The seed replicates (``seed-<s>`` folders) the tables average over; ``()`` for a
        single run, which adds no row.

    Returns
    -------
    Table
        Key ``table_setup``; rows ``{setting, value, source}``.
    """
    trains, evals, everything = results.train, results.attack + results.defense, results.all
    data = reference.get("data") or {}
    samples = reference.get("samples") or {}
    rows = [] if not seeds else [{
        "setting": "Seed replicates", "source": "seed-<s> folders",
        "value": f"{len(seeds)} seeds: {', '.join(map(str, seeds))}; tables show mean ± standard deviation "
        f"over them (per-seed values in `<table>_per_seed.csv`); figures and listening examples are from "
        f"seed {seeds[0]}"}]
    rows += [
        _row("Dataset", [(r.name, r.data.get("dataset")) for r in everything], "result dataset"),
        {"setting": "Data configuration", "source": "config.data",
         "value": ", ".join(f"{k}={_text(v)}" for k, v in data.items()) or _NOT_RECORDED},
        {"setting": "Split sizes", "value": _split_sizes(trains), "source": "training metrics"},
        {"setting": "Evaluated (attacked) samples", "source": "attack/defense results",
         "value": ", ".join(f"{k}={_text(v)}" for k, v in samples.items()) or _NOT_RECORDED},
        _row("Training profile", _recorded(trains, "profile", _train_config), "train config"),
        {"setting": "Epochs", "value": _epochs(trains), "source": "training results"},
        _row("Training seed", _recorded(trains, "seed", _train_config), "train config"),
        _row("Attack / defense seed", _recorded(evals, "seed", lambda r: as_dict(r.data.get("config"))),
             "attack/defense config"),
    ]
    metas = [(r.name, as_dict(r.data.get("meta"))) for r in everything]
    for key, label in VERSIONS:
        rows.append(_row(label, [(n, m[key]) for n, m in metas if key in m], "meta"))
    rows.append(_row("git SHA", [(n, m.get("git_sha")) for n, m in metas if "git_sha" in m], "meta"))
    created = sorted(m["created"] for _, m in metas if isinstance(m.get("created"), str))
    rows.append({"setting": "Results created", "source": "meta",
                 "value": f"{created[0]} … {created[-1]}" if created else _NOT_RECORDED})
    return make_table(
        key="table_setup", title="Data, settings and software", columns=_COLUMNS, rows=rows,
        note="Taken from the kept result files' `config` and `meta`; a setting with several values "
        "lists each with the number of files holding it.",
        empty="no result files",
    )


__all__ = ["VERSIONS", "build_setup"]
