"""The report's tables: one builder per table, one renderer for Markdown and CSV.

A `Table` holds raw values (fractions in [0, 1], proportion dicts, seconds); formatting
happens only when rendering, so ``report.json`` and the CSV files keep full precision.
Accuracies are shown in percent in Markdown and kept as fractions in CSV/JSON.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

from artgenre.data.features import DEFAULT_FEATURES, unit_to_db
from artgenre.registry import Registry
from artgenre.report.collect import BASELINE, accuracy, as_dict, as_list, attack_order, num, prop
from artgenre.report.index import ResultIndex

# The ε values of the seed paper's defense tables (input units; 0.8, 2.4 and 8 dB).
PAPER_EPS = (0.01, 0.03, 0.1)
ADAPTIVE_MARK = "(a)"
DASH = "—"


# ---------------------------------------------------------------- formatting


def _pct(v: float | None) -> str:
    return DASH if v is None else f"{100 * v:.1f}"


FORMATS: Registry[Callable[[object], str]] = Registry("column format")
FORMATS.register("str")(lambda v: DASH if v is None or v == "" else str(v))
FORMATS.register("int")(lambda v: DASH if num(v) is None else f"{int(num(v)):,}")
FORMATS.register("float2")(lambda v: DASH if num(v) is None else f"{num(v):.2f}")
FORMATS.register("float3")(lambda v: DASH if num(v) is None else f"{num(v):.3f}")
FORMATS.register("float4")(lambda v: DASH if num(v) is None else f"{num(v):.4f}")
FORMATS.register("eps")(lambda v: DASH if num(v) is None else f"{num(v):g}")
FORMATS.register("db")(lambda v: DASH if num(v) is None else f"{num(v):.1f} dB")
FORMATS.register("seconds")(lambda v: DASH if num(v) is None else f"{num(v):,.1f} s")
FORMATS.register("ms")(lambda v: DASH if num(v) is None else f"{num(v):.2f} ms")
FORMATS.register("pct")(lambda v: _pct(num(v)))
FORMATS.register("pts")(lambda v: DASH if num(v) is None else f"{100 * num(v):+.1f}")
FORMATS.register("ratio")(lambda v: DASH if num(v) is None else f"{num(v):.2f}×")
FORMATS.register("bool")(lambda v: DASH if v is None else ("yes" if v else "no"))
FORMATS.register("check")(lambda v: "skipped" if v is None else ("passed" if v else "**FAILED**"))


FORMATS.register("link")(lambda v: DASH if not v else f"[{v}]({v})")
_TEXT_KINDS = frozenset({"str", "bool", "check", "link"})


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


@FORMATS.register("factor")
def _fmt_factor(v: object) -> str:
    return factor_label(factor=v if isinstance(v, (int, float)) else None)


# ---------------------------------------------------------------- tables


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
    """

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict, ...] = ()
    note: str = ""
    not_run: str | None = None

    def to_markdown(self) -> str:
        """The table as a GitHub-flavoured Markdown section body (no heading)."""
        if self.not_run or not self.rows:
            return f"_not run_: {self.not_run or 'no rows'}\n"
        head = "| " + " | ".join(c.header.replace("|", "\\|") for c in self.columns) + " |"
        sep = "|" + "|".join("---" if c.kind in _TEXT_KINDS else "--:" for c in self.columns) + "|"
        lines = [head, sep]
        for row in self.rows:
            cells = [FORMATS[c.kind](row.get(c.name)).replace("|", "\\|") for c in self.columns]
            lines.append("| " + " | ".join(cells) + " |")
        text = "\n".join(lines) + "\n"
        if self.note:
            text += "\n" + self.note.strip() + "\n"
        return text

    def csv_header(self) -> list[str]:
        out = []
        for c in self.columns:
            out.append(c.name)
            if c.kind == "prop":
                out += [f"{c.name}_ci_low", f"{c.name}_ci_high"]
        return out

    def to_csv(self) -> str:
        """CSV text; proportion columns expand to ``X, X_ci_low, X_ci_high`` (fractions)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.csv_header())
        for row in self.rows:
            out = []
            for c in self.columns:
                v = row.get(c.name)
                if c.kind == "prop":
                    p = v if isinstance(v, dict) else prop(v)
                    out += [_csv_value(None if p is None else p.get(k)) for k in ("value", "ci_low", "ci_high")]
                else:
                    out.append(_csv_value(v))
            w.writerow(out)
        return buf.getvalue()

    def as_json(self) -> dict:
        return {
            "title": self.title,
            "columns": [c.name for c in self.columns],
            "rows": [dict(r) for r in self.rows],
            "not_run": self.not_run,
        }


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


# ---------------------------------------------------------------- improvement maths


def improvement_factor(*, defended: float, undefended: float) -> float:
    """Robust accuracy with the defense divided by robust accuracy without it.

    Parameters
    ----------
    defended, undefended : float
        Accuracies in [0, 1] under the same attack and ε (credited, i.e. adaptive where
        available, for the defended model).

    Returns
    -------
    float
        ``defended / undefended``; ``inf`` when ``undefended == 0 < defended``; ``nan``
        when both are 0 (no information: the gain in points is then 0).

    Raises
    ------
    ParameterError
        If either accuracy is not a number in [0, 1].
    """
    from artgenre.errors import check_range

    d = check_range("defended", defended, low=0.0, high=1.0)
    u = check_range("undefended", undefended, low=0.0, high=1.0)
    if u > 0:
        return d / u
    return math.inf if d > 0 else math.nan


def factor_label(*, factor: float | None) -> str:
    """``"3.20×"``, ``"∞"`` or ``"n/a"``."""
    if factor is None or (isinstance(factor, float) and math.isnan(factor)):
        return "n/a"
    if math.isinf(factor):
        return "∞"
    return f"{factor:.2f}×"


# ---------------------------------------------------------------- builders


def _eps_db(eps: float) -> float:
    return float(unit_to_db(eps))


def _with_adaptive(cell) -> dict | None:
    if cell is None or cell.accuracy is None:
        return None
    return {**cell.accuracy, "adaptive": cell.adaptive}


def table_eps(*, index: ResultIndex) -> list[float]:
    idx = index
    """ε values for Tables 4–6: the paper's 0.01/0.03/0.1 where measured, else all defended ε."""
    defended = sorted({e for (m, s, a, e, ad) in idx.cells if s != BASELINE})
    chosen = [e for e in defended if any(abs(e - p) <= 1e-6 for p in PAPER_EPS)]
    return chosen or defended


