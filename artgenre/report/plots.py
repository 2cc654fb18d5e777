"""Report figures, drawn with matplotlib's object API on the Agg canvas.

No pyplot: figures are plain `Figure` objects, so building a report neither needs a display
nor changes the process-wide backend of a caller that uses pyplot itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from artgenre.data.features import TOP_DB, unit_to_db
from artgenre.io import atomic_path
from artgenre.report.collect import BASELINE, as_dict, as_list, detector_entries, num, prop
from artgenre.report.index import ResultIndex

_DPI = 110
_LINSCALE = 0.5


def safe_name(name: str) -> str:
    """A file-name-safe version of a model/defense name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or "x"


def figure(w: float, h: float):
    """An Agg-backed matplotlib `Figure` of ``w`` × ``h`` inches (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically."""
    with atomic_path(path) as tmp:
        # The temp file ends in ".tmp", so the format must be explicit.
        fig.savefig(tmp, format="png", dpi=_DPI)
    return path


def _db_axis(ax, linthresh: float | None, ticks: list[float] | None = None) -> None:
    """A top axis in dB (80·ε). Call after plotting: it copies the final x limits.

    A twin axis with the same scale, rather than `secondary_xaxis`, because the latter maps
    its ticks linearly on a symlog parent. symlog with threshold 80·t on 80·ε is the same
    transform as symlog with threshold t on ε, so the ticks line up exactly.
    """
    top = ax.twiny()
    if linthresh is not None:
        top.set_xscale("symlog", linthresh=TOP_DB * linthresh, linscale=_LINSCALE)
    lo, hi = ax.get_xlim()
    top.set_xlim(TOP_DB * lo, TOP_DB * hi)
    if ticks is not None:
        top.set_xticks([TOP_DB * t for t in ticks], [f"{TOP_DB * t:.2g}" for t in ticks])
        top.minorticks_off()
    top.set_xlabel("ε (dB on the log-mel scale, 80·ε)")


def _bounds(p: dict) -> tuple[float, float, float]:
    """(value, CI low, CI high) of a proportion in %; a missing bound is the value itself."""
    v = p["value"]
    lo, hi = (v if p.get(k) is None else p[k] for k in ("ci_low", "ci_high"))
    return 100 * v, 100 * lo, 100 * hi


