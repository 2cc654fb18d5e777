"""Cross-file index: which accuracy belongs to which (model, strategy, attack, ε, adaptive).

A *strategy* is ``"none"`` (the undefended model, from ``attack-<model>.json``) or a defense
name (cells of ``defense-<model>-<defense>.json`` merged with those of
``attack-<model>-<defense>.json``). Where a defense has both a non-adaptive and an adaptive
cell for the same attack and ε, the lower of the two accuracies is *credited* (the adaptive one
on a tie): the adaptive attack is meant to be the stronger one, and where by chance it is not,
crediting it would overstate robustness.

Cells are indexed per threat model and norm (``threat_cells``); ``cells`` are those of the
index's own ``threat`` (the spectrogram L∞ threat of the paper, unless `ResultIndex.view`
chose another), so every table builder reads one threat model at a time. ``robust`` holds
the results' per-sample worst cases over the attacks run at an ε (see `robust`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from artgenre.report.collect import (
    BASELINE,
    DEFAULT_THREAT,
    ResultFile,
    ResultSet,
    accuracy,
    as_dict,
    as_list,
    attack_order,
    cells_of,
    eps_key,
    prop,
    robust_of,
    threat_of,
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
    threat: str = DEFAULT_THREAT[0]
    norm: str = DEFAULT_THREAT[1]


@dataclass(frozen=True)
class Robust:
    """A robust-accuracy entry: segments correct clean and under every attack in ``attacks``.

    ``adaptive`` is True / False for the adaptive / non-adaptive attacks on a defense, None for
    the union of both (the worst case over everything that was run).
    """

    model: str
    strategy: str
    threat: str
    norm: str
    eps: float
    accuracy: dict
    attacks: tuple[str, ...]
    adaptive: bool | None
    file: str


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
    threat: tuple[str, str] = DEFAULT_THREAT
    threat_cells: dict[tuple[str, str], dict[tuple, Cell]] = field(default_factory=dict)
    threat_transfer: list[Cell] = field(default_factory=list)
    robust_entries: dict[tuple, dict[bool | None, Robust]] = field(default_factory=dict)

    def view(self, threat: tuple[str, str]) -> ResultIndex:
        """The same index reading the cells of ``threat`` = ``(threat model, norm)``."""
        return replace(self, threat=threat, cells=self.threat_cells.get(threat, {}),
                       transfer=[c for c in self.threat_transfer if (c.threat, c.norm) == threat])

    def threats(self) -> list[tuple[str, str]]:
        """Every ``(threat model, norm)`` with cells, the default one first."""
        return sorted(self.threat_cells, key=lambda t: (t != DEFAULT_THREAT, t))

    def robust(self, model: str, strategy: str, eps: float) -> Robust | None:
        """The robust accuracy credited at ``eps`` under the index's threat: the union entry
        (``adaptive`` None) where recorded, else the lowest of the recorded ones (the adaptive
        one on a tie)."""
        entries = self.robust_entries.get((model, strategy, *self.threat, eps_key(eps)), {})
        if None in entries:
            return entries[None]
        ranked = sorted(entries.values(), key=lambda r: (r.accuracy["value"], not r.adaptive))
        return ranked[0] if ranked else None

    def has_robust(self, model: str | None = None) -> bool:
        """Whether any result records robust (worst-case) accuracy under the index's threat."""
        return any((model is None or m == model) and (t, n) == self.threat
                   for (m, _s, t, n, _e) in self.robust_entries)

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

    def cascades(self, model: str | None = None, strategy: str | None = None) -> dict[str, list[str]]:
        """Attacks whose cells ran on what earlier attacks left (`artgenre.attacks.cascade`),
        each with those earlier attacks (over all its matching cells, in order)."""
        out: dict[str, list[str]] = {}
        for (m, s, a, _e, _ad), c in self.cells.items():
            after = as_dict(c.raw.get("cascade")).get("after")
            if (model is None or m == model) and (strategy is None or s == strategy) and isinstance(after, list):
                out.setdefault(a, [])
                out[a] += [str(b) for b in after if str(b) not in out[a]]
        return out

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
    threat, norm = threat_of(c, r)
    return Cell(
        threat=threat,
        norm=norm,
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


def _add_cell(idx: ResultIndex, cell: Cell, *, replace_existing: bool) -> None:
    cells = idx.threat_cells.setdefault((cell.threat, cell.norm), {})
    key = (cell.model, cell.strategy, cell.attack, cell.eps, cell.adaptive)
    if replace_existing:
        cells[key] = cell
    else:
        cells.setdefault(key, cell)


def _add_robust(idx: ResultIndex, r: ResultFile, strategy: str, *, replace_existing: bool) -> None:
    for entry in robust_of(r):
        threat, norm = threat_of(entry, r)
        adaptive = entry.get("adaptive")
        rob = Robust(model=r.model, strategy=strategy, threat=threat, norm=norm, eps=eps_key(entry["eps"]),
                     accuracy=accuracy(entry["robust_accuracy"]),
                     attacks=tuple(map(str, as_list(entry.get("attacks")))),
                     adaptive=None if adaptive is None else bool(adaptive), file=r.name)
        slot = idx.robust_entries.setdefault((rob.model, strategy, threat, norm, rob.eps), {})
        if replace_existing or rob.adaptive not in slot:
            slot[rob.adaptive] = rob


def build_index(*, results: ResultSet) -> ResultIndex:
    """Index all cells, robust entries and clean accuracies of ``results`` (see module docstring)."""
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
        _add_robust(idx, r, r.defense, replace_existing=True)
        for c in cells_of(r):
            _add_cell(idx, _make_cell(r, c, r.defense), replace_existing=True)
    for r in results.attack:
        _add_model(idx.models, r.model)
        if r.source_model is not None:
            idx.threat_transfer.extend(_make_cell(r, c, r.defense or BASELINE) for c in cells_of(r))
            continue
        strategy = r.defense or BASELINE
        if strategy == BASELINE:
            # One result per model stands for it (examples, clean accuracy): the default threat
            # model's; another threat's result (e.g. a waveform sweep) only where there is none.
            default = (r.data.get("threat") or DEFAULT_THREAT[0]) == DEFAULT_THREAT[0]
            held = idx.baseline_files.get(r.model)
            held_default = held is not None and (held.data.get("threat") or DEFAULT_THREAT[0]) == DEFAULT_THREAT[0]
            if held is not None and default == held_default:
                log.warning("two attack results for %s; using %s", r.model, r.name)
            if held is None or default or not held_default:
                idx.baseline_files[r.model] = r
                # The attack result's clean accuracy is measured on exactly the attacked samples.
                idx.clean[(r.model, BASELINE)] = accuracy(r.data.get("clean"))
        else:
            idx.clean.setdefault((r.model, strategy), accuracy(r.data.get("clean")))
        _add_robust(idx, r, strategy, replace_existing=False)
        for c in cells_of(r):
            _add_cell(idx, _make_cell(r, c, strategy), replace_existing=False)
    return idx.view(idx.threat)