def _defended_attacks(idx: ResultIndex, model: str) -> list[str]:
    attacks = attack_order(a for (m, s, a, e, ad) in idx.cells if m == model and s != BASELINE)
    paper = [a for a in attacks if a in ("fgsm", "pgd")]
    return paper or attacks


def build_table1(*, index: ResultIndex) -> Table:
    idx = index
    cols = (
        Column("model", "Model"), Column("defense", "Training"),
        Column("segment_accuracy", "Segment acc. % [95 % CI]", "prop"),
        Column("track_accuracy", "Track acc. % [95 % CI]", "prop"),
        Column("n_params", "Params", "int"), Column("epochs", "Epochs", "int"),
        Column("best_epoch", "Best epoch", "int"), Column("train_seconds", "Train time", "seconds"),
        Column("ms_per_sample", "Inference / sample", "ms"),
    )
    rows = []
    for r in idx.results.train:
        test = as_dict(as_dict(r.data.get("metrics")).get("test"))
        rows.append({
            "model": r.model, "defense": r.defense or "standard",
            "segment_accuracy": accuracy(test), "track_accuracy": accuracy(test, "track"),
            "n_params": num(r.data.get("n_params")), "epochs": num(r.data.get("epochs_run")),
            "best_epoch": num(r.data.get("best_epoch")),
            "train_seconds": num(r.data.get("train_seconds")),
            "ms_per_sample": num(r.data.get("ms_per_sample")),
        })
    return Table(
        "table1_clean", "Table 1 – Clean test accuracy and training cost", cols, tuple(rows),
        note="Segment accuracy over 128-frame segments (≈3 s); track accuracy by majority vote "
        "over a track's segments. Inference time per sample as measured by the training run.",
        not_run=None if rows else "no training results (train-*.json)",
    )


