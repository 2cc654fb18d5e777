"""Tables about the defenses: Tables 3–6, adaptive vs non-adaptive, and the detector."""

from __future__ import annotations

import math

from artgenre.eps import same_eps
from artgenre.report.attack_tables import eps_db
from artgenre.report.collect import BASELINE, accuracy, attack_order, detector_entries, num, prop
from artgenre.report.improvement import factor_label, improvement_factor
from artgenre.report.index import ResultIndex
from artgenre.report.table import ADAPTIVE_MARK, Column, Table, make_table

# The ε values of the seed paper's defense tables (input units; 0.8, 2.4 and 8 dB).
PAPER_EPS = (0.01, 0.03, 0.1)
_NO_DEFENSES = "no defense results (defense-*.json)"


def _with_adaptive(cell) -> dict | None:
    if cell is None or cell.accuracy is None:
        return None
    return {**cell.accuracy, "adaptive": cell.adaptive}


def table_eps(*, index: ResultIndex) -> list[float]:
    """ε values for Tables 4–6: the paper's 0.01/0.03/0.1 where measured, else all defended ε."""
    defended = sorted({e for (m, s, a, e, ad) in index.cells if s != BASELINE})
    chosen = [e for e in defended if any(same_eps(e, p) for p in PAPER_EPS)]
    return chosen or defended


def _defended_attacks(idx: ResultIndex, model: str) -> list[str]:
    attacks = attack_order(a for (m, s, a, e, ad) in idx.cells if m == model and s != BASELINE)
    paper = [a for a in attacks if a in ("fgsm", "pgd")]
    return paper or attacks


def build_table3(*, index: ResultIndex) -> Table:
    """Table 3: clean accuracy and training cost of each defense beside its baseline."""
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
    return make_table(
        key="table3_defense_clean", title="Table 3 – Clean cost of each defense", columns=cols, rows=rows,
        note="Δ = defended clean accuracy − baseline clean accuracy on the same samples, in "
        "percentage points (negative = the defense costs clean accuracy). Own train time is the "
        "defense's extra training; the total includes the baseline's when the defense builds on it.",
        empty=_NO_DEFENSES,
    )


def build_table4(*, index: ResultIndex) -> Table:
    """Table 4: credited accuracy of every strategy under each attack at the table ε values."""
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
        cols.append(Column(name, f"{a.upper()} ε={e} ({eps_db(float(e)):.1f} dB)", "prop"))
    return make_table(
        key="table4_defense_attack", title="Table 4 – Accuracy under attack per defense", columns=cols,
        rows=rows,
        note=f"Segment accuracy (%) [95 % CI]. {ADAPTIVE_MARK} marks a number from an adaptive attack "
        "(through the defense, e.g. BPDA/EOT); a defense is credited with the lower of its adaptive "
        "and non-adaptive numbers (the strongest attack run), marked (a) when that is the adaptive one.",
        empty=_NO_DEFENSES,
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
                        "model": m, "defense": s, "attack": a, "eps": e, "eps_db": eps_db(e),
                        "undefended": uc.accuracy, "defended": _with_adaptive(dc),
                        "factor": None if math.isnan(f) else f, "factor_label": factor_label(factor=f),
                        "gain_pts": d - u, "adaptive": dc.adaptive,
                    })
    return rows


def build_table5(*, index: ResultIndex) -> Table:
    """Table 5: improvement factor and gain of every defense over the undefended model."""
    cols = (
        Column("model", "Model"), Column("defense", "Defense"), Column("attack", "Attack"),
        Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "db"),
        Column("undefended", "Undefended %", "prop"), Column("defended", "Defended %", "prop"),
        Column("factor_label", "Improvement factor"), Column("gain_pts", "Gain (pts)", "pts"),
    )
    return make_table(
        key="table5_improvement", title="Table 5 – Improvement summary", columns=cols,
        rows=_improvement_rows(index),
        note="Improvement factor = (segment accuracy of the defended model under the attack) / "
        "(segment accuracy of the undefended model under the same attack and ε). The defended "
        "number is the adaptive one where it exists. When the undefended accuracy is 0 the ratio "
        "is undefined: it is shown as ∞ if the defended accuracy is above 0 and n/a if it is 0 as "
        "well; the gain in percentage points (defended − undefended) is always given beside it.",
        empty=_NO_DEFENSES if not index.has_defenses
        else "no undefended attack cell matches a defended cell (same attack and ε)",
    )


