"""Tables about the defenses: Tables 3–6, adaptive vs non-adaptive, and the detector."""

from __future__ import annotations

import math

from artgenre.eps import same_eps
from artgenre.report.budgets import budget_db, budget_unit, threat_label
from artgenre.report.collect import BASELINE, DEFAULT_THREAT, accuracy, attack_order, detector_entries, num, prop
from artgenre.report.improvement import factor_label, improvement_factor
from artgenre.report.index import ResultIndex
from artgenre.report.table import ADAPTIVE_MARK, Column, Table, attack_label, cascade_note, make_table

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


ROBUST = "robust (worst case)"
_ROBUST_NOTE = ("**Robust (worst case)** = share of segments classified correctly on clean input "
                "*and* under every attack run at that ε (for a defense: adaptive and non-adaptive "
                "alike); a defense is credited with it.")
_PER_ATTACK_NOTE = ("These results record no robust (worst-case) accuracy: every number is per "
                    "attack, not a worst case over the attacks.")


def _threat_views(idx: ResultIndex) -> list[tuple[str, ResultIndex]]:
    """``(column prefix, view)`` per threat model with defended cells, the paper's first."""
    views = [idx.view(t) for t in idx.threats()]
    return [("" if t == DEFAULT_THREAT else f"{threat_label(threat=t)}/", v)
            for t, v in zip(idx.threats(), views) if any(s != BASELINE for (m, s, *_r) in v.cells)]


def _robust_note(views: list[ResultIndex]) -> str:
    return _ROBUST_NOTE if any(v.has_robust() for v in views) else _PER_ATTACK_NOTE


def build_table4(*, index: ResultIndex) -> Table:
    """Table 4: credited accuracy of every strategy, worst case first, at the table ε values."""
    idx = index
    views = _threat_views(idx)
    rows, cols, shown = [], [], set()
    cascades = idx.cascades()
    for m in idx.models:
        strategies = idx.strategies(m)
        if not strategies:
            continue
        for s in [BASELINE, *strategies]:
            row = {"model": m, "strategy": s, "clean_accuracy": idx.clean.get((m, s))}
            for prefix, v in views:
                eps_list = table_eps(index=v)
                series = (["robust"] if v.has_robust(m) else []) + _defended_attacks(v, m)
                for a in series:
                    for e in eps_list:
                        name = f"{prefix}{a}@{e:g}"
                        credited = v.robust(m, s, e) if a == "robust" else v.credited(m, s, a, e)
                        row[name] = _with_adaptive(credited)
                        if name not in [c.name for c in cols]:
                            db = budget_db(threat=v.threat, eps=e)
                            label = ROBUST if a == "robust" else attack_label(a, cascades)
                            shown.add(a)
                            cols.append(Column(name, f"{prefix}{label} ε={e:g}"
                                               + ("" if db is None else f" ({db:.1f} {budget_unit(threat=v.threat)})"),
                                               "prop"))
            rows.append(row)
    cols = [Column("model", "Model"), Column("strategy", "Strategy"),
            Column("clean_accuracy", "Clean", "prop"), *cols]
    return make_table(
        key="table4_defense_attack", title="Table 4 – Accuracy under attack per defense", columns=cols,
        rows=rows,
        note=f"Segment accuracy (%) [95 % CI]. {_robust_note([v for _p, v in views])} {ADAPTIVE_MARK} "
        "marks a number from an adaptive attack (through the defense, e.g. BPDA/EOT); per attack, a "
        "defense is credited with the lower of its adaptive and non-adaptive numbers (the strongest "
        "attack run), marked (a) when that is the adaptive one."
        + (" " + cascade_note({a: v for a, v in cascades.items() if a in shown}) if shown & set(cascades) else ""),
        empty=_NO_DEFENSES,
    )


def _improvement_row(*, m: str, s: str, a: str, e: float, view: ResultIndex, dc, uc) -> dict | None:
    if dc is None or uc is None or dc.accuracy is None or uc.accuracy is None:
        return None
    d, u = dc.accuracy["value"], uc.accuracy["value"]
    f = improvement_factor(defended=d, undefended=u)
    return {
        "model": m, "defense": s, "threat": view.threat[0], "norm": view.threat[1], "attack": a,
        "eps": e, "eps_db": budget_db(threat=view.threat, eps=e),
        "undefended": uc.accuracy, "defended": _with_adaptive(dc),
        "factor": None if math.isnan(f) else f, "factor_label": factor_label(factor=f),
        "gain_pts": d - u, "adaptive": dc.adaptive,
    }


