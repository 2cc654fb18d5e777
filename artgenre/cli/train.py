"""``artgenre train``: train one model with the standard recipe and print its Table 1 row."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from artgenre.cli import options as opt
from artgenre.cli.app import app
from artgenre.cli.options import pct
from artgenre.models import MODELS
from artgenre.validate import validate_training


def result_table(result: dict) -> Table:
    """Table 1's row for one ``kind: "train"`` result (test split)."""
    test = result["metrics"]["test"]
    table = Table(
        title=f"Clean test accuracy, {result['dataset']} (95% Wilson CI; track = majority vote)"
    )
    for col in ("model", "params", "segment acc", "track acc", "epochs (best)", "train time", "ms/sample"):
        table.add_column(col, justify="left" if col == "model" else "right")
    name = result["model"] + (f" + {result['defense']}" if result.get("defense") else "")
    table.add_row(
        name,
        f"{result['n_params'] / 1e6:.2f}M",
        pct(test["segment_accuracy"]),
        pct(test["track_accuracy_vote"]),
        f"{result['epochs_run']} ({result['best_epoch']})",
        f"{result['train_seconds']:.1f} s",
        f"{result['ms_per_sample']:.2f}",
    )
    return table


@app.command("train")
@opt.with_data_options
def train(
    model: str = typer.Option("cnn", "--model", help=f"Model: {', '.join(MODELS)}."),
    data=None,
    profile: str = opt.PROFILE,
    epochs: int = opt.EPOCHS,
    batch_size: int = opt.TRAIN_BATCH_SIZE,
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (profile default)."),
    patience: int = typer.Option(None, "--patience", help="Early-stopping patience (profile default)."),
    seed: int = typer.Option(0, "--seed", help="Training seed (weights, shuffling, dropout)."),
    device: str = opt.DEVICE,
    pretrained: bool = typer.Option(False, "--pretrained", help="ImageNet init (resnet18; offline cache)."),
    weights: Path = typer.Option(None, "--weights", help="Local ImageNet .pth for resnet18 (implies --pretrained)."),
    out: Path = typer.Option(Path("results"), "--out", help="Output folder for the result and checkpoint."),
) -> None:
    """Train a model, save <out>/checkpoints/<model>.pt and <out>/train-<model>.json."""
    from artgenre.training import make_train_config, run_training
    config = make_train_config(
        profile=profile, model=model, data=data, epochs=epochs, batch_size=batch_size, lr=lr,
        patience=patience, seed=seed, device=device, pretrained=pretrained,
        weights_path=weights, out=str(out),
    )
    result = opt.run_held(run_training, config, validate=validate_training, out=out, command="artgenre train")
    console = Console()
    console.print(result_table(result))
    console.print(f"checkpoint: {result['checkpoint']}\nresult: {out / ('train-' + config.model + '.json')}")
