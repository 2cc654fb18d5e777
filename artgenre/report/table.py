"""The report's table type and its one renderer for Markdown, CSV and JSON.

A `Table` holds raw values (fractions in [0, 1], proportion dicts, seconds); formatting
happens only when rendering, so ``report.json`` and the CSV files keep full precision.
Accuracies are shown in percent in Markdown and kept as fractions in CSV/JSON.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from artgenre.registry import Registry
from artgenre.report.collect import num, prop
from artgenre.report.improvement import factor_label

ADAPTIVE_MARK = "(a)"
DASH = "—"
#: Marks the column of an attack that ran on what earlier attacks left (`artgenre.attacks.cascade`).
CASCADE_MARK = "†"


def attack_label(attack: str, cascades: Mapping[str, Sequence[str]]) -> str:
    """An attack's column label: upper case, `CASCADE_MARK` if it ran as a cascade."""
    return attack.upper() + (CASCADE_MARK if attack in cascades else "")


def cascade_note(cascades: Mapping[str, Sequence[str]]) -> str:
    """The table note for `attack_label`'s mark; empty without cascade attacks."""
    if not cascades:
        return ""
    parts = [f"{a.upper()} on the segments {', '.join(b.upper() for b in after) or 'no attack'} left correct"
             for a, after in cascades.items()]
    return (f"{CASCADE_MARK} Run as AutoAttack runs its components, at each ε: {'; '.join(parts)} "
            "(as the crafting model saw them); so its column is the accuracy under those attacks and it "
            "together, not under it alone.")


def _pct(v: float | None) -> str:
    return DASH if v is None else f"{100 * v:.1f}"


FORMATS: Registry[Callable[[object], str]] = Registry("column format")
FORMATS.register("str")(lambda v: DASH if v is None or v == "" else str(v))
# Text derived from a measurement (an improvement factor's label): it may differ between seeds.
FORMATS.register("label")(FORMATS["str"])
FORMATS.register("int")(lambda v: DASH if num(v) is None else f"{int(num(v)):,}")
FORMATS.register("float2")(lambda v: DASH if num(v) is None else f"{num(v):.2f}")
FORMATS.register("float3")(lambda v: DASH if num(v) is None else f"{num(v):.3f}")
FORMATS.register("float4")(lambda v: DASH if num(v) is None else f"{num(v):.4f}")
FORMATS.register("eps")(lambda v: DASH if num(v) is None else f"{num(v):g}")
FORMATS.register("db")(lambda v: DASH if num(v) is None else f"{num(v):.1f} dB")
# A budget in dB: a row's coordinate (as "eps"), not a measurement.
FORMATS.register("epsdb")(FORMATS["db"])
FORMATS.register("seconds")(lambda v: DASH if num(v) is None else f"{num(v):,.1f} s")
FORMATS.register("ms")(lambda v: DASH if num(v) is None else f"{num(v):.2f} ms")
FORMATS.register("pct")(lambda v: _pct(num(v)))
FORMATS.register("pts")(lambda v: DASH if num(v) is None else f"{100 * num(v):+.1f}")
FORMATS.register("ratio")(lambda v: DASH if num(v) is None else f"{num(v):.2f}×")
FORMATS.register("bool")(lambda v: DASH if v is None else ("yes" if v else "no"))
FORMATS.register("check")(lambda v: "skipped" if v is None else ("passed" if v else "**FAILED**"))
FORMATS.register("link")(lambda v: DASH if not v else f"[{v}]({v})")
FORMATS.register("factor")(lambda v: factor_label(factor=v if isinstance(v, (int, float)) else None))
_TEXT_KINDS = frozenset({"str", "label", "bool", "check", "link"})
#: Kinds that name a row (which model, attack, ε ...) rather than measure something; rows of
#: seed replicates are matched on them, every other kind but "label" is averaged.
IDENTITY_KINDS = frozenset({"str", "eps", "epsdb", "bool", "check", "link"})
# The kind a standard deviation is shown in (a difference has no sign).
_SPREAD_KIND = {"prop": "pct", "pts": "pct"}


def is_measure(column: Column) -> bool:
    """Whether a column holds a measurement (averaged over seed replicates)."""
    return column.kind not in IDENTITY_KINDS and column.kind != "label"


def _fmt_stat(kind: str, st: object, n_seeds: int) -> str:
    """``"72.5 ± 3.1"`` of a ``{mean, std, n_seeds}`` dict, ``(n=2)`` when seeds are missing."""
    if not isinstance(st, dict) or st.get("mean") is None:
        return DASH
    shown = "pct" if kind == "prop" else kind
    text = FORMATS[shown](st["mean"])
    if st.get("std") is not None:
        text += " ± " + FORMATS[_SPREAD_KIND.get(kind, kind)](st["std"])
    if st.get("n_seeds", n_seeds) < n_seeds:
        text += f" (n={st['n_seeds']})"
    if st.get("adaptive"):
        text += f" {ADAPTIVE_MARK}"
    return text


