"""`build_report`: result files in, report folder (Markdown, CSV, PNG, WAV, JSON) out."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from pathlib import Path

from artgenre.errors import ParameterError
from artgenre.io import atomic_write_json, atomic_write_text, remove_stale_temps
from artgenre.report import plots
from artgenre.report.collect import genres_of, load_results
from artgenre.report.consistency import select_consistent
from artgenre.report.examples import load_examples
from artgenre.report.index import ResultIndex, build_index
from artgenre.report.listening import ITEM_ERRORS, audio_table, verification_note
from artgenre.report.markdown import Figure, headline, render
from artgenre.report.provenance import build_setup
from artgenre.report.seeds import per_seed_csv, replicate_tables, split_replicates
from artgenre.report.tables import TABLES, Table
from artgenre.report.waveform import plot_accuracy_vs_snr, waveform_models
from artgenre.runtime import log


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
    excluded : tuple of dict
        ``{file, kind, model, reason}`` of each result left out as inconsistent with the rest
        (other data or other evaluated samples; see `artgenre.report.consistency`).
    setup : Table
        The first section: data, splits, profile, epochs, seeds, versions and git SHA.
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
    excluded: tuple[dict, ...] = ()
    setup: Table | None = None


@dataclass
class _State:
    out: Path
    files: list[Path] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def _figure(state: _State, title: str, why_missing: str, fn, **kwargs) -> None:
    try:
        path = fn(**kwargs)
    except ITEM_ERRORS as exc:
        log.warning("figure %r could not be drawn: %s", title, exc)
        state.figures.append(Figure(title, missing=f"could not be drawn ({exc})"))
        return
    if path is None:
        state.figures.append(Figure(title, missing=why_missing))
    else:
        state.files.append(path)
        state.figures.append(Figure(title, path=path))


def _draw_figures(state: _State, idx: ResultIndex, examples: list[dict], no_examples: str) -> None:
    models = idx.models or ["—"]
    for m in models:
        _figure(state, f"Accuracy vs ε – {m}", "no attack results for this model",
                plots.plot_accuracy_vs_eps, index=idx, model=m,
                path=state.out / f"fig_accuracy_vs_eps_{plots.safe_name(m)}.png")
    for m in waveform_models(index=idx):
        _figure(state, f"Accuracy vs SNR (waveform attacks) – {m}", "no waveform attack cells",
                plot_accuracy_vs_snr, index=idx, model=m,
                path=state.out / f"fig_accuracy_vs_snr_{plots.safe_name(m)}.png")
    _figure(state, "DeepFool minimal-norm histogram", "no DeepFool results with per-sample norms",
            plots.plot_deepfool_hist, index=idx, path=state.out / "fig_deepfool_norms.png")
    _figure(state, "Spectrograms: clean, perturbation, adversarial", no_examples,
            plots.plot_spectrograms, examples=examples, path=state.out / "fig_spectrograms.png")
    _figure(state, "Detector ROC", "no detector results with ROC curves",
            plots.plot_detector_roc, index=idx, path=state.out / "fig_detector_roc.png")
    for m in models:
        genres = genres_of(*[r for r in idx.results.all if r.model == m])
        _figure(state, f"Confusion matrices – {m}", "no clean and attacked confusion matrices",
                plots.plot_confusions, index=idx, model=m, genres=genres,
                path=state.out / f"fig_confusion_{plots.safe_name(m)}.png")


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
    or attacks. Only results consistent with each other (same data, same evaluated samples;
    `artgenre.report.consistency.select_consistent`) are used; the others are listed with the
    reason. Temporary files that a killed earlier report left in ``out_dir`` are removed first.
    Writes ``report.md`` (the data/settings/versions section, then failed checks, left-out
    and unreadable files, Tables 1–6 and the DeepFool, adaptive, detector, transfer, checks
    and audio sections), one CSV per table
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
    found = load_results(results_dir=results_dir, exclude=[out])
    consistency, replicates = split_replicates(consistency=select_consistent(results=found))
    res = consistency.results
    for e in consistency.excluded:
        log.warning("result %s left out of the report: %s", e["file"], e["reason"])
    state = _State(out=out)
    out.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_temps(out, recursive=True)
    if stale:
        log.info("removed %d temporary file(s) left by an interrupted report in %s", len(stale), out)

    setup = build_setup(results=res, reference=consistency.reference, seeds=tuple(replicates))
    per_seed: dict[str, dict[int, Table]] = {}
    if replicates:
        tables, per_seed, idx = replicate_tables(groups=replicates, builders=TABLES)
    else:
        idx = build_index(results=res)
        tables = {key: TABLES[key](index=idx) for key in TABLES}
    selection = load_examples(index=idx, max_examples=max_examples)
    examples_note = verification_note(selection=selection)
    _draw_figures(state, idx, selection.examples, examples_note or "no saved examples (examples npz)")
    audio_tab = audio_table(out=out, selection=selection, enabled=audio, n_iter=n_iter, seed=seed,
                            files=state.files)
    all_tables = {setup.key: setup, **tables, audio_tab.key: audio_tab}
    for key, t in all_tables.items():
        path = out / f"{key}.csv"
        atomic_write_text(path, t.to_csv())
        state.files.append(path)
    for key, tabs in per_seed.items():
        path = out / f"{key}_per_seed.csv"
        atomic_write_text(path, per_seed_csv(per_seed=tabs))
        state.files.append(path)

    failed = [r for r in tables["table_checks"].rows if r["passed"] is False]
    unreadable = list(res.unreadable) + selection.unreadable
    not_run = [t.title for t in all_tables.values() if t.shown and (t.not_run or not t.rows)]
    not_run += [f.title for f in state.figures if f.path is None]
    head = headline(index=idx, tables=tables, failed=failed, excluded=len(consistency.excluded))

    md_path = out / "report.md"
    atomic_write_text(md_path, render(
        index=replace(idx, results=res), setup=setup, tables=tables, audio=audio_tab, figures=state.figures, failed=failed,
        unreadable=unreadable, consistency=consistency, examples_note=examples_note,
        results_dir=results_dir))
    json_path = out / "report.json"
    atomic_write_json(json_path, {
        "results_dir": str(results_dir),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "result_files": {"train": [r.name for r in res.train], "attack": [r.name for r in res.attack],
                         "defense": [r.name for r in res.defense]},
        "schema_versions": {res.rel(r.path): r.schema_version for r in res.all},
        "seeds": list(replicates),
        "excluded": list(consistency.excluded),
        "reference": consistency.reference,
        "failed_checks": failed,
        "unreadable": [{"path": p, "reason": w} for p, w in unreadable],
        "not_run": not_run,
        "headline": [{"label": a, "value": b} for a, b in head],
        "examples": {"saved": selection.saved, "successful": selection.successful,
                     "unverified": selection.unverified, "shown": len(selection.examples),
                     "note": examples_note},
        "figures": {f.title: (f.path.name if f.path else None) for f in state.figures},
        "tables": {k: t.as_json() for k, t in all_tables.items()},
        "factor_note": "factor is null when undefended accuracy is 0; see factor_label (∞ or n/a)",
    })
    state.files += [md_path, json_path]
    log.info("report written to %s (%d files)", out, len(state.files))
    return ReportSummary(
        out_dir=out, report_md=md_path, report_json=json_path, files=tuple(state.files),
        tables=all_tables, failed_checks=tuple(failed), not_run=tuple(not_run),
        unreadable=tuple(unreadable), audio=audio_tab.rows, headline=tuple(head),
        excluded=consistency.excluded, setup=setup,
    )


def run_report(config: ReportConfig) -> ReportSummary:
    """Build the report described by ``config`` (the CLI's single API call)."""
    return build_report(
        results_dir=config.results_dir, out_dir=config.out_dir, max_examples=config.max_examples,
        audio=config.audio, n_iter=config.n_iter, seed=config.seed,
    )


__all__ = ["ReportConfig", "ReportSummary", "build_report", "run_report"]
