"""The waveform threat model's block of Table 2 and its accuracy-vs-SNR figure.

Waveform cells (``threat: "waveform"``) bound the perturbation of the audio itself: ``norm
"inf"`` (|δ| ≤ ε on full scale, 20·log10 ε dBFS) or ``"l2rel"`` (‖δ‖ ≤ ε·‖x‖, an SNR of at
least −20·log10 ε dB, recorded as ``snr_db_budget``). Each records the achieved SNR per
example (``snr_db``) and a ``roundtrip``: the accuracy after writing the adversarial audio as
16-bit WAV, reading it back and recomputing the features, i.e. whether the attack survives
as a sound file.
"""

from __future__ import annotations

from pathlib import Path

from artgenre.report.budgets import budget_db, budget_unit
from artgenre.report.collect import BASELINE, DEFAULT_THREAT, as_dict, attack_order, num, prop
from artgenre.report.defense_tables import ROBUST
from artgenre.report.index import ResultIndex
from artgenre.report.plots import figure, points, save
from artgenre.report.table import Column, Table, make_table

_COLUMNS = (
    Column("model", "Model"), Column("norm", "Norm"), Column("eps", "ε", "eps"),
    Column("budget_db", "Budget", "epsdb"), Column("budget_unit", "Unit"), Column("attack", "Attack"),
    Column("accuracy", "Acc. in memory % [95 % CI]", "prop"),
    Column("roundtrip_accuracy", "Acc. after WAV round trip %", "prop"),
    Column("success_rate", "Success %", "prop"), Column("roundtrip_success", "Success after round trip %", "prop"),
    Column("snr_median", "Achieved SNR, median (dB)", "float2"),
    Column("snr_min", "Achieved SNR, min (dB)", "float2"),
)


def waveform_views(*, index: ResultIndex) -> list[ResultIndex]:
    """One view per ``(threat model, norm)`` that is not the spectrogram threat model."""
    return [index.view(t) for t in index.threats() if t[0] != DEFAULT_THREAT[0]]


def _snr(cell) -> tuple[float | None, float | None]:
    snr = as_dict(cell.raw.get("snr_db"))
    return num(snr.get("median")), num(snr.get("min"))


def build_table2_waveform(*, index: ResultIndex) -> Table:
    """Table 2's waveform block: undefended accuracy per budget (SNR or dBFS) and attack, in
    memory and after a 16-bit WAV round trip, with the achieved SNR."""
    rows = []
    for v in waveform_views(index=index):
        for m in index.models:
            for e in v.eps_values(m, BASELINE):
                base = {"model": m, "norm": v.threat[1], "eps": e, "budget_db": budget_db(threat=v.threat, eps=e),
                        "budget_unit": budget_unit(threat=v.threat)}
                worst = v.robust(m, BASELINE, e)
                if worst is not None:
                    rows.append({**base, "attack": ROBUST, "accuracy": worst.accuracy})
                for a in v.attacks(m, BASELINE):
                    c = v.cell(m, BASELINE, a, e, False)
                    if c is None:
                        continue
                    trip = as_dict(c.raw.get("roundtrip"))
                    median, low = _snr(c)
                    rows.append({**base, "attack": a, "accuracy": c.accuracy,
                                 "roundtrip_accuracy": prop(trip.get("segment_accuracy")),
                                 "success_rate": c.success_rate, "roundtrip_success": prop(trip.get("success_rate")),
                                 "snr_median": median, "snr_min": low})
    return make_table(
        key="table2_waveform", title="Table 2 (waveform) – Robustness under audio perturbations",
        columns=_COLUMNS, rows=rows, optional=True,
        note="The attack perturbs the audio window of each segment; the model sees the features "
        "recomputed from it. L∞: |δ| ≤ ε on full scale, budget in dBFS (20·log10 ε). l2rel: "
        "‖δ‖ ≤ ε·‖x‖ per example, i.e. an SNR of at least −20·log10 ε dB. Round trip = the "
        "adversarial audio written as 16-bit WAV, read back and featurised by the standard code. "
        f"The {ROBUST!r} rows count segments correct clean and under every attack at that budget.",
        empty="no waveform attack cells (cells with threat: waveform)",
    )


def _curves(view: ResultIndex, model: str, attack: str):
    """(SNR, in-memory points, round-trip points): SNR = the budget's where recorded (l2rel),
    else the achieved median."""
    mem, trip = [], []
    for e in view.eps_values(model, BASELINE, attack):
        c = view.cell(model, BASELINE, attack, e, False)
        x = None if c is None else num(c.raw.get("snr_db_budget"))
        x = _snr(c)[0] if x is None and c is not None else x
        if x is None or c.accuracy is None:
            continue
        mem.append((x, c.accuracy))
        rt = prop(as_dict(c.raw.get("roundtrip")).get("segment_accuracy"))
        if rt is not None:
            trip.append((x, rt))
    return mem, trip


def plot_accuracy_vs_snr(*, index: ResultIndex, model: str, path: Path) -> Path | None:
    """Accuracy vs SNR (dB) of ``model`` under waveform attacks: one colour per attack and norm,
    in memory solid, after the WAV round trip dashed. None without waveform cells."""
    views = waveform_views(index=index)
    attacks = attack_order(a for v in views for a in v.attacks(model, BASELINE))
    lines = [(a, v.threat[1], "os^vD"[j % 5], *_curves(v, model, a))
             for j, v in enumerate(views) for a in v.attacks(model, BASELINE)]
    lines = [line for line in lines if line[3]]
    if not lines:
        return None
    fig = figure(7, 4.8)
    ax = fig.subplots()
    for attack, norm, marker, mem, trip in lines:
        # One colour per attack, one marker per norm: the same attack reads alike across budgets.
        color = f"C{attacks.index(attack) % 10}"
        for pts, style, what in ((mem, "-", "in memory"), (trip, "--", "WAV round trip")):
            if pts:
                x, acc, lo, hi = points(pts)
                ax.plot(x, acc, ls=style, marker=marker, ms=4, color=color, label=f"{attack} ({norm}), {what}")
                ax.fill_between(x, lo, hi, color=color, alpha=0.1, lw=0)
    clean = index.clean.get((model, BASELINE))
    if clean is not None:
        ax.axhline(100 * clean["value"], color="0.4", lw=0.8, ls=":", label="clean")
    ax.set_xlabel("SNR (dB): the budget for l2rel, the achieved median for L∞")
    ax.set_ylabel("segment accuracy (%) with 95 % CI")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"Accuracy vs SNR of the audio perturbation – {model}")
    return save(fig, path)


def waveform_models(*, index: ResultIndex) -> list[str]:
    """Models with undefended waveform cells (each gets a ``fig_accuracy_vs_snr_<model>.png``)."""
    return [m for m in index.models if any(v.attacks(m, BASELINE) for v in waveform_views(index=index))]


__all__ = ["build_table2_waveform", "plot_accuracy_vs_snr", "waveform_models", "waveform_views"]