def build_table2(*, index: ResultIndex) -> Table:
    idx = index
    models = [m for m in idx.models if m in idx.baseline_files]
    series = [(m, a) for m in models for a in idx.attacks(m, BASELINE)]
    cols = [Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "db")]
    cols += [Column(f"{m}/{a}", f"{m} {a.upper()}", "prop") for m, a in series]
    rows = []
    if series:
        rows.append({"eps": 0.0, "eps_db": 0.0, **{f"{m}/{a}": idx.clean.get((m, BASELINE)) for m, a in series}})
        for e in idx.eps_values(strategy=BASELINE):
            if e == 0:
                continue
            row = {"eps": e, "eps_db": _eps_db(e)}
            for m, a in series:
                c = idx.cell(m, BASELINE, a, e, False)
                row[f"{m}/{a}"] = None if c is None else c.accuracy
            rows.append(row)
    return Table(
        "table2_robustness", "Table 2 – Robustness of the undefended models vs ε", tuple(cols),
        tuple(rows),
        note="Segment accuracy (%) under attack; the ε = 0 row is the clean accuracy on the same "
        "attacked samples. ε is in input units; a change of ε is 80·ε dB on the log-mel scale.",
        not_run=None if rows else "no attack results on undefended models (attack-<model>.json)",
    )


def build_table3(*, index: ResultIndex) -> Table:
    idx = index
    cols = (
        Column("model", "Model"), Column("strategy", "Strategy"),
        Column("clean_accuracy", "Clean acc. % [95 % CI]", "prop"),
        Column("diff_pts", "Δ vs baseline (pts)", "pts"),
        Column("train_seconds", "Own train time", "seconds"),
        Column("total_train_seconds", "Total train time", "seconds"),
        Column("train_cost", "Total / baseline", "ratio"),
    )
    rows = []
    for m in idx.models:
        strategies = idx.strategies(m)
        if not strategies:
            continue
        first = next((idx.defense_files[(m, s)] for s in strategies if (m, s) in idx.defense_files), None)
        base_clean = accuracy(first.data.get("baseline_clean")) if first else idx.clean.get((m, BASELINE))
        base_secs = num(first.data.get("baseline_train_seconds")) if first else None
        rows.append({"model": m, "strategy": f"{BASELINE} (baseline)", "clean_accuracy": base_clean,
                     "diff_pts": None, "train_seconds": base_secs, "total_train_seconds": base_secs,
                     "train_cost": 1.0 if base_secs else None})
        for s in strategies:
            f = idx.defense_files.get((m, s))
            own_base = accuracy(f.data.get("baseline_clean")) if f else base_clean
            clean = idx.clean.get((m, s))
            diff = None
            if clean is not None and own_base is not None:
                diff = clean["value"] - own_base["value"]
            secs = num(f.data.get("train_seconds")) if f else None
            # Defenses built on the baseline (squeezing, detector, fine-tuning) report their
            # own time and the total including the baseline's training.
            total = num(f.data.get("total_train_seconds", secs)) if f else None
            own_base_secs = num(f.data.get("baseline_train_seconds")) if f else None
            rows.append({"model": m, "strategy": s, "clean_accuracy": clean, "diff_pts": diff,
                         "train_seconds": secs, "total_train_seconds": total,
                         "train_cost": total / own_base_secs if total is not None and own_base_secs else None})
    return Table(
        "table3_defense_clean", "Table 3 – Clean cost of each defense", cols, tuple(rows),
        note="Δ = defended clean accuracy − baseline clean accuracy on the same samples, in "
        "percentage points (negative = the defense costs clean accuracy). Own train time is the "
        "defense's extra training; the total includes the baseline's when the defense builds on it.",
        not_run=None if rows else "no defense results (defense-*.json)",
    )


