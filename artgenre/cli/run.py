"""``artgenre run``: the whole pipeline (prepare → train → attack → defend → report), resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.console import Console
from rich.table import Table

from artgenre.cli import options as opt
from artgenre.cli.app import app


def _split(value: str | None, cast=str):
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    try:
        return tuple(cast(v) for v in items)
    except ValueError:
        from artgenre.errors import ParameterError

        raise ParameterError(f"{value!r} is not a comma-separated list of numbers") from None


def summary_tables(result) -> list[Table]:
    """The compact end-of-run summary: the report's key numbers and the stage timings."""
    tables = []
    headline = getattr(result.report, "headline", ()) or ()
    if headline:
        key = Table(title="Key numbers (segment-level test accuracy)")
        key.add_column("what")
        key.add_column("value", justify="right")
        for label, value in headline:
            key.add_row(label, value)
        tables.append(key)
    timing = Table(title=f"Pipeline stages ({result.seconds:.0f} s in all)")
    timing.add_column("stage")
    timing.add_column("seconds", justify="right")
    for rec in result.stages:
        timing.add_row(escape(rec["stage"]), f"{rec['seconds']:.1f}")  # "[seed 1]" is not rich markup
    tables.append(timing)
    return tables


def csv(flag: str, what: str):
    """A comma-separated list option that overrides the config file only when given."""
    return typer.Option(None, flag, help=f"Comma-separated {what}.")


@app.command("run")
def run(
    config_file: Path = typer.Option(None, "--config", help="TOML file with pipeline settings (see experiments/)."),
    dataset: str = typer.Option(None, "--dataset", help="Dataset: synth (built-in, default) or gtzan."),
    root: Path = typer.Option(None, "--root", help="GTZAN folder (with --dataset gtzan)."),
    split: str = typer.Option(None, "--split", help="Split scheme: random or filtered."),
    profile: str = typer.Option(None, "--profile", help="Training profile: quick (default) or paper."),
    epochs: int = opt.EPOCHS,
    models: str = csv("--models", "models (default cnn,resnet18)"),
    attacks: str = csv("--attacks", "attacks of the sweep"),
    eps: str = csv("--eps", "ε grid, input units (80·ε dB)"),
    defenses: str = csv("--defenses", "defenses ('' for none)"),
    defense_models: str = csv("--defense-models", "models that get the defenses"),
    limit: int = opt.LIMIT,
    data_seed: int = typer.Option(None, "--data-seed", help="Seed of the data synthesis / random split."),
    seed: int = typer.Option(None, "--seed", help="Seed of training and attacks."),
    seeds: str = typer.Option(None, "--seeds", help="Seed replicates, e.g. 0,1,2: the grid once per seed, into <out>/seed-<s>/ (the data split stays fixed by --data-seed)."),
    executor: str = typer.Option("serial", "--executor", help="Where units run: serial (this process) or ray (a Ray cluster; pip install 'artgenre\\[ray]')."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (--executor ray); default: a local Ray started for the run."),
    cpus_per_unit: int = typer.Option(None, "--cpus-per-unit", help="CPU threads per unit (CPUs reserved per Ray task); default: PyTorch's thread count. Part of the numerics."),
    param: list[str] = opt.PARAM,
    waveform_attacks: str = csv("--waveform-attacks", "attacks of the waveform-threat sweep ('' for none)"),
    snr_db: str = csv("--snr-db", "SNR budgets (dB) of the waveform sweep, e.g. 30,40,50"),
    waveform_models: str = csv("--waveform-models", "models of the waveform sweep (default cnn)"),
    device: str = typer.Option(None, "--device", help="auto (default), cpu, cuda or cuda:N."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Feature cache folder."),
    out: Path = typer.Option(None, "--out", help="Results folder (default results/)."),
) -> None:
    """Run the whole pipeline; rerunning resumes from finished stages."""
    from artgenre.pipeline import make_pipeline_config, run_pipeline

    config = make_pipeline_config(
        config_file=config_file, dataset=dataset,
        root=None if root is None else str(root), split_scheme=split, profile=profile, epochs=epochs,
        models=_split(models), attacks=_split(attacks), eps=_split(eps, float),
        defenses=_split(defenses), defense_models=_split(defense_models), limit=limit,
        waveform_attacks=_split(waveform_attacks), waveform_snr_db=_split(snr_db, float),
        waveform_models=_split(waveform_models),
        data_seed=data_seed, seed=seed, seeds=_split(seeds, int), attack_params=tuple(param) if param else None, device=device, cache_dir=None if cache_dir is None else str(cache_dir),
        out=None if out is None else str(out),
    )
    result = run_pipeline(config, executor=executor, address=address, cpus_per_unit=cpus_per_unit)
    console = Console()
    for table in summary_tables(result):
        console.print(table)
    if result.report is not None:
        for check in result.report.failed_checks:
            console.print(
                f"[bold red]CHECK FAILED[/] {check.get('model', '')}: {check.get('name')}: {check.get('detail')}"
            )
        console.print(f"report: {result.report.report_md}")