def points(pts: list[tuple[float, dict]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ε, accuracy %, CI low %, CI high %) arrays of (ε, proportion) points, sorted by ε."""
    pts = sorted(pts, key=lambda p: p[0])
    e = np.array([p[0] for p in pts], dtype=float)
    b = np.array([_bounds(p[1]) for p in pts], dtype=float).reshape(-1, 3)
    return e, b[:, 0], b[:, 1], b[:, 2]


def _series(cells) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return points([(c.eps, c.accuracy) for c in cells if c is not None and c.accuracy is not None])


def plot_accuracy_vs_eps(*, index: ResultIndex, model: str, path: Path) -> Path | None:
    """Accuracy vs ε for ``model``: one panel per attack, one line per strategy, CI bands.

    DeepFool's ``accuracy_at_eps`` (accuracy when every minimal perturbation larger than ε
    counts as a failed attack) and the undefended robust (worst-case) accuracy, where recorded,
    are drawn in every panel as references. Returns None when the
    model has no cells and no DeepFool block.
    """
    attacks = index.attacks(model)
    base = index.baseline_files.get(model)
    df = base.data.get("deepfool") if base is not None else None
    df_pts = []
    if isinstance(df, dict):
        for p in as_list(df.get("accuracy_at_eps")):
            if isinstance(p, dict) and num(p.get("eps")) is not None and prop(p.get("accuracy")):
                df_pts.append((num(p["eps"]), prop(p["accuracy"])))
    if not attacks and not df_pts:
        return None
    worst = [(r.eps, r.accuracy) for (m, st, t, n, e) in index.robust_entries
             if m == model and st == BASELINE and (t, n) == index.threat
             and (r := index.robust(model, BASELINE, e)) is not None]
    panels = attacks or ["deepfool"]
    fig = figure(5.2 * len(panels), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)[0])
    clean = index.clean.get((model, BASELINE))
    colors = {}
    palette = [f"C{i}" for i in range(10)]
    for ax, attack in zip(axes, panels):
        for s in [BASELINE, *index.strategies(model)]:
            cells = [index.credited(model, s, attack, e) for e in index.eps_values(model, s, attack)]
            e, v, lo, hi = _series(cells)
            if e.size == 0:
                continue
            if s == BASELINE and clean is not None and 0.0 not in e:
                # The clean accuracy anchors the curve at ε = 0.
                cv, clo, chi = _bounds(clean)
                e, v, lo, hi = np.r_[0.0, e], np.r_[cv, v], np.r_[clo, lo], np.r_[chi, hi]
            color = colors.setdefault(s, palette[len(colors) % len(palette)])
            adaptive = any(c is not None and c.adaptive for c in cells)
            label = "undefended" if s == BASELINE else s + (" (adaptive)" if adaptive else "")
            ax.plot(e, v, marker="o", ms=3.5, color=color, label=label,
                    lw=2.2 if s == BASELINE else 1.5)
            ax.fill_between(e, lo, hi, color=color, alpha=0.15, lw=0)
        if worst:
            # The per-sample worst case over every attack: the same in each attack's panel.
            we, wv, _lo, _hi = points(worst)
            ax.plot(we, wv, ls=":", marker="x", ms=4, color="black", label="undefended, worst case over attacks")
        if df_pts:
            de, dv, dlo, dhi = points(df_pts)
            ax.plot(de, dv, ls="--", color="0.35", label="DeepFool (min-norm, acc. at ε)")
            ax.fill_between(de, dlo, dhi, color="0.5", alpha=0.12, lw=0)
        positive = sorted({e for e in index.eps_values(model) + [p[0] for p in df_pts] if e > 0})
        linthresh = None
        if positive and max(positive) / min(positive) >= 10:
            # ε sweeps are roughly geometric; a linear axis would squash the small budgets.
            # symlog keeps ε = 0 (the clean point) on the axis.
            linthresh = min(positive)
            ax.set_xscale("symlog", linthresh=linthresh, linscale=_LINSCALE)
        after = index.cascades(model).get(attack)
        title = f"{model}: {attack.upper()}" if attack != "deepfool" else f"{model}: DeepFool"
        ax.set_title(title + (f" after {', '.join(b.upper() for b in after)}" if after else ""),
                     fontsize=9 if after else None)
        ax.set_xlabel("ε (input units, x ∈ [0, 1])")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        ticks = sorted({0.0, *positive}) if len(positive) <= 8 else None
        if ticks is not None:
            # Label the measured budgets themselves; generic decades say little here.
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
        _db_axis(ax, linthresh, ticks)
    axes[0].set_ylabel("segment accuracy (%) with 95 % CI")
    fig.suptitle(f"Accuracy vs perturbation size – {model}")
    return save(fig, path)


def plot_deepfool_hist(*, index: ResultIndex, path: Path) -> Path | None:
    """Histograms of DeepFool's per-sample minimal L2 and L∞ (in dB) norms; None if absent."""
    data = []
    for r in index.results.attack:
        df = r.data.get("deepfool")
        if not isinstance(df, dict):
            continue
        l2 = np.asarray([num(v) for v in as_list(as_dict(df.get("l2")).get("values")) if num(v) is not None], float)
        li = np.asarray([num(v) for v in as_list(as_dict(df.get("linf")).get("values")) if num(v) is not None], float)
        if l2.size or li.size:
            data.append((r.model + (f" ({r.defense})" if r.defense else ""), l2, li))
    if not data:
        return None
    fig = figure(10, 4)
    ax2, axi = fig.subplots(1, 2)
    for label, l2, li in data:
        if l2.size:
            ax2.hist(l2, bins=30, alpha=0.55, label=f"{label} (median {np.median(l2):.3g})")
        if li.size:
            axi.hist(unit_to_db(li), bins=30, alpha=0.55,
                     label=f"{label} (median {float(unit_to_db(np.median(li))):.2f} dB)")
    ax2.set_title("Minimal L2 norm per segment")
    ax2.set_xlabel("L2 norm (input units)")
    axi.set_title("Minimal L∞ norm per segment")
    axi.set_xlabel("L∞ norm (dB, 80·ε)")
    for ax in (ax2, axi):
        ax.set_ylabel("segments")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle("DeepFool minimal perturbations")
    return save(fig, path)


def example_caption(ex: dict) -> str:
    """``"true blues, predicted blues → jazz"``, or the true label and "not verified" when the
    examples file does not record the model's predictions."""
    if ex.get("verified") is True:
        return f"true {ex['genre']}, predicted {ex['pred_clean_genre']} → {ex['pred_adv_genre']}"
    return f"true {ex.get('genre', '')}, predictions not recorded (not verified)"