def _improvement_rows(idx: ResultIndex) -> list[dict]:
    rows = []
    for _prefix, v in _threat_views(idx):
        for m in idx.models:
            for s in idx.strategies(m):
                for e in table_eps(index=v):
                    rows.append(_improvement_row(m=m, s=s, a=ROBUST, e=e, view=v, dc=v.robust(m, s, e),
                                                 uc=v.robust(m, BASELINE, e)))
                    rows += [_improvement_row(m=m, s=s, a=a, e=e, view=v, dc=v.credited(m, s, a, e),
                                              uc=v.cell(m, BASELINE, a, e, False))
                             for a in _defended_attacks(v, m)]
    return [r for r in rows if r is not None]


def _threat_columns(index: ResultIndex) -> list[Column]:
    """Threat and norm columns, only when some cells are not the paper's spectrogram L∞."""
    if all(t == DEFAULT_THREAT for t in index.threats()):
        return []
    return [Column("threat", "Threat"), Column("norm", "Norm")]


def build_table5(*, index: ResultIndex) -> Table:
    """Table 5: improvement factor and gain of every defense over the undefended model."""
    cols = (
        Column("model", "Model"), Column("defense", "Defense"), *_threat_columns(index),
        Column("attack", "Attack"), Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "epsdb"),
        Column("undefended", "Undefended %", "prop"), Column("defended", "Defended %", "prop"),
        Column("factor_label", "Improvement factor", "label"), Column("gain_pts", "Gain (pts)", "pts"),
    )
    return make_table(
        key="table5_improvement", title="Table 5 – Improvement summary", columns=cols,
        rows=_improvement_rows(index),
        note="Improvement factor = (segment accuracy of the defended model under the attack) / "
        "(segment accuracy of the undefended model under the same attack and ε). "
        f"{_robust_note([v for _p, v in _threat_views(index)])} The robust rows compare worst "
        "cases at the same threat model, norm and ε. Per attack, the defended number is the "
        "adaptive one where it exists. When the undefended accuracy is 0 the ratio "
        "is undefined: it is shown as ∞ if the defended accuracy is above 0 and n/a if it is 0 as "
        "well; the gain in percentage points (defended − undefended) is always given beside it.",
        empty=_NO_DEFENSES if not index.has_defenses
        else "no undefended attack cell matches a defended cell (same attack and ε)",
    )


def build_table6(*, index: ResultIndex) -> Table:
    """Table 6: the best defense per model, attack (worst case first) and ε."""
    cols = (
        Column("model", "Model"), *_threat_columns(index), Column("attack", "Attack"),
        Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "epsdb"), Column("baseline", "Baseline %", "prop"),
        Column("best_defense", "Best defense"), Column("defended", "Defended %", "prop"),
        Column("gain_pts", "Gain (pts)", "pts"),
    )
    best: dict[tuple, dict] = {}
    for r in _improvement_rows(index):
        key = (r["model"], r["threat"], r["norm"], r["attack"], r["eps"])
        if key not in best or r["defended"]["value"] > best[key]["defended"]["value"]:
            best[key] = r
    rows = [
        {"model": r["model"], "threat": r["threat"], "norm": r["norm"], "attack": r["attack"],
         "eps": r["eps"], "eps_db": r["eps_db"], "baseline": r["undefended"],
         "best_defense": r["defense"], "defended": r["defended"], "gain_pts": r["gain_pts"]}
        for r in best.values()
    ]
    return make_table(
        key="table6_best_defense", title="Table 6 – Best defense per model, attack and ε", columns=cols,
        rows=rows,
        note="Best = highest credited accuracy: the robust (worst-case) accuracy in the "
        f"{ROBUST!r} rows, else the adaptive number where run; ties go to the defense listed first "
        f"(alphabetical). {_robust_note([v for _p, v in _threat_views(index)])}",
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
    cascades = index.cascades()
    rows = [
        {"model": r.model, "defense": r.defense,
         "attack": attack_label(str(pa.get("attack")), cascades).lower() if pa.get("attack") else None,
         "eps": num(pa.get("eps")), "adaptive": bool(pa.get("adaptive")),
         "tpr": prop(pa.get("tpr")), "fpr_test": prop(pa.get("fpr_test", det.get("fpr_test"))),
         "auc": num(pa.get("auc")), "reject_accuracy": prop(pa.get("reject_accuracy")),
         "threshold": num(det.get("threshold"))}
        for r in index.results.defense for det, pa in detector_entries(r)
    ]
    return make_table(
        key="table_detector", title="Adversarial-example detector", columns=cols, rows=rows,
        note="TPR = share of successful adversarial segments (clean input classified correctly, adversarial input misclassified) that are flagged; FPR = share of clean test segments "
        "flagged at the threshold chosen on validation data for the target FPR. Adaptive rows "
        "attack the classifier and the detector together."
        + (" " + cascade_note(cascades) if any(row["attack"] and row["attack"].endswith("†") for row in rows) else ""),
        empty="no detector results (defense results with a detector block)",
    )


__all__ = ["PAPER_EPS", "ROBUST", "build_adaptive", "build_detector", "build_table3", "build_table4",
           "build_table5", "build_table6", "table_eps"]