def build_table4(*, index: ResultIndex) -> Table:
    idx = index
    eps_list = table_eps(index=idx)
    rows, colnames = [], []
    for m in idx.models:
        strategies = idx.strategies(m)
        if not strategies:
            continue
        attacks = _defended_attacks(idx, m)
        for a in attacks:
            for e in eps_list:
                if f"{a}@{e:g}" not in colnames:
                    colnames.append(f"{a}@{e:g}")
        for s in [BASELINE, *strategies]:
            row = {"model": m, "strategy": s, "clean_accuracy": idx.clean.get((m, s))}
            for a in attacks:
                for e in eps_list:
                    row[f"{a}@{e:g}"] = _with_adaptive(idx.credited(m, s, a, e))
            rows.append(row)
    cols = [Column("model", "Model"), Column("strategy", "Strategy"),
            Column("clean_accuracy", "Clean", "prop")]
    for name in colnames:
        a, e = name.split("@")
        cols.append(Column(name, f"{a.upper()} ε={e} ({_eps_db(float(e)):.1f} dB)", "prop"))
    return Table(
        "table4_defense_attack", "Table 4 – Accuracy under attack per defense", tuple(cols),
        tuple(rows),
        note=f"Segment accuracy (%) [95 % CI]. {ADAPTIVE_MARK} marks a number from an adaptive attack "
        "(through the defense, e.g. BPDA/EOT); a defense is credited with the lower of its adaptive "
        "and non-adaptive numbers (the strongest attack run), marked (a) when that is the adaptive one.",
        not_run=None if rows else "no defense results (defense-*.json)",
    )


def _improvement_rows(idx: ResultIndex) -> list[dict]:
    rows = []
    for m in idx.models:
        for s in idx.strategies(m):
            for a in _defended_attacks(idx, m):
                for e in table_eps(index=idx):
                    dc = idx.credited(m, s, a, e)
                    uc = idx.cell(m, BASELINE, a, e, False)
                    if dc is None or uc is None or dc.accuracy is None or uc.accuracy is None:
                        continue
                    d, u = dc.accuracy["value"], uc.accuracy["value"]
                    f = improvement_factor(defended=d, undefended=u)
                    rows.append({
                        "model": m, "defense": s, "attack": a, "eps": e, "eps_db": _eps_db(e),
                        "undefended": uc.accuracy, "defended": _with_adaptive(dc),
                        "factor": None if math.isnan(f) else f, "factor_label": factor_label(factor=f),
                        "gain_pts": d - u, "adaptive": dc.adaptive,
                    })
    return rows


def build_table5(*, index: ResultIndex) -> Table:
    idx = index
    cols = (
        Column("model", "Model"), Column("defense", "Defense"), Column("attack", "Attack"),
        Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "db"),
        Column("undefended", "Undefended %", "prop"), Column("defended", "Defended %", "prop"),
        Column("factor_label", "Improvement factor"), Column("gain_pts", "Gain (pts)", "pts"),
    )
    rows = _improvement_rows(idx)
    return Table(
        "table5_improvement", "Table 5 – Improvement summary", cols, tuple(rows),
        note="Improvement factor = (segment accuracy of the defended model under the attack) / "
        "(segment accuracy of the undefended model under the same attack and ε). The defended "
        "number is the adaptive one where it exists. When the undefended accuracy is 0 the ratio "
        "is undefined: it is shown as ∞ if the defended accuracy is above 0 and n/a if it is 0 as "
        "well; the gain in percentage points (defended − undefended) is always given beside it.",
        not_run=None if rows else (
            "no defense results (defense-*.json)" if not idx.has_defenses
            else "no undefended attack cell matches a defended cell (same attack and ε)"
        ),
    )


def build_table6(*, index: ResultIndex) -> Table:
    idx = index
    cols = (
        Column("model", "Model"), Column("attack", "Attack"), Column("eps", "ε", "eps"),
        Column("eps_db", "ε (dB)", "db"), Column("baseline", "Baseline %", "prop"),
        Column("best_defense", "Best defense"), Column("defended", "Defended %", "prop"),
        Column("gain_pts", "Gain (pts)", "pts"),
    )
    best: dict[tuple, dict] = {}
    for r in _improvement_rows(idx):
        key = (r["model"], r["attack"], r["eps"])
        if key not in best or r["defended"]["value"] > best[key]["defended"]["value"]:
            best[key] = r
    rows = [
        {"model": r["model"], "attack": r["attack"], "eps": r["eps"], "eps_db": r["eps_db"],
         "baseline": r["undefended"], "best_defense": r["defense"], "defended": r["defended"],
         "gain_pts": r["gain_pts"]}
        for r in best.values()
    ]
    return Table(
        "table6_best_defense", "Table 6 – Best defense per model, attack and ε", cols, tuple(rows),
        note="Best = highest credited (adaptive where run) accuracy under the attack; ties go to "
        "the defense listed first (alphabetical).",
        not_run=None if rows else "no defense results that can be compared with an undefended attack",
    )


