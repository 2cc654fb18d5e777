"""Tables about the models and the attacks on them: Table 1 (clean accuracy), Table 2
(robustness vs ε), DeepFool, transfer and the automatic checks."""

from __future__ import annotations

import math

from artgenre.data.features import DEFAULT_FEATURES, unit_to_db
from artgenre.report.collect import BASELINE, accuracy, as_dict, as_list, num, prop
from artgenre.report.index import ResultIndex
from artgenre.report.table import Column, Table, attack_label, cascade_note, make_table


def eps_db(eps: float) -> float:
    """ε in dB on the log-mel scale (80·ε)."""
    return float(unit_to_db(eps))


def build_table1(*, index: ResultIndex) -> Table:
    """Table 1: clean test accuracy and training cost of every training result."""
    cols = (
        Column("model", "Model"), Column("defense", "Training"),
        Column("segment_accuracy", "Segment acc. % [95 % CI]", "prop"),
        Column("track_accuracy", "Track acc. % [95 % CI]", "prop"),
        Column("n_params", "Params", "int"), Column("epochs", "Epochs", "int"),
        Column("best_epoch", "Best epoch", "int"), Column("train_seconds", "Train time", "seconds"),
        Column("ms_per_sample", "Inference / sample", "ms"),
    )
    rows = []
    for r in index.results.train:
        test = as_dict(as_dict(r.data.get("metrics")).get("test"))
        rows.append({
            "model": r.model, "defense": r.defense or "standard",
            "segment_accuracy": accuracy(test), "track_accuracy": accuracy(test, "track"),
            "n_params": num(r.data.get("n_params")), "epochs": num(r.data.get("epochs_run")),
            "best_epoch": num(r.data.get("best_epoch")),
            "train_seconds": num(r.data.get("train_seconds")),
            "ms_per_sample": num(r.data.get("ms_per_sample")),
        })
    return make_table(
        key="table1_clean", title="Table 1 – Clean test accuracy and training cost", columns=cols, rows=rows,
        note="Segment accuracy over 128-frame segments (≈3 s); track accuracy by majority vote "
        "over a track's segments. Inference time per sample as measured by the training run.",
        empty="no training results (train-*.json)",
    )


def _roundtrip_lines(idx: ResultIndex) -> list[str]:
    """"Griffin-Lim round trip: k of n examples still fool the model" per undefended white-box
    result whose saved examples record it (the spectrogram threat model's listening WAVs)."""
    lines = []
    for r in idx.results.attack:
        ex = as_dict(r.data.get("examples"))
        trip = as_dict(ex.get("roundtrip"))
        rate = prop(trip.get("success_rate"))
        if r.defense or r.source_model or trip.get("method") != "griffin-lim":
            continue
        head = f"- {r.model} {str(ex.get('attack', '?')).upper()} ε={num(ex.get('eps')) or 0:g}: "
        if num(trip.get("fooled_in_memory")) == 0:
            lines.append(head + f"none of the {num(trip.get('n'))} saved examples fools the model on the log-mels, "
                         "so none has a Griffin-Lim WAV to check.")
        elif rate is not None:
            k, n, m = rate.get("k"), rate.get("n"), num(trip.get("fooled_in_memory"))
            count = f"{k} of {n}" if k is not None and n is not None else f"{100 * rate['value']:.1f} % of the"
            if n is not None and m is not None and m > n:
                count += f" checked (the first {n} of {m:g})"
            lines.append(head + f"of the saved examples that fool the model on the log-mels, {count} still do after "
                         "Griffin-Lim inversion, a 16-bit WAV and the standard features (such WAVs show what the "
                         "attack changes, not that it is inaudible: the waveform threat model's WAVs are the attack).")
    return lines


