"""``artgenre prepare``: compute (or load) the feature cache and summarise the splits."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from artgenre.cli import options as opt
from artgenre.cli.app import app
from artgenre.data import DATASETS, SPLIT_SCHEMES, load_dataset, summarize
from artgenre.data.splits import SPLIT_NAMES

_MAX_LISTED = 20


@app.command("prepare")
def prepare(
    dataset: str = typer.Option("synth", "--dataset", help=f"Dataset: {', '.join(DATASETS)}."),
    root: Optional[Path] = typer.Option(
        None, "--root", help="GTZAN folder holding genres/ or genres_original/ (gtzan only)."
    ),
    split: str = typer.Option("random", "--split", help=f"Split scheme: {', '.join(SPLIT_SCHEMES)}."),
    data_seed: int = opt.DATA_SEED,
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", help="Cache root (default $ARTGENRE_CACHE or ~/.cache/artgenre)."
    ),
    clips_per_genre: Optional[int] = typer.Option(None, "--clips-per-genre", help="synth only (default 20)."),
    clip_seconds: Optional[float] = typer.Option(None, "--clip-seconds", help="synth only (default 12)."),
) -> None:
    """Compute or load the log-mel feature cache and print tracks/segments per split."""
    options = {
        k: v for k, v in (("clips_per_genre", clips_per_genre), ("clip_seconds", clip_seconds)) if v is not None
    }
    config = opt.data_config(dataset=dataset, root=root, split=split, data_seed=data_seed, cache_dir=cache_dir,
                             options=options)
    data = load_dataset(**config.loader_kwargs(), progress=True)
    rows = summarize(dataset=data)

    table = Table(title=f"{data.name}: tracks / segments per split ({config.split_scheme}, seed {config.seed})")
    table.add_column("genre")
    for s in SPLIT_NAMES:
        table.add_column(s, justify="right")
    totals = {s: [0, 0] for s in SPLIT_NAMES}
    for genre in data.genres:
        cells = []
        for s in SPLIT_NAMES:
            row = next(r for r in rows if r["split"] == s and r["genre"] == genre)
            totals[s][0] += row["tracks"]
            totals[s][1] += row["segments"]
            cells.append(f"{row['tracks']} / {row['segments']}")
        table.add_row(genre, *cells)
    table.add_section()
    table.add_row("total", *(f"{t} / {n}" for t, n in totals.values()))

    console = Console()
    console.print(table)
    console.print(f"skipped files: {len(data.skipped)}")
    for path, reason in data.skipped:
        console.print(f"  {path}: {reason}", markup=False, soft_wrap=True)
    console.print(f"missing tracks: {len(data.missing)}")
    if data.missing:
        shown = ", ".join(data.missing[:_MAX_LISTED]) + (" ..." if len(data.missing) > _MAX_LISTED else "")
        console.print(f"  {shown}", markup=False, soft_wrap=True)
    console.print(f"cache: {data.cache_dir}", markup=False, soft_wrap=True)
    console.print(f"loaded from cache: {'yes' if data.from_cache else 'no (computed now)'}")
    console.print(f"time: {data.seconds:.2f} s")