@FORMATS.register("prop")
def _fmt_prop(v: object) -> str:
    p = v if isinstance(v, dict) else prop(v)
    if p is None:
        return DASH
    text = _pct(p["value"])
    if p.get("ci_low") is not None and p.get("ci_high") is not None:
        text += f" [{_pct(p['ci_low'])}, {_pct(p['ci_high'])}]"
    if isinstance(v, dict) and v.get("adaptive"):
        text += f" {ADAPTIVE_MARK}"
    return text


@dataclass(frozen=True)
class Column:
    """A table column: ``name`` (CSV/JSON key), ``header`` (Markdown) and format ``kind``."""

    name: str
    header: str
    kind: str = "str"


@dataclass(frozen=True)
class Table:
    """A report table with raw row values.

    Attributes
    ----------
    key : str
        Stable file stem (``table1_clean`` → ``table1_clean.csv``).
    title : str
    columns : tuple of Column
    rows : tuple of dict
        Column name → raw value: a number, a string, ``None`` or a proportion dict
        ``{"value", "ci_low", "ci_high"[, "adaptive"]}`` (fractions in [0, 1]).
    note : str
        Markdown shown under the table (definitions, units).
    not_run : str or None
        Why the table is empty (shown as "not run: ..."); None when it has rows.
    optional : bool
        An empty optional table (a block only some runs produce) is left out of ``report.md``
        instead of being marked "not run".
    seeds : tuple of int
        Non-empty for a table over seed replicates: its measurement columns (`is_measure`) then
        hold ``{mean, std, n_seeds}`` dicts (std None below two seeds), shown as "mean ± std"
        and written to CSV as ``X_mean, X_std, X_n_seeds``.
    """

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict, ...] = ()
    note: str = ""
    not_run: str | None = None
    optional: bool = False
    seeds: tuple[int, ...] = ()

    @property
    def shown(self) -> bool:
        """Whether ``report.md`` shows the table (with rows, or as "not run")."""
        return bool(self.rows) or not self.optional

    def to_markdown(self) -> str:
        """The table as a GitHub-flavoured Markdown section body (no heading)."""
        if self.not_run or not self.rows:
            return f"_not run_: {self.not_run or 'no rows'}\n"
        head = "| " + " | ".join(c.header.replace("|", "\\|") for c in self.columns) + " |"
        sep = "|" + "|".join("---" if c.kind in _TEXT_KINDS else "--:" for c in self.columns) + "|"
        lines = [head, sep]
        for row in self.rows:
            cells = [self._text(c, row.get(c.name)).replace("|", "\\|") for c in self.columns]
            lines.append("| " + " | ".join(cells) + " |")
        text = "\n".join(lines) + "\n"
        if self.note:
            text += "\n" + self.note.strip() + "\n"
        return text

    def _text(self, c: Column, v: object) -> str:
        if self.seeds and is_measure(c):
            return _fmt_stat(c.kind, v, len(self.seeds))
        return FORMATS[c.kind](v)

    def _parts(self, c: Column) -> tuple[str, ...]:
        """The CSV columns one table column expands to (suffixes of its name)."""
        if self.seeds and is_measure(c):
            return ("_mean", "_std", "_n_seeds")
        return ("", "_ci_low", "_ci_high") if c.kind == "prop" else ("",)

    def csv_header(self) -> list[str]:
        return [c.name + part for c in self.columns for part in self._parts(c)]

    def csv_rows(self) -> list[list[str]]:
        """The CSV cells of every row, in `csv_header` order."""
        out = []
        for row in self.rows:
            cells = []
            for c in self.columns:
                v = row.get(c.name)
                if self.seeds and is_measure(c):
                    st = v if isinstance(v, dict) else {}
                    cells += [_csv_value(st.get(k)) for k in ("mean", "std", "n_seeds")]
                elif c.kind == "prop":
                    p = v if isinstance(v, dict) else prop(v)
                    cells += [_csv_value(None if p is None else p.get(k)) for k in ("value", "ci_low", "ci_high")]
                else:
                    cells.append(_csv_value(v))
            out.append(cells)
        return out

    def to_csv(self) -> str:
        """CSV text; proportion columns expand to ``X, X_ci_low, X_ci_high`` (fractions), and
        over seed replicates every measurement to ``X_mean, X_std, X_n_seeds``."""
        return csv_text(header=self.csv_header(), rows=self.csv_rows())

    def as_json(self) -> dict:
        return {
            "title": self.title,
            "columns": [c.name for c in self.columns],
            "rows": [dict(r) for r in self.rows],
            "not_run": self.not_run,
        }


def make_table(*, key: str, title: str, columns: Iterable[Column], rows: Iterable[dict],
               empty: str, note: str = "", optional: bool = False) -> Table:
    """A `Table` whose ``not_run`` is ``empty`` (why there is nothing to show) when it has no rows."""
    rows = tuple(rows)
    return Table(key, title, tuple(columns), rows, note=note, not_run=None if rows else empty,
                 optional=optional)


def csv_text(*, header: list[str], rows: Iterable[list[str]]) -> str:
    """CSV text of a header and rows of already formatted cells."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _csv_value(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if math.isnan(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.10g}"
    return str(v)


__all__ = ["ADAPTIVE_MARK", "CASCADE_MARK", "DASH", "FORMATS", "IDENTITY_KINDS", "Column", "Table", "attack_label",
           "cascade_note", "csv_text", "is_measure", "make_table"]
