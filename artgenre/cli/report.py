"""``artgenre report``: build the report folder from finished result files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from artgenre.cli.app import app
from artgenre.report import ReportConfig, run_report


@app.command("report")
def report_command(
    results_dir: Path = typer.Argument(..., help="Folder with train-/attack-/defense-*.json result files."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: RESULTS_DIR/report)."),
    max_examples: int = typer.Option(4, "--max-examples", min=0, help="Saved examples to draw and turn into WAV pairs."),
    audio: bool = typer.Option(True, "--audio/--no-audio", help="Synthesise WAV pairs by Griffin-Lim (≈3 s each)."),
    n_iter: int = typer.Option(32, "--n-iter", min=1, help="Griffin-Lim iterations."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of Griffin-Lim's initial phase."),
) -> None:
    """Write report.md (Tables 1-6, DeepFool, detector, transfer, checks), CSVs, plots and audio."""
    config = ReportConfig(
        results_dir=str(results_dir), out_dir=None if out is None else str(out),
        max_examples=max_examples, audio=audio, n_iter=n_iter, seed=seed,
    )
    summary = run_report(config)
    console = Console()
    table = RichTable(title=f"Report: {summary.report_md}")
    table.add_column("key")
    table.add_column("value", justify="right")
    for label, value in summary.headline:
        table.add_row(label, value)
    console.print(table)
    for check in summary.failed_checks:
        console.print(f"[bold red]FAILED check[/] {escape(check['name'])} ({check['model']}): {escape(check['detail'])}")
    for ex in summary.excluded:
        console.print(f"[yellow]left out[/] {escape(ex['file'])}: {escape(ex['reason'])}")
    for path, why in summary.unreadable:
        console.print(f"[yellow]unreadable[/] {escape(str(path))}: {escape(why)}")
    if summary.not_run:
        console.print(f"[dim]not run: {escape('; '.join(summary.not_run))}[/]")
    console.print(f"{len(summary.files)} files written to {summary.out_dir}")