def build_adaptive(*, index: ResultIndex) -> Table:
    idx = index
    cols = (
        Column("model", "Model"), Column("defense", "Defense"), Column("attack", "Attack"),
        Column("eps", "ε", "eps"), Column("non_adaptive", "Non-adaptive %", "prop"),
        Column("adaptive", "Adaptive %", "prop"), Column("diff_pts", "Adaptive − non-adaptive (pts)", "pts"),
    )
    keys = sorted({(m, s, a, e) for (m, s, a, e, ad) in idx.cells if s != BASELINE and ad},
                  key=lambda k: (idx.models.index(k[0]) if k[0] in idx.models else 0, k[1], k[2], k[3]))
    rows = []
    for m, s, a, e in keys:
        na, ad = idx.cell(m, s, a, e, False), idx.cell(m, s, a, e, True)
        na_acc = na.accuracy if na else None
        ad_acc = ad.accuracy if ad else None
        diff = ad_acc["value"] - na_acc["value"] if na_acc and ad_acc else None
        rows.append({"model": m, "defense": s, "attack": a, "eps": e, "non_adaptive": na_acc,
                     "adaptive": ad_acc, "diff_pts": diff})
    return Table(
        "table_adaptive", "Non-adaptive vs adaptive attacks on the defenses", cols, tuple(rows),
        note="A strongly negative difference means the non-adaptive number overstated the "
        "defense (gradient masking); the tables above credit the adaptive number.",
        not_run=None if rows else "no adaptive attack cells (cells with adaptive: true)",
    )


def build_deepfool(*, index: ResultIndex) -> Table:
    idx = index
    dim = DEFAULT_FEATURES.n_mels * DEFAULT_FEATURES.frames
    cols = (
        Column("model", "Model"), Column("defense", "Defense"), Column("overshoot", "Overshoot", "float3"),
        Column("success_rate", "Success % [95 % CI]", "prop"),
        Column("l2_median", "L2 median", "float3"), Column("l2_mean", "L2 mean", "float3"),
        Column("linf_median", "L∞ median", "float4"), Column("linf_mean", "L∞ mean", "float4"),
        Column("linf_median_db", "L∞ median (dB)", "db"), Column("linf_mean_db", "L∞ mean (dB)", "db"),
        Column("rms_median_db", "RMS per bin, median (dB)", "db"),
    )
    rows = []
    for r in idx.results.attack:
        df = r.data.get("deepfool")
        if not isinstance(df, dict):
            continue
        l2, linf = as_dict(df.get("l2")), as_dict(df.get("linf"))
        l2_med, linf_med, linf_mean = num(l2.get("median")), num(linf.get("median")), num(linf.get("mean"))
        rows.append({
            "model": r.model + (f" (from {r.source_model})" if r.source_model else ""),
            "defense": r.defense or BASELINE, "overshoot": num(df.get("overshoot")),
            "success_rate": prop(df.get("success_rate")),
            "l2_median": l2_med, "l2_mean": num(l2.get("mean")),
            "linf_median": linf_med, "linf_mean": linf_mean,
            "linf_median_db": None if linf_med is None else _eps_db(linf_med),
            "linf_mean_db": None if linf_mean is None else _eps_db(linf_mean),
            "rms_median_db": None if l2_med is None else _eps_db(l2_med / math.sqrt(dim)),
        })
    return Table(
        "table_deepfool", "DeepFool minimal-norm perturbations", cols, tuple(rows),
        note="Norms are in input units over a 128×128 segment; dB = 80 × input units. "
        "RMS per bin = L2 / √(128·128), i.e. the typical per-bin change.",
        not_run=None if rows else "no DeepFool results (attack results with a deepfool block)",
    )


