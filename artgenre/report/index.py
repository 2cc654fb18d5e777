"""Cross-file index: which accuracy belongs to which (model, strategy, attack, ε, adaptive).

A *strategy* is ``"none"`` (the undefended model, from ``attack-<model>.json``) or a defense
name (cells of ``defense-<model>-<defense>.json`` merged with those of
``attack-<model>-<defense>.json``). Where a defense has both a non-adaptive and an adaptive
cell for the same attack and ε, the lower of the two accuracies is *credited* (the adaptive one
on a tie): the adaptive attack is meant to be the stronger one, and where by chance it is not,
crediting it would overstate robustness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from artgenre.report.collect import (
    BASELINE,
    ResultFile,
    ResultSet,
    accuracy,
    attack_order,
    cells_of,
    eps_key,
    prop,
)
from artgenre.runtime import log


@dataclass(frozen=True)
class Cell:
    """One attack cell, normalised."""

    model: str
    strategy: str
    attack: str
    eps: float
    adaptive: bool
    accuracy: dict | None
    track_accuracy: dict | None
    success_rate: dict | None
    raw: dict
    file: str
    source_model: str | None = None


@dataclass
class ResultIndex:
    """Lookup tables over a `ResultSet` (built by `build_index`)."""

    results: ResultSet
    models: list[str] = field(default_factory=list)
    baseline_files: dict[str, ResultFile] = field(default_factory=dict)
    defense_files: dict[tuple[str, str], ResultFile] = field(default_factory=dict)
    cells: dict[tuple, Cell] = field(default_factory=dict)
    clean: dict[tuple[str, str], dict | None] = field(default_factory=dict)
    transfer: list[Cell] = field(default_factory=list)

    def strategies(self, model: str) -> list[str]:
        """Defense names seen for ``model`` (not including the baseline), sorted."""
        names = {s for (m, s, *_rest) in self.cells if m == model and s != BASELINE}
        names |= {d for (m, d) in self.defense_files if m == model}
        return sorted(names)

    def attacks(self, model: str | None = None, strategy: str | None = None) -> list[str]:
        return attack_order(
            a for (m, s, a, _e, _ad) in self.cells
            if (model is None or m == model) and (strategy is None or s == strategy)
        )

    def eps_values(self, model: str | None = None, strategy: str | None = None,
                   attack: str | None = None) -> list[float]:
        return sorted({
            e for (m, s, a, e, _ad) in self.cells
            if (model is None or m == model) and (strategy is None or s == strategy)
            and (attack is None or a == attack)
        })

    def cell(self, model: str, strategy: str, attack: str, eps: float, adaptive: bool) -> Cell | None:
        return self.cells.get((model, strategy, attack, eps_key(eps), bool(adaptive)))

    def credited(self, model: str, strategy: str, attack: str, eps: float) -> Cell | None:
        """The cell a defense is credited with: the lower accuracy of its adaptive and
        non-adaptive cells (the adaptive one on a tie), i.e. the strongest attack that was run."""
        adaptive = self.cell(model, strategy, attack, eps, True)
        plain = self.cell(model, strategy, attack, eps, False)
        if adaptive is None or plain is None:
            return adaptive or plain
        return plain if _value(plain) < _value(adaptive) else adaptive

    @property
    def has_defenses(self) -> bool:
        return any(s != BASELINE for (_m, s, *_r) in self.cells) or bool(self.defense_files)


def _value(cell: Cell) -> float:
    acc = cell.accuracy or {}
    return float(acc.get("value", float("inf")))


def _add_model(models: list[str], name: str) -> None:
    if name not in models:
        models.append(name)


def _make_cell(r: ResultFile, c: dict, strategy: str) -> Cell:
    return Cell(
        model=r.model,
        strategy=strategy,
        attack=c["attack"],
        eps=eps_key(c["eps"]),
        adaptive=bool(c.get("adaptive")),
        accuracy=accuracy(c.get("segment_accuracy")),
        track_accuracy=accuracy(c.get("track_accuracy")),
        success_rate=prop(c.get("success_rate")),
        raw=c,
        file=r.name,
        source_model=r.source_model,
    )


def build_index(*, results: ResultSet) -> ResultIndex:
    """Index all cells and clean accuracies of ``results`` (see module docstring)."""
    idx = ResultIndex(results=results)
    for r in results.train:
        _add_model(idx.models, r.model)
    # Defense files first so that, on a duplicate key, their cells win over an attack
    # result's copy of the same cell.
    for r in results.defense:
        _add_model(idx.models, r.model)
        key = (r.model, r.defense)
        if key in idx.defense_files:
            log.warning("two defense results for %s/%s; using %s", *key, r.name)
        idx.defense_files[key] = r
        idx.clean[key] = accuracy(r.data.get("clean"))
        idx.clean.setdefault((r.model, BASELINE), accuracy(r.data.get("baseline_clean")))
        for c in cells_of(r):
            cell = _make_cell(r, c, r.defense)
            idx.cells[(cell.model, cell.strategy, cell.attack, cell.eps, cell.adaptive)] = cell
    for r in results.attack:
        _add_model(idx.models, r.model)
        if r.source_model is not None:
            idx.transfer.extend(_make_cell(r, c, r.defense or BASELINE) for c in cells_of(r))
            continue
        strategy = r.defense or BASELINE
        if strategy == BASELINE:
            if r.model in idx.baseline_files:
                log.warning("two attack results for %s; using %s", r.model, r.name)
            idx.baseline_files[r.model] = r
            # The attack result's clean accuracy is measured on exactly the attacked samples.
            idx.clean[(r.model, BASELINE)] = accuracy(r.data.get("clean"))
        else:
            idx.clean.setdefault((r.model, strategy), accuracy(r.data.get("clean")))
        for c in cells_of(r):
            cell = _make_cell(r, c, strategy)
            idx.cells.setdefault((cell.model, cell.strategy, cell.attack, cell.eps, cell.adaptive), cell)
    return idx