def plot_spectrograms(*, examples: list[dict], path: Path) -> Path | None:
    """Rows of (clean, magnified perturbation, adversarial) log-mel spectrograms, in dB, each
    captioned with the true genre and the predictions clean → adversarial."""
    if not examples:
        return None
    n = len(examples)
    fig = figure(13, 3.3 * n)
    axes = np.atleast_2d(fig.subplots(n, 3, squeeze=False))
    for row, ex in zip(axes, examples):
        clean_db = ex["clean"] * TOP_DB - TOP_DB
        adv_db = ex["adversarial"] * TOP_DB - TOP_DB
        delta_db = adv_db - clean_db
        peak = float(np.max(np.abs(delta_db))) or 1.0
        im0 = row[0].imshow(clean_db, origin="lower", aspect="auto", cmap="magma", vmin=-TOP_DB, vmax=0)
        im1 = row[1].imshow(delta_db, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-peak, vmax=peak)
        im2 = row[2].imshow(adv_db, origin="lower", aspect="auto", cmap="magma", vmin=-TOP_DB, vmax=0)
        row[0].set_title("clean")
        # The centre title carries the caption: it has room on both sides. The colour scale is
        # stretched to the perturbation's own peak, tiny next to the spectrograms' 80 dB range.
        row[1].set_title(f"#{ex['idx']} {ex['attack']} ε={ex['eps']:g} · {example_caption(ex)}\n"
                         f"perturbation (colour scale ±{peak:.2f} dB, ×{TOP_DB / peak:.0f} vs. spectrogram)")
        row[2].set_title("adversarial")
        fig.colorbar(im0, ax=row[0], label="dB")
        fig.colorbar(im1, ax=row[1], label="Δ dB")
        fig.colorbar(im2, ax=row[2], label="dB")
        for ax in row:
            ax.set_xlabel("frame (23 ms hops)")
            ax.set_ylabel("mel band")
    unverified = sum(ex.get("verified") is not True for ex in examples)
    note = f"; {unverified} NOT verified as successful attacks" if unverified else "; successful attacks only"
    fig.suptitle(f"Saved adversarial examples (log-mel, dB relative to clip max){note}")
    return save(fig, path)


def plot_detector_roc(*, index: ResultIndex, path: Path, max_curves: int = 12) -> Path | None:
    """ROC curves from the detector blocks (at most ``max_curves``, adaptive ones dashed)."""
    curves = []
    for r in index.results.defense:
        for _det, pa in detector_entries(r):
            roc = as_dict(pa.get("roc"))
            fpr, tpr = np.asarray(as_list(roc.get("fpr")), float), np.asarray(as_list(roc.get("tpr")), float)
            if fpr.size and fpr.size == tpr.size:
                curves.append((r.model, r.defense, pa, fpr, tpr))
    if not curves:
        return None
    fig = figure(6, 5.5)
    ax = fig.subplots()
    for model, defense, pa, fpr, tpr in curves[:max_curves]:
        auc = num(pa.get("auc"))
        label = (f"{model}/{defense}: {pa.get('attack')} ε={num(pa.get('eps')) or 0:g}"
                 f"{' adaptive' if pa.get('adaptive') else ''}" + (f" (AUC {auc:.3f})" if auc is not None else ""))
        ax.plot(fpr, tpr, ls="--" if pa.get("adaptive") else "-", label=label)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("false-positive rate (clean flagged)")
    ax.set_ylabel("true-positive rate (adversarial flagged)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    more = f" (first {max_curves} of {len(curves)})" if len(curves) > max_curves else ""
    ax.set_title(f"Detector ROC on test segments{more}")
    return save(fig, path)


def pick_confusion_cell(*, index: ResultIndex, model: str):
    """The undefended cell whose confusion matrix is shown: PGD (else any attack) at the ε
    closest to 0.03 (2.4 dB, the paper's middle budget)."""
    best = None
    for (m, s, a, e, ad), c in index.cells.items():
        if m != model or s != BASELINE or not isinstance(c.raw.get("confusion"), list):
            continue
        score = (a != "pgd", abs(e - 0.03), e)
        if best is None or score < best[0]:
            best = (score, c)
    return None if best is None else best[1]


def plot_confusions(*, index: ResultIndex, model: str, genres, path: Path) -> Path | None:
    """Clean vs attacked confusion matrices (row-normalised) for ``model``; None if absent."""
    base = index.baseline_files.get(model)
    clean_cm = as_dict(base.data.get("clean")).get("confusion") if base is not None else None
    cell = pick_confusion_cell(index=index, model=model)
    if not isinstance(clean_cm, list) or cell is None:
        return None
    mats = [np.asarray(clean_cm, float), np.asarray(cell.raw["confusion"], float)]
    if any(m.ndim != 2 or m.shape[0] != m.shape[1] for m in mats):
        return None
    k = mats[0].shape[0]
    names = list(genres) if genres is not None and len(genres) == k else [str(i) for i in range(k)]
    fig = figure(12, 5.4)
    axes = fig.subplots(1, 2)
    titles = ["clean", f"{cell.attack.upper()} ε={cell.eps:g} ({float(unit_to_db(cell.eps)):.1f} dB)"]
    for ax, m, t in zip(axes, mats, titles):
        rows = m.sum(axis=1, keepdims=True)
        norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        im = ax.imshow(100 * norm, cmap="Blues", vmin=0, vmax=100)
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.6 else "black")
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), names, fontsize=8)
        ax.set_xlabel("predicted genre")
        ax.set_ylabel("true genre")
        ax.set_title(t)
    fig.colorbar(im, ax=list(axes), label="% of the true genre's segments")
    fig.suptitle(f"Confusion matrices – {model} (counts in cells)")
    return save(fig, path)
