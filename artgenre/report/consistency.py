"""Which result files may share one report: same data, same evaluated samples.

A folder can hold results of different runs (a subfolder from an earlier run, an attack
rerun with another ``--limit``). Numbers from different data or different evaluated samples
must not meet in one table, so the report keeps one consistent group and lists the rest.

Rules (also in docs/design.md, "Reading rules"):

- **Data** of a result: ``config.data`` (a `DataConfig` dict); for an attack result without
  it, the data of the training result whose ``checkpoint`` is the attacked checkpoint
  (``config.checkpoint``; same path, else same ``checkpoints/<name>.pt`` tail, preferring the
  training result in the attack result's folder). Compared on dataset, root, split scheme,
  seed and options (``cache_dir`` and the ``workers`` option only say where and how fast).
  Where no data configuration can be found, only the ``dataset`` name is compared.
- **Evaluated samples** of an attack or defense result: partition (``config.partition``,
  older files ``config.split``, default ``test``), ``config.limit``, ``n_samples``, the
  threat model (``threat``, where recorded) and, when ``limit`` picks a subset,
  ``config.seed`` (with ``limit`` null every sample is evaluated whatever the seed).
  Training results evaluate whole splits and are compared on data only.
- **Seed replicates** (``seed-<s>`` folders, `artgenre.report.replicates`): the seed is what
  the replicates vary on purpose, so it is not compared between them; data, partition,
  ``limit``, ``n_samples`` and threat still are.
- **Reference**: the data of ``pipeline.json``'s configuration when present and some result
  matches it; else that of the most recent training result (``meta.created``); else the data
  most results share (ties: the most recent). Among the attack and defense results left, the
  evaluated samples of the pipeline's ``limit``/``seed`` when present and matched, else the
  sample set most of them share (ties: the most recent).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import Any

from artgenre.report.collect import ResultFile, ResultSet, as_dict, as_list
from artgenre.report.replicates import replicate_seeds

# Options that change neither the samples nor their features.
_IRRELEVANT_OPTIONS = frozenset({"workers"})
_DATA_FIELDS = ("dataset", "root", "split_scheme", "seed", "options")
# The threat model is not among them: the waveform and spectrogram attacks of one run evaluate
# the same test segments (their cells carry the threat, and the tables keep them apart).
_SAMPLE_FIELDS = ("partition", "limit", "seed", "n_samples")
_UNKNOWN = object()


@dataclass(frozen=True)
class Consistency:
    """The outcome of `select_consistent`.

    Attributes
    ----------
    results : ResultSet
        The kept results (same data, same evaluated samples).
    excluded : tuple of dict
        ``{file, kind, model, reason}`` of every result left out.
    reference : dict
        ``data`` (dict or None), ``samples`` (dict or None), ``basis`` (how the reference
        was chosen, one sentence) and ``unverified`` (files whose data configuration is not
        recorded, kept on the dataset name alone).
    """

    results: ResultSet
    excluded: tuple[dict, ...]
    reference: dict


def _options(value: Any) -> dict:
    if isinstance(value, dict):
        pairs = value.items()
    else:
        pairs = [p for p in as_list(value) if isinstance(p, (list, tuple)) and len(p) == 2]
    return {str(k): v for k, v in sorted(pairs) if str(k) not in _IRRELEVANT_OPTIONS}


def data_identity(config: Any) -> dict | None:
    """The parts of a `DataConfig` dict that decide the samples, or None if not a dict."""
    if not isinstance(config, dict) or "dataset" not in config:
        return None
    return {"dataset": config.get("dataset"), "root": config.get("root"),
            "split_scheme": config.get("split_scheme", "random"), "seed": config.get("seed", 0),
            "options": _options(config.get("options"))}


def pipeline_data(pipeline: dict | None) -> dict | None:
    """The data identity of a ``pipeline.json`` configuration (its own field names)."""
    cfg = as_dict(as_dict(pipeline).get("config"))
    if "dataset" not in cfg:
        return None
    return data_identity({"dataset": cfg["dataset"], "root": cfg.get("root"),
                          "split_scheme": cfg.get("split_scheme", "random"),
                          "seed": cfg.get("data_seed", 0), "options": cfg.get("data_options")})


def _tail(path: str) -> tuple[str, ...]:
    return PurePath(path).parts[-2:]


def _checkpoint_owner(r: ResultFile, trains: tuple[ResultFile, ...]) -> ResultFile | None:
    ckpt = as_dict(r.data.get("config")).get("checkpoint")
    if not isinstance(ckpt, str):
        return None
    owned = [t for t in trains if isinstance(t.data.get("checkpoint"), str)]
    exact = [t for t in owned if t.data["checkpoint"] == ckpt]
    if exact:
        return exact[0]
    # The folder may have been moved since the run: match checkpoints/<stem>.pt instead.
    same_tail = [t for t in owned if _tail(t.data["checkpoint"]) == _tail(ckpt)]
    local = [t for t in same_tail if t.path.parent == r.path.parent]
    return (local or same_tail)[0] if len(local) == 1 or len(same_tail) == 1 else None


def result_data(r: ResultFile, trains: tuple[ResultFile, ...]) -> dict | None:
    """The data identity of ``r`` (see module docstring), or None when not recorded."""
    own = data_identity(as_dict(r.data.get("config")).get("data"))
    if own is not None or r.kind == "train":
        return own
    owner = _checkpoint_owner(r, trains)
    return None if owner is None else data_identity(as_dict(owner.data.get("config")).get("data"))


def sample_identity(r: ResultFile) -> dict | None:
    """``{partition, limit, seed, n_samples}`` of an attack/defense result (unknown fields are
    left out; ``seed`` only when ``limit`` is set); None for training results."""
    if r.kind == "train":
        return None
    cfg = as_dict(r.data.get("config"))
    out: dict[str, Any] = {"partition": cfg.get("partition", cfg.get("split", "test"))}
    if "limit" in cfg:
        out["limit"] = cfg["limit"]
    if cfg.get("limit") is not None and "seed" in cfg:
        out["seed"] = cfg["seed"]
    if isinstance(r.data.get("n_samples"), int):
        out["n_samples"] = r.data["n_samples"]
    return out


def _differences(mine: dict, ref: dict, fields: tuple[str, ...]) -> list[str]:
    diffs = []
    for f in fields:
        a, b = mine.get(f, _UNKNOWN), ref.get(f, _UNKNOWN)
        if a is not _UNKNOWN and b is not _UNKNOWN and a != b:
            diffs.append(f"{f} {json.dumps(a, default=str)} (report uses {json.dumps(b, default=str)})")
    return diffs


def _key(identity: dict | None) -> str:
    return json.dumps(identity, sort_keys=True, default=str)


def _majority(items: list[tuple[dict, ResultFile]]) -> dict | None:
    """The identity most items share; ties go to the one with the most recent result."""
    if not items:
        return None
    counts = Counter(_key(i) for i, _ in items)
    newest: dict[str, tuple[str, str]] = {}
    for ident, r in items:
        k = _key(ident)
        newest[k] = max(newest.get(k, ("", "")), (r.created, str(r.path)))
    best = max(counts, key=lambda k: (counts[k], newest[k]))
    return next(i for i, _ in items if _key(i) == best)


def _data_reference(known: list[tuple[dict, ResultFile]], pipeline: dict | None) -> tuple[dict | None, str]:
    piped = pipeline_data(pipeline)
    if piped is not None and any(_key(d) == _key(piped) for d, _ in known):
        return piped, "the data of pipeline.json's configuration"
    trains = [(d, r) for d, r in known if r.kind == "train"]
    if trains:
        d, r = max(trains, key=lambda item: (item[1].created, str(item[1].path)))
        return d, f"the data of the most recent training result ({r.name}, created {r.created or 'unknown'})"
    if known:
        return _majority(known), "the data most result files share"
    return None, "no result records its data configuration; nothing is compared"


def _sample_reference(items: list[tuple[dict, ResultFile]], pipeline: dict | None,
                      fields: tuple[str, ...]) -> tuple[dict | None, str]:
    cfg = as_dict(as_dict(pipeline).get("config"))
    if "limit" in cfg:
        want = {"partition": "test", "limit": cfg["limit"]}
        if cfg["limit"] is not None:
            want["seed"] = cfg.get("seed", 0)
        matching = [(i, r) for i, r in items if not _differences(i, want, tuple(f for f in fields if f in want))]
        if matching:
            return _majority(matching), "the samples of pipeline.json's limit and seed"
    if items:
        return _majority(items), "the sample set most attack and defense results share"
    return None, "no attack or defense results"


def select_consistent(*, results: ResultSet) -> Consistency:
    """Keep the results that share the reference data and evaluated samples.

    Parameters
    ----------
    results : ResultSet
        Everything `load_results` found (its ``pipeline`` record, if any, picks the reference).

    Returns
    -------
    Consistency
        The kept `ResultSet` (same order as before), the excluded files with a reason each,
        and the reference with the sentence saying how it was chosen.
    """
    data = {r.path: result_data(r, results.train) for r in results.all}
    known = [(data[r.path], r) for r in results.all if data[r.path] is not None]
    ref_data, data_basis = _data_reference(known, results.pipeline)
    excluded: dict[Path, str] = {}
    unverified = []
    for r in results.all:
        mine = data[r.path]
        if ref_data is None:
            continue
        if mine is None:
            if r.data.get("dataset") not in (None, ref_data["dataset"]):
                excluded[r.path] = f"dataset {r.data.get('dataset')!r} (report uses {ref_data['dataset']!r})"
            else:
                unverified.append(results.rel(r.path))
            continue
        diffs = _differences(mine, ref_data, _DATA_FIELDS)
        if diffs:
            excluded[r.path] = "other data: " + "; ".join(diffs)
    samples = [(sample_identity(r), r) for r in results.attack + results.defense if r.path not in excluded]
    fields = _SAMPLE_FIELDS
    if replicate_seeds(results=results):
        fields = tuple(f for f in fields if f != "seed")
    # Replicates differ in the seed on purpose, so the majority is taken without it.
    compared = [({k: v for k, v in i.items() if k in fields}, r) for i, r in samples]
    ref_samples, sample_basis = _sample_reference(compared, results.pipeline, fields)
    for ident, r in samples:
        diffs = _differences(ident, ref_samples or {}, fields)
        if diffs:
            excluded[r.path] = "other evaluated samples: " + "; ".join(diffs)
    kept = replace(
        results,
        train=tuple(r for r in results.train if r.path not in excluded),
        attack=tuple(r for r in results.attack if r.path not in excluded),
        defense=tuple(r for r in results.defense if r.path not in excluded),
    )
    rows = tuple({"file": results.rel(r.path), "kind": r.kind, "model": r.model, "reason": excluded[r.path]}
                 for r in results.all if r.path in excluded)
    reference = {"data": ref_data, "samples": ref_samples,
                 "basis": f"Data: {data_basis}. Samples: {sample_basis}.", "unverified": unverified}
    return Consistency(results=kept, excluded=rows, reference=reference)


__all__ = ["Consistency", "data_identity", "pipeline_data", "result_data", "sample_identity",
           "select_consistent"]