def build_table2(*, index: ResultIndex) -> Table:
    """Table 2: accuracy of the undefended models, worst case first, then each attack, per ε."""
    idx = index
    models = [m for m in idx.models if m in idx.baseline_files]
    robust = [m for m in models if idx.has_robust(m)]
    series = [(m, a) for m in models for a in (["robust"] if m in robust else []) + idx.attacks(m, BASELINE)]
    cols = [Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "epsdb")]
    cascades = idx.cascades(strategy=BASELINE)

    def label(m: str, a: str) -> str:
        return "robust (worst case)" if a == "robust" else attack_label(a, idx.cascades(m, BASELINE))

    cols += [Column(f"{m}/{a}", f"{m} {label(m, a)}", "prop") for m, a in series]
    rows = []
    if series:
        rows.append({"eps": 0.0, "eps_db": 0.0, **{f"{m}/{a}": idx.clean.get((m, BASELINE)) for m, a in series}})
        eps = set(idx.eps_values(strategy=BASELINE))
        eps |= {e for (m, s, t, n, e) in idx.robust_entries if s == BASELINE and (t, n) == idx.threat}
        for e in sorted(eps - {0.0}):
            row = {"eps": e, "eps_db": eps_db(e)}
            for m, a in series:
                c = idx.robust(m, BASELINE, e) if a == "robust" else idx.cell(m, BASELINE, a, e, False)
                row[f"{m}/{a}"] = None if c is None else c.accuracy
            rows.append(row)
    if robust:
        worst = ("The robust (worst case) column is the share of segments classified correctly on "
                 "clean input and under every attack run at that ε (per sample, not the lowest "
                 "column); the attack columns beside it are per attack.")
        if len(robust) < len(models):
            worst += f" {', '.join(sorted(set(models) - set(robust)))}: per attack only, not a worst case."
    else:
        worst = ("Every number is per attack, not a worst case over the attacks (these results record "
                 "no robust accuracy).")
    trips = _roundtrip_lines(idx)
    return make_table(
        key="table2_robustness", title="Table 2 – Robustness of the undefended models vs ε", columns=cols,
        rows=rows,
        note="Segment accuracy (%) under attack; the ε = 0 row is the clean accuracy on the same "
        "attacked samples. ε is in input units; a change of ε is 80·ε dB on the log-mel scale. "
        + worst + (" " + cascade_note(cascades) if cascades else "") + ("\n\n" + "\n".join(trips) if trips else ""),
        empty="no attack results on undefended models (attack-<model>.json)",
    )


def build_deepfool(*, index: ResultIndex) -> Table:
    """DeepFool's minimal-norm perturbation sizes per attack result."""
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
    for r in index.results.attack:
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
            "linf_median_db": None if linf_med is None else eps_db(linf_med),
            "linf_mean_db": None if linf_mean is None else eps_db(linf_mean),
            "rms_median_db": None if l2_med is None else eps_db(l2_med / math.sqrt(dim)),
        })
    return make_table(
        key="table_deepfool", title="DeepFool minimal-norm perturbations", columns=cols, rows=rows,
        note="Norms are in input units over a 128×128 segment; dB = 80 × input units. "
        "RMS per bin = L2 / √(128·128), i.e. the typical per-bin change.",
        empty="no DeepFool results (attack results with a deepfool block)",
    )


def build_transfer(*, index: ResultIndex) -> Table:
    """Transfer attacks beside the white-box accuracy of the target at the same ε."""
    idx = index
    cols = (
        Column("source", "Source (surrogate)"), Column("target", "Target"), Column("defense", "Target defense"),
        Column("attack", "Attack"), Column("eps", "ε", "eps"), Column("eps_db", "ε (dB)", "epsdb"),
        Column("accuracy", "Target acc. % [95 % CI]", "prop"),
        Column("white_box", "White-box acc. on target %", "prop"),
        Column("success_rate", "Success %", "prop"),
    )
    rows = []
    for c in sorted(idx.transfer, key=lambda c: (c.source_model, c.model, c.attack, c.eps)):
        wb = idx.cell(c.model, c.strategy, c.attack, c.eps, False)
        rows.append({"source": c.source_model, "target": c.model, "defense": c.strategy,
                     "attack": c.attack, "eps": c.eps, "eps_db": eps_db(c.eps),
                     "accuracy": c.accuracy, "white_box": wb.accuracy if wb else None,
                     "success_rate": c.success_rate})
    return make_table(
        key="table_transfer", title="Transfer (black-box) attacks", columns=cols, rows=rows,
        note="Adversarial examples crafted on the source model and evaluated on the target; the "
        "white-box column is the target attacked directly at the same ε, for comparison.",
        empty="no transfer results (attack results with source_model set)",
    )


def check_rows(*, index: ResultIndex) -> list[dict]:
    """Every recorded check of every result kind, failed ones first (file order kept).

    Returns
    -------
    list of dict
        ``{file, model, defense, name, passed, detail}``; ``passed`` None = skipped (not
        applicable or nothing to compare), which is not a failure; ``defense`` is the
        result's defense name or ``"none"``.
    """
    rows = []
    for r in index.results.all:
        for ch in as_list(r.data.get("checks")):
            if isinstance(ch, dict):
                passed = ch.get("passed")
                rows.append({"file": index.results.rel(r.path), "model": r.model,
                             "defense": r.defense or BASELINE, "name": str(ch.get("name")),
                             "passed": None if passed is None else bool(passed),
                             "detail": str(ch.get("detail") or "")})
    rows.sort(key=lambda row: row["passed"] is not False)
    return rows


def build_checks(*, index: ResultIndex) -> Table:
    """The automatic checks recorded in attack and defense results."""
    cols = (Column("file", "Result file"), Column("model", "Model"), Column("defense", "Defense"),
            Column("name", "Check"), Column("passed", "Verdict", "check"), Column("detail", "Detail"))
    return make_table(key="table_checks", title="Automatic checks", columns=cols,
                      rows=check_rows(index=index), empty="no checks recorded in the result files")


__all__ = ["build_checks", "build_deepfool", "build_table1", "build_table2", "build_transfer",
           "check_rows", "eps_db"]