def build_detector(*, index: ResultIndex) -> Table:
    idx = index
    cols = (
        Column("model", "Model"), Column("defense", "Detector"), Column("attack", "Attack"),
        Column("eps", "ε", "eps"), Column("adaptive", "Adaptive", "bool"),
        Column("tpr", "TPR % [95 % CI]", "prop"), Column("fpr_test", "FPR (test) %", "prop"),
        Column("auc", "AUC", "float3"), Column("reject_accuracy", "Accuracy with rejection %", "prop"),
        Column("threshold", "Threshold", "float4"),
    )
    rows = []
    for r in idx.results.defense:
        det = r.data.get("detector")
        if not isinstance(det, dict):
            continue
        for pa in as_list(det.get("per_attack")):
            if not isinstance(pa, dict):
                continue
            rows.append({
                "model": r.model, "defense": r.defense, "attack": pa.get("attack"),
                "eps": num(pa.get("eps")), "adaptive": bool(pa.get("adaptive")),
                "tpr": prop(pa.get("tpr")),
                "fpr_test": prop(pa.get("fpr_test", det.get("fpr_test"))),
                "auc": num(pa.get("auc")), "reject_accuracy": prop(pa.get("reject_accuracy")),
                "threshold": num(det.get("threshold")),
            })
    return Table(
        "table_detector", "Adversarial-example detector", cols, tuple(rows),
        note="TPR = share of adversarial segments flagged; FPR = share of clean test segments "
        "flagged at the threshold chosen on validation data for the target FPR. Adaptive rows "
        "attack the classifier and the detector together.",
        not_run=None if rows else "no detector results (defense results with a detector block)",
    )


def build_transfer(*, index: ResultIndex) -> Table:
    idx = index
    cols = (
        Column("source", "Source (surrogate)"), Column("target", "Target"), Column("defense", "Target defense"),
        Column("attack", "Attack"), Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "db"),
        Column("accuracy", "Target acc. % [95 % CI]", "prop"),
        Column("white_box", "White-box acc. on target %", "prop"),
        Column("success_rate", "Success %", "prop"),
    )
    rows = []
    for c in sorted(idx.transfer, key=lambda c: (c.source_model, c.model, c.attack, c.eps)):
        wb = idx.cell(c.model, c.strategy, c.attack, c.eps, False)
        rows.append({"source": c.source_model, "target": c.model, "defense": c.strategy,
                     "attack": c.attack, "eps": c.eps, "eps_db": _eps_db(c.eps),
                     "accuracy": c.accuracy, "white_box": wb.accuracy if wb else None,
                     "success_rate": c.success_rate})
    return Table(
        "table_transfer", "Transfer (black-box) attacks", cols, tuple(rows),
        note="Adversarial examples crafted on the source model and evaluated on the target; the "
        "white-box column is the target attacked directly at the same ε, for comparison.",
        not_run=None if rows else "no transfer results (attack results with source_model set)",
    )


def _verdict(value) -> bool | None:
    return None if value is None else bool(value)


def check_rows(*, index: ResultIndex) -> list[dict]:
    idx = index
    rows = []
    for r in idx.results.all:
        for ch in as_list(r.data.get("checks")):
            if isinstance(ch, dict):
                rows.append({"file": idx.results.rel(r.path), "model": r.model,
                             # None = skipped (not applicable / nothing to compare), not failed.
                             "name": str(ch.get("name")), "passed": _verdict(ch.get("passed")),
                             "detail": str(ch.get("detail") or "")})
    rows.sort(key=lambda row: row["passed"] is not False)  # stable: failed ones first, file order kept
    return rows


def build_checks(*, index: ResultIndex) -> Table:
    idx = index
    cols = (Column("file", "Result file"), Column("model", "Model"), Column("name", "Check"),
            Column("passed", "Verdict", "check"), Column("detail", "Detail"))
    rows = check_rows(index=idx)
    return Table(
        "table_checks", "Automatic checks", cols, tuple(rows),
        not_run=None if rows else "no checks recorded in the result files",
    )


# Builders in the order their tables appear in report.md.
TABLES: Registry[Callable[[ResultIndex], Table]] = Registry("table")
for _key, _fn in (
    ("table1_clean", build_table1), ("table2_robustness", build_table2),
    ("table3_defense_clean", build_table3), ("table4_defense_attack", build_table4),
    ("table5_improvement", build_table5), ("table6_best_defense", build_table6),
    ("table_adaptive", build_adaptive), ("table_deepfool", build_deepfool),
    ("table_detector", build_detector), ("table_transfer", build_transfer),
    ("table_checks", build_checks),
):
    TABLES.register(_key)(_fn)