def build_table6(*, index: ResultIndex) -> Table:
    """Table 6: the best defense per model, attack and ε."""
    cols = (
        Column("model", "Model"), Column("attack", "Attack"), Column("eps", "ε", "eps"),
        Column("eps_db", "ε (dB)", "db"), Column("baseline", "Baseline %", "prop"),
        Column("best_defense", "Best defense"), Column("defended", "Defended %", "prop"),
        Column("gain_pts", "Gain (pts)", "pts"),
    )
    best: dict[tuple, dict] = {}
    for r in _improvement_rows(index):
        key = (r["model"], r["attack"], r["eps"])
        if key not in best or r["defended"]["value"] > best[key]["defended"]["value"]:
            best[key] = r
    rows = [
        {"model": r["model"], "attack": r["attack"], "eps": r["eps"], "eps_db": r["eps_db"],
         "baseline": r["undefended"], "best_defense": r["defense"], "defended": r["defended"],
         "gain_pts": r["gain_pts"]}
        for r in best.values()
    ]
    return make_table(
        key="table6_best_defense", title="Table 6 – Best defense per model, attack and ε", columns=cols,
        rows=rows,
        note="Best = highest credited (adaptive where run) accuracy under the attack; ties go to "
        "the defense listed first (alphabetical).",
        empty="no defense results that can be compared with an undefended attack",
    )


def build_adaptive(*, index: ResultIndex) -> Table:
    """Non-adaptive vs adaptive accuracy of each defense where both were run."""
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
    return make_table(
        key="table_adaptive", title="Non-adaptive vs adaptive attacks on the defenses", columns=cols,
        rows=rows,
        note="A strongly negative difference means the non-adaptive number overstated the "
        "defense (gradient masking); the tables above credit the adaptive number.",
        empty="no adaptive attack cells (cells with adaptive: true)",
    )


def build_detector(*, index: ResultIndex) -> Table:
    """Detection rates of the adversarial-example detector, per attack and ε."""
    cols = (
        Column("model", "Model"), Column("defense", "Detector"), Column("attack", "Attack"),
        Column("eps", "ε", "eps"), Column("adaptive", "Adaptive", "bool"),
        Column("tpr", "TPR % [95 % CI]", "prop"), Column("fpr_test", "FPR (test) %", "prop"),
        Column("auc", "AUC", "float3"), Column("reject_accuracy", "Accuracy with rejection %", "prop"),
        Column("threshold", "Threshold", "float4"),
    )
    rows = [
        {"model": r.model, "defense": r.defense, "attack": pa.get("attack"),
         "eps": num(pa.get("eps")), "adaptive": bool(pa.get("adaptive")),
         "tpr": prop(pa.get("tpr")), "fpr_test": prop(pa.get("fpr_test", det.get("fpr_test"))),
         "auc": num(pa.get("auc")), "reject_accuracy": prop(pa.get("reject_accuracy")),
         "threshold": num(det.get("threshold"))}
        for r in index.results.defense for det, pa in detector_entries(r)
    ]
    return make_table(
        key="table_detector", title="Adversarial-example detector", columns=cols, rows=rows,
        note="TPR = share of adversarial segments flagged; FPR = share of clean test segments "
        "flagged at the threshold chosen on validation data for the target FPR. Adaptive rows "
        "attack the classifier and the detector together.",
        empty="no detector results (defense results with a detector block)",
    )


__all__ = ["PAPER_EPS", "build_adaptive", "build_detector", "build_table3", "build_table4",
           "build_table5", "build_table6", "table_eps"]
