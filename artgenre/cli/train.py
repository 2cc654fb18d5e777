"""``artgenre train``: train one model with the standard recipe and print its Table 1 row."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from artgenre.cli.app import app
from artgenre.models import MODELS
from artgenre.training import PROFILES


def parse_options(items: list[str] | None) -> dict:
    """``["clips_per_genre=4", "fractions=0.6,0.2,0.2"]`` → ``{"clips_per_genre": 4,
    "fractions": (0.6, 0.2, 0.2)}``: ints, then floats, else strings; commas make tuples."""
    from artgenre.errors import ParameterError

    def scalar(text: str):
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--data-option {item!r} is not valid; expected KEY=VALUE, e.g. clips_per_genre=8")
        parts = [scalar(v.strip()) for v in value.split(",")]
        options[key.strip()] = tuple(parts) if "," in value else parts[0]
    return options


def _acc(p: dict) -> str:
    return f"{100 * p['value']:.1f}% [{100 * p['ci_low']:.1f}, {100 * p['ci_high']:.1f}]"


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
        _acc(test["segment_accuracy"]),
        _acc(test["track_accuracy_vote"]),
        f"{result['epochs_run']} ({result['best_epoch']})",
        f"{result['train_seconds']:.1f} s",
        f"{result['ms_per_sample']:.2f}",
    )
    return table


@app.command("train")
def train(
    model: str = typer.Option("cnn", "--model", help=f"Model: {', '.join(MODELS)}."),
    dataset: str = typer.Option("synth", "--dataset", help="Dataset (see `artgenre prepare --help`)."),
    root: Path = typer.Option(None, "--root", help="Dataset folder (gtzan)."),
    split: str = typer.Option("random", "--split", help="Split scheme: random or filtered."),
    data_seed: int = typer.Option(0, "--data-seed", help="Seed of the data synthesis / random split."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Feature cache folder."),
    data_option: list[str] = typer.Option(
        None, "--data-option", help="Dataset option KEY=VALUE (repeatable), e.g. clips_per_genre=8."
    ),
    profile: str = typer.Option("quick", "--profile", help=f"Training profile: {', '.join(PROFILES)}."),
    epochs: int = typer.Option(None, "--epochs", help="Maximum epochs (profile default)."),
    batch_size: int = typer.Option(None, "--batch-size", help="Batch size (profile default)."),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (profile default)."),
    patience: int = typer.Option(None, "--patience", help="Early-stopping patience (profile default)."),
    seed: int = typer.Option(0, "--seed", help="Training seed (weights, shuffling, dropout)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    pretrained: bool = typer.Option(False, "--pretrained", help="ImageNet init (resnet18; offline cache)."),
    weights: Path = typer.Option(None, "--weights", help="Local ImageNet .pth for resnet18 (implies --pretrained)."),
    out: Path = typer.Option(Path("results"), "--out", help="Output folder for the result and checkpoint."),
) -> None:
    """Train a model, save <out>/checkpoints/<model>.pt and <out>/train-<model>.json."""
    from artgenre.data import DataConfig
    from artgenre.training import make_train_config, run_training

    data = DataConfig(
        dataset=dataset,
        root=None if root is None else str(root),
        split_scheme=split,
        seed=data_seed,
        cache_dir=None if cache_dir is None else str(cache_dir),
        options=parse_options(data_option),
    )
    config = make_train_config(
        profile=profile, model=model, data=data, epochs=epochs, batch_size=batch_size, lr=lr,
        patience=patience, seed=seed, device=device, pretrained=pretrained,
        weights_path=weights, out=str(out),
    )
    result = run_training(config)
    console = Console()
    console.print(result_table(result))
    console.print(f"checkpoint: {result['checkpoint']}\nresult: {out / ('train-' + config.model + '.json')}")
