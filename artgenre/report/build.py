"""`build_report`: result files in, report folder (Markdown, CSV, PNG, WAV, JSON) out."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path

from artgenre.data.features import DEFAULT_FEATURES, unit_to_db
from artgenre.errors import ParameterError
from artgenre.io import atomic_write_json, atomic_write_text
from artgenre.report import plots
from artgenre.report.audio import invert_pair, write_wav
from artgenre.report.collect import BASELINE, genres_of, load_results
from artgenre.report.examples import load_examples
from artgenre.report.index import ResultIndex, build_index
from artgenre.report.tables import TABLES, Column, Table
from artgenre.runtime import log, progress

# Errors a figure or an audio example may raise on odd-but-parseable data; the report notes
# the failure in place of that item instead of losing everything else.
_ITEM_ERRORS = (ValueError, TypeError, KeyError, IndexError, ArithmeticError, OSError)


@dataclass(frozen=True)
class ReportConfig:
    """Options of one report run (what ``artgenre report`` parses).

    Attributes
    ----------
    results_dir : str
        Folder with the result files.
    out_dir : str or None
        Output folder; default ``<results_dir>/report``.
    max_examples : int
        Saved examples turned into spectrogram rows and WAV pairs (≥ 0).
    audio : bool
        Whether to synthesise WAV files (the slowest part: ≈3 s per example).
    n_iter : int
        Griffin-Lim iterations (≥ 1).
    seed : int
        Seed of Griffin-Lim's initial phase.
    """

    results_dir: str
    out_dir: str | None = None
    max_examples: int = 4
    audio: bool = True
    n_iter: int = 32
    seed: int = 0


@dataclass(frozen=True)
class ReportSummary:
    """What `build_report` wrote and found.

    Attributes
    ----------
    out_dir, report_md, report_json : Path
    files : tuple of Path
        Every file written (Markdown, JSON, CSV, PNG, WAV).
    tables : dict of str → Table
        Keyed by stable name (``table1_clean``, ...); each also written as ``<key>.csv``.
    failed_checks : tuple of dict
        ``{file, model, name, passed, detail}`` of each failed automatic check.
    not_run : tuple of str
        Titles of sections with nothing to show.
    unreadable : tuple of (path, reason)
        Result or example files that could not be read.
    audio : tuple of dict
        One row per WAV pair (paths, SNR, perturbation size).
    headline : tuple of (label, value)
        A handful of key numbers for a compact console table.
    """

    out_dir: Path
    report_md: Path
    report_json: Path
    files: tuple[Path, ...]
    tables: dict[str, Table]
    failed_checks: tuple[dict, ...]
    not_run: tuple[str, ...]
    unreadable: tuple[tuple[str, str], ...]
    audio: tuple[dict, ...] = ()
    headline: tuple[tuple[str, str], ...] = ()


@dataclass
class _Figure:
    title: str
    path: Path | None = None
    missing: str | None = None


@dataclass
class _State:
    out: Path
    files: list[Path] = field(default_factory=list)
    figures: list[_Figure] = field(default_factory=list)


def _figure(state: _State, title: str, why_missing: str, fn, **kwargs) -> None:
    try:
        path = fn(**kwargs)
    except _ITEM_ERRORS as exc:
        log.warning("figure %r could not be drawn: %s", title, exc)
        state.figures.append(_Figure(title, missing=f"could not be drawn ({exc})"))
        return
    if path is None:
        state.figures.append(_Figure(title, missing=why_missing))
    else:
        state.files.append(path)
        state.figures.append(_Figure(title, path=path))


def _draw_figures(state: _State, idx: ResultIndex, examples: list[dict]) -> None:
    models = idx.models or ["—"]
    for m in models:
        _figure(state, f"Accuracy vs ε – {m}", "no attack results for this model",
                plots.plot_accuracy_vs_eps, index=idx, model=m,
                path=state.out / f"fig_accuracy_vs_eps_{plots.safe_name(m)}.png")
    _figure(state, "DeepFool minimal-norm histogram", "no DeepFool results with per-sample norms",
            plots.plot_deepfool_hist, index=idx, path=state.out / "fig_deepfool_norms.png")
    _figure(state, "Spectrograms: clean, perturbation, adversarial", "no saved examples (examples npz)",
            plots.plot_spectrograms, examples=examples, path=state.out / "fig_spectrograms.png")
    _figure(state, "Detector ROC", "no detector results with ROC curves",
            plots.plot_detector_roc, index=idx, path=state.out / "fig_detector_roc.png")
    for m in models:
        genres = genres_of(*[r for r in idx.results.all if r.model == m])
        _figure(state, f"Confusion matrices – {m}", "no clean and attacked confusion matrices",
                plots.plot_confusions, index=idx, model=m, genres=genres,
                path=state.out / f"fig_confusion_{plots.safe_name(m)}.png")


_AUDIO_COLUMNS = (
    Column("idx", "#", "int"), Column("model", "Model"), Column("strategy", "Defense"),
    Column("attack", "Attack"), Column("eps", "ε", "eps"), Column("genre", "True genre"),
    Column("track", "Track"), Column("snr_db", "SNR (dB)", "float2"),
    Column("mean_abs_db", "Mean |Δ| per bin", "db"), Column("max_abs_db", "Max |Δ|", "db"),
    Column("clean_wav", "Clean WAV", "link"), Column("adversarial_wav", "Adversarial WAV", "link"),
)


def _audio_table(state: _State, examples: list[dict], *, enabled: bool, n_iter: int, seed: int) -> Table:
    title = "Listening examples (Griffin-Lim)"
    if not examples:
        return Table("table_audio", title, _AUDIO_COLUMNS, not_run="no saved examples (examples npz)")
    if not enabled:
        return Table("table_audio", title, _AUDIO_COLUMNS, not_run="audio synthesis switched off (--no-audio)")
    rows = []
    with progress() as bar:
        task = bar.add_task("Griffin-Lim audio", total=len(examples))
        for ex in examples:
            try:
                pair = invert_pair(clean=ex["clean"], adversarial=ex["adversarial"],
                                   params=DEFAULT_FEATURES, n_iter=n_iter, seed=seed)
            except _ITEM_ERRORS as exc:
                log.warning("audio for example %d failed: %s", ex["idx"], exc)
                bar.advance(task)
                continue
            names = {}
            for which, wave in (("clean", pair.clean), ("adversarial", pair.adversarial)):
                rel = f"audio/{ex['idx']}_{which}.wav"
                state.files.append(write_wav(path=state.out / rel, samples=wave, sr=pair.sr))
                names[which] = rel
            rows.append({
                "idx": ex["idx"], "model": ex["model"], "strategy": ex["strategy"],
                "attack": ex["attack"], "eps": ex["eps"], "genre": ex["genre"], "track": ex["track"],
                "snr_db": pair.snr_db if math.isfinite(pair.snr_db) else None,
                "mean_abs_db": pair.mean_abs_db, "max_abs_db": pair.max_abs_db,
                "clean_wav": names["clean"], "adversarial_wav": names["adversarial"],
            })
            bar.advance(task)
    return Table(
        "table_audio", title, _AUDIO_COLUMNS, tuple(rows),
        note="Both waveforms share the phase that Griffin-Lim found for the clean spectrogram, so "
        "adversarial − clean is the sound of the perturbation alone. SNR = 10·log10(Σclean² / "
        "Σ(adversarial − clean)²); higher = quieter perturbation. |Δ| is taken per mel bin on the "
        f"log-mel input, in dB. {DEFAULT_FEATURES.sr} Hz, 16-bit PCM, ≈2.95 s per file.",
        not_run=None if rows else "audio synthesis failed for every example (see log)",
    )


def _headline(idx: ResultIndex, tables: dict[str, Table], failed: list[dict]) -> list[tuple[str, str]]:
    out = []
    for row in tables["table1_clean"].rows:
        v = row["segment_accuracy"]
        label = row["model"] + ("" if row["defense"] == "standard" else f" ({row['defense']})")
        out.append((f"{label} clean acc.", "—" if v is None else f"{100 * v['value']:.1f} %"))
    for m in idx.models:
        for a in idx.attacks(m, BASELINE)[:2]:
            eps = [e for e in idx.eps_values(m, BASELINE, a) if e > 0]
            if not eps:
                continue
            e = min(eps, key=lambda v: abs(v - 0.03))
            c = idx.cell(m, BASELINE, a, e, False)
            if c is not None and c.accuracy is not None:
                out.append((f"{m} {a.upper()} ε={e:g} ({float(unit_to_db(e)):.1f} dB)",
                            f"{100 * c.accuracy['value']:.1f} %"))
    for row in tables["table6_best_defense"].rows:
        if abs(row["eps"] - 0.03) <= 1e-6 or len(tables["table6_best_defense"].rows) <= 4:
            out.append((f"best defense {row['model']} {row['attack'].upper()} ε={row['eps']:g}",
                        f"{row['best_defense']} {100 * row['gain_pts']:+.1f} pts"))
    out.append(("failed checks", str(len(failed))))
    return out


def _markdown(*, idx: ResultIndex, tables: dict[str, Table], audio: Table, state: _State,
              failed: list[dict], unreadable: list[tuple[str, str]], results_dir: Path) -> str:
    res = idx.results
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    md = [
        "# artgenre report\n",
        f"Built {now} from `{results_dir}`: {len(res.train)} training, {len(res.attack)} attack and "
        f"{len(res.defense)} defense result file(s). Nothing was retrained or re-attacked.\n",
    ]
    # Problems first: a failed check must not hide below the tables it invalidates.
    if failed:
        md.append(f"## ⚠ FAILED automatic checks ({len(failed)})\n")
        md.append("These results did not pass a sanity check; read the numbers below with care.\n")
        md += [f"- **{c['name']}** ({c['model']}, `{c['file']}`): {c['detail']}" for c in failed]
        md.append("")
    if unreadable:
        md.append(f"## ⚠ Unreadable files ({len(unreadable)})\n")
        md += [f"- `{res.rel(p)}`: {why}" for p, why in unreadable]
        md.append("")
    incomplete = [r for r in res.all if r.data.get("complete") is False]
    if incomplete:
        md.append("## ⚠ Incomplete runs\n")
        md.append("These result files were written by a run that has not finished (a rerun resumes "
                  "it); their tables may lack cells:\n")
        md += [f"- `{res.rel(r.path)}`" for r in incomplete]
        md.append("")
    if res.ignored:
        md.append("Ignored JSON with an unknown kind: " + ", ".join(f"`{res.rel(p)}` ({w})" for p, w in res.ignored) + "\n")
    md.append(
        "## How to read this report\n\n"
        "- Accuracies are **segment accuracies in %** with Wilson 95 % confidence intervals in "
        "brackets; differences are in percentage points (pts). CSV files and `report.json` keep "
        "fractions in [0, 1] (`X`, `X_ci_low`, `X_ci_high`).\n"
        "- ε is an L∞ budget in model-input units (x ∈ [0, 1] maps 80 dB of log-mel range), so ε "
        "corresponds to 80·ε dB: 0.01 = 0.8 dB, 0.03 = 2.4 dB, 0.1 = 8 dB.\n"
        "- A defense is credited with its **strongest** attack: the lower of its adaptive (through "
        "the defense, marked (a)) and non-adaptive numbers; both are compared in their own section.\n"
        "- **Improvement factor** = defended accuracy / undefended accuracy under the same attack and "
        "ε; if the undefended accuracy is 0 the factor is ∞ (defended > 0) or n/a (both 0), with "
        "the gain in points beside it.\n"
    )
    sections = [k for k in tables if k != "table_checks"] + ["table_checks"]
    for key in sections:
        t = tables[key]
        md.append(f"## {t.title}\n")
        md.append(t.to_markdown())
        if t.rows:
            md.append(f"CSV: [`{key}.csv`]({key}.csv)\n")
    md.append("## Figures\n")
    for f in state.figures:
        if f.path is not None:
            md.append(f"### {f.title}\n\n![{f.title}]({f.path.name})\n")
        else:
            md.append(f"### {f.title}\n\n_not run_: {f.missing}\n")
    md.append(f"## {audio.title}\n")
    md.append(audio.to_markdown())
    return "\n".join(md)


def build_report(
    *,
    results_dir: str | Path,
    out_dir: str | Path | None = None,
    max_examples: int = 4,
    audio: bool = True,
    n_iter: int = 32,
    seed: int = 0,
) -> ReportSummary:
    """Build the report folder from the result files in ``results_dir``.

    Reads only result files (``*.json`` with a ``"kind"``, in ``results_dir`` and its direct
    sub-folders, skipping ``out_dir``) and the example ``.npz`` files they name; never trains
    or attacks. Writes ``report.md`` (Tables 1–6 and the DeepFool, adaptive, detector,
    transfer, checks and audio sections; failed checks first), one CSV per table
    (``<table key>.csv``), PNG figures (``fig_*.png``), WAV pairs (``audio/<idx>_clean.wav``,
    ``audio/<idx>_adversarial.wav``) and ``report.json``. Missing pieces are marked
    "not run"; malformed JSON is listed as unreadable.

    Parameters
    ----------
    results_dir : str or Path
    out_dir : str or Path, optional
        Default ``<results_dir>/report``.
    max_examples : int
        Saved examples to draw and sonify (≥ 0; 0 skips both).
    audio : bool
        Synthesise WAV files (≈3 s per example with ``n_iter=32``).
    n_iter : int
        Griffin-Lim iterations (≥ 1).
    seed : int
        Seed of Griffin-Lim's initial phase.

    Returns
    -------
    ReportSummary

    Raises
    ------
    DataError
        If ``results_dir`` does not exist or holds no readable result file.
    ParameterError
        If ``max_examples < 0`` or ``n_iter < 1``.
    """
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 0:
        raise ParameterError(f"max_examples={max_examples!r} is not valid; expected an integer ≥ 0")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ParameterError(f"n_iter={n_iter!r} is not valid; expected an integer ≥ 1")
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    res = load_results(results_dir=results_dir, exclude=[out])
    idx = build_index(results=res)
    state = _State(out=out)
    out.mkdir(parents=True, exist_ok=True)

    tables = {key: TABLES[key](index=idx) for key in TABLES}
    examples, bad_examples = load_examples(index=idx, max_examples=max_examples)
    _draw_figures(state, idx, examples)
    audio_table = _audio_table(state, examples, enabled=audio, n_iter=n_iter, seed=seed)
    all_tables = {**tables, audio_table.key: audio_table}
    for key, t in all_tables.items():
        path = out / f"{key}.csv"
        atomic_write_text(path, t.to_csv())
        state.files.append(path)

    failed = [r for r in tables["table_checks"].rows if r["passed"] is False]
    unreadable = list(res.unreadable) + bad_examples
    not_run = [t.title for t in all_tables.values() if t.not_run or not t.rows]
    not_run += [f.title for f in state.figures if f.path is None]
    headline = _headline(idx, tables, failed)

    md_path = out / "report.md"
    atomic_write_text(md_path, _markdown(idx=idx, tables=tables, audio=audio_table, state=state,
                                         failed=failed, unreadable=unreadable, results_dir=results_dir))
    json_path = out / "report.json"
    atomic_write_json(json_path, {
        "results_dir": str(results_dir),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "result_files": {"train": [r.name for r in res.train], "attack": [r.name for r in res.attack],
                         "defense": [r.name for r in res.defense]},
        "failed_checks": failed,
        "unreadable": [{"path": p, "reason": w} for p, w in unreadable],
        "not_run": not_run,
        "headline": [{"label": a, "value": b} for a, b in headline],
        "figures": {f.title: (f.path.name if f.path else None) for f in state.figures},
        "tables": {k: t.as_json() for k, t in all_tables.items()},
        "factor_note": "factor is null when undefended accuracy is 0; see factor_label (∞ or n/a)",
    })
    state.files += [md_path, json_path]
    log.info("report written to %s (%d files)", out, len(state.files))
    return ReportSummary(
        out_dir=out, report_md=md_path, report_json=json_path, files=tuple(state.files),
        tables=all_tables, failed_checks=tuple(failed), not_run=tuple(not_run),
        unreadable=tuple(unreadable), audio=audio_table.rows, headline=tuple(headline),
    )


def run_report(config: ReportConfig) -> ReportSummary:
    """Build the report described by ``config`` (the CLI's single API call)."""
    return build_report(
        results_dir=config.results_dir, out_dir=config.out_dir, max_examples=config.max_examples,
        audio=config.audio, n_iter=config.n_iter, seed=config.seed,
    )


__all__ = ["ReportConfig", "ReportSummary", "build_report", "run_report"]
