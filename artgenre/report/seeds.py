"""Tables over seed replicates: mean ± standard deviation beside each number.

Each replicate (one ``seed-<s>`` folder, see `artgenre.report.replicates`) gets its own
tables; rows of the replicates are matched on their identity columns (model, attack, ε ...:
`artgenre.report.table.IDENTITY_KINDS`) and every measurement becomes ``{mean, std,
n_seeds}`` (sample standard deviation, n − 1; None below two seeds). The per-seed values are
kept for ``<table>_per_seed.csv``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from artgenre.report.collect import ResultFile, ResultSet, num
from artgenre.report.consistency import Consistency
from artgenre.report.index import ResultIndex, build_index
from artgenre.report.replicates import replicate_seeds, seed_of
from artgenre.report.table import IDENTITY_KINDS, Table, csv_text, is_measure


def split_replicates(*, consistency: Consistency) -> tuple[Consistency, dict[int, ResultSet]]:
    """The kept results per replicate seed; results of no replicate seed are left out.

    Returns
    -------
    (Consistency, dict of int → ResultSet)
        ``consistency`` with the results that belong to no replicate moved to ``excluded``,
        and one `ResultSet` per seed (empty dict for a run without replicates).
    """
    res = consistency.results
    seeds = replicate_seeds(results=res)
    if not seeds:
        return consistency, {}
    stray = [r for r in res.all if seed_of(r) not in seeds]
    rows = tuple({"file": res.rel(r.path), "kind": r.kind, "model": r.model,
                  "reason": f"belongs to no seed replicate (seed {seed_of(r)}; the seed-<s> folders hold "
                  f"seeds {', '.join(map(str, seeds))})"} for r in stray)

    def only(keep: Callable[[ResultFile], bool]) -> ResultSet:
        return replace(res, train=tuple(filter(keep, res.train)), attack=tuple(filter(keep, res.attack)),
                       defense=tuple(filter(keep, res.defense)))

    kept = replace(consistency, results=only(lambda r: seed_of(r) in seeds), excluded=consistency.excluded + rows)
    return kept, {s: only(lambda r, s=s: seed_of(r) == s) for s in seeds}


def _identity(table: Table, row: dict) -> str:
    # Label columns (text derived from a measurement, e.g. the improvement factor) differ
    # between seeds; they are joined below, never part of a row's identity.
    return json.dumps([row.get(c.name) for c in table.columns if c.kind in IDENTITY_KINDS], default=str,
                      sort_keys=True)


def _stat(values: list[object]) -> dict:
    nums = [x for v in values if (x := num(v)) is not None]
    adaptive = any(isinstance(v, dict) and v.get("adaptive") for v in values)
    out = {"mean": float(np.mean(nums)) if nums else None,
           "std": float(np.std(nums, ddof=1)) if len(nums) >= 2 else None, "n_seeds": len(nums)}
    return {**out, "adaptive": True} if adaptive else out


def aggregate_table(*, per_seed: Mapping[int, Table]) -> Table:
    """One table over the replicates' versions of the same table (see module docstring).

    Parameters
    ----------
    per_seed : mapping of int → Table
        The same table built from each replicate (same key and columns), at least one.

    Returns
    -------
    Table
        Rows in first appearance order across seeds; measurements as ``{mean, std,
        n_seeds}``; "label" columns (text derived from a measurement) join the seeds' values
        with " / "; ``seeds`` set, so it renders "mean ± std".
    """
    seeds = tuple(sorted(per_seed))
    first = per_seed[seeds[0]]
    groups: dict[str, list[dict]] = {}
    columns = {c.name: c for s in seeds for c in per_seed[s].columns}
    for s in seeds:
        for row in per_seed[s].rows:
            groups.setdefault(_identity(per_seed[s], row), []).append(row)
    rows = []
    for group in groups.values():
        row = dict(group[0])
        for c in columns.values():
            values = [r.get(c.name) for r in group]
            if is_measure(c):
                row[c.name] = _stat(values)
            elif c.kind == "label":
                row[c.name] = " / ".join(dict.fromkeys(str(v) for v in values if v is not None))
        rows.append(row)
    if not any(is_measure(c) for c in columns.values()):
        # Nothing to average (the checks): the replicates' rows side by side, rendered as usual.
        return replace(first, columns=tuple(columns.values()), rows=tuple(rows), not_run=None if rows else first.not_run)
    note = (f"Mean ± standard deviation over the seed replicates {', '.join(map(str, seeds))} (sample "
            f"standard deviation; (n=k) where only k seeds have the number); per-seed values in "
            f"`{first.key}_per_seed.csv`.")
    return replace(first, columns=tuple(columns.values()), rows=tuple(rows), seeds=seeds,
                   note=(first.note + "\n\n" + note) if first.note else note,
                   not_run=None if rows else first.not_run)


def per_seed_csv(*, per_seed: Mapping[int, Table]) -> str:
    """``<table>_per_seed.csv``: the table's CSV with a leading ``seed`` column, one row per
    seed × table row."""
    seeds = sorted(per_seed)
    # A replicate may lack a column another has (an attack it did not run): union of headers.
    header = list(dict.fromkeys(h for s in seeds for h in per_seed[s].csv_header()))
    rows = []
    for s in seeds:
        names = per_seed[s].csv_header()
        rows += [[str(s), *(dict(zip(names, cells)).get(h, "") for h in header)] for cells in per_seed[s].csv_rows()]
    return csv_text(header=["seed", *header], rows=rows)


def replicate_tables(*, groups: Mapping[int, ResultSet],
                     builders: Mapping[str, Callable[..., Table]]) -> tuple[dict[str, Table], dict[str, dict[int, Table]], ResultIndex]:
    """Every table per replicate and aggregated.

    Returns
    -------
    (dict, dict, ResultIndex)
        Key → aggregated table; key → seed → that seed's table; the first seed's index (the
        figures and listening examples are drawn from it).
    """
    indexes = {s: build_index(results=g) for s, g in sorted(groups.items())}
    per_seed = {key: {s: fn(index=idx) for s, idx in indexes.items()} for key, fn in builders.items()}
    tables = {key: aggregate_table(per_seed=tabs) for key, tabs in per_seed.items()}
    return tables, per_seed, indexes[min(indexes)]


__all__ = ["aggregate_table", "per_seed_csv", "replicate_tables", "split_replicates"]
