"""``artgenre defend``: apply a defense, attack it, and compare with the undefended baseline."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from artgenre.cli import options as opt
from artgenre.cli.app import app
from artgenre.cli.attack import checks_table
from artgenre.cli.options import pct
from artgenre.defenses import DEFENSES
from artgenre.eps import parse_eps, same_eps
from artgenre.models import MODELS
from artgenre.validate import validate_defense


def _secs(v) -> str:
    return "—" if v is None else f"{v:.1f} s"


def summary_table(result: dict) -> Table:
    """Clean accuracy and training time of the defended model next to the baseline's."""
    table = Table(title=f"{result['model']} + {result['defense']} on {result.get('n_samples', '?')} test "
                        f"segments of {result.get('dataset', '?')} (95% Wilson CI)")
    for col in ("strategy", "clean accuracy", "Δ (pts)", "train time", "time / baseline"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    base, clean = result["baseline_clean"]["segment_accuracy"], result["clean"]["segment_accuracy"]
    base_s, own_s = result.get("baseline_train_seconds"), result.get("train_seconds")
    table.add_row("baseline (undefended)", pct(base), "", _secs(base_s), "1.00" if base_s else "—")
    diff = 100 * (clean["value"] - base["value"])
    ratio = f"{own_s / base_s:.2f}" if own_s is not None and base_s else "—"
    table.add_row(result["defense"], pct(clean), f"{diff:+.1f}", _secs(own_s), ratio)
    return table


def attack_table(result: dict) -> Table:
    """Rows ε; for each attack a non-adaptive and an adaptive column (where they were run)."""
    cells = result.get("cells") or []
    columns = list(dict.fromkeys((c["attack"], bool(c["adaptive"])) for c in cells))
    table = Table(title="Accuracy under attack (adaptive = crafted through the defense; the credited number)")
    table.add_column("ε", justify="right")
    table.add_column("dB", justify="right")
    for attack, adaptive in columns:
        table.add_column(f"{attack} ({'adaptive' if adaptive else 'non-adaptive'})", justify="right")
    for e in parse_eps([c["eps"] for c in cells], allow_empty=True):
        row = [f"{e:g}", f"{80 * e:.2f}"]
        for attack, adaptive in columns:
            cell = next((c for c in cells if c["attack"] == attack and bool(c["adaptive"]) == adaptive
                         and same_eps(c["eps"], e)), None)
            row.append(pct(cell["segment_accuracy"]) if cell else "—")
        table.add_row(*row)
    return table


def detector_table(block: dict) -> Table:
    """Detector TPR (on successful adversarial examples), AUC and reject-or-classify accuracy."""
    table = Table(title=(
        f"Squeezing detector: threshold {block['threshold']:.4g} for target FPR {block['target_fpr']:g}; "
        f"FPR val {pct(block['fpr_val'])}, test {pct(block['fpr_test'])}; "
        f"clean accuracy with rejection {pct(block.get('clean_reject_accuracy'))}"
    ))
    for col in ("attack", "ε", "adaptive", "TPR (successful adv.)", "AUC", "accuracy with rejection"):
        table.add_column(col, justify="left" if col == "attack" else "right")
    for p in block.get("per_attack") or []:
        table.add_row(p["attack"], f"{p['eps']:g}", "yes" if p["adaptive"] else "no", pct(p["tpr"]),
                      "—" if p.get("auc") is None else f"{p['auc']:.3f}", pct(p["reject_accuracy"]))
    return table


@app.command("defend")
@opt.with_data_options
def defend(
    model: str = typer.Option(
        "cnn", "--model", help=f"Model: {', '.join(MODELS)} (baseline: <out>/train-<model>.json, trained if absent)."
    ),
    data=None,
    defense: str = typer.Option(..., "--defense", help=f"Defense: {', '.join(DEFENSES)}."),
    profile: str = opt.PROFILE,
    init: str = typer.Option(None, "--init", help="finetune (the baseline) or scratch; default by profile."),
    epochs: int = opt.EPOCHS,
    batch_size: int = opt.TRAIN_BATCH_SIZE,
    ratio: float = typer.Option(None, "--ratio", help="Adversarial share of each batch, in (0, 1]."),
    train_eps: float = typer.Option(0.01, "--train-eps", help="L∞ budget of the training attack (0.01 = 0.8 dB)."),
    inner_steps: int = typer.Option(None, "--inner-steps", help="PGD steps of the training attack."),
    bit_depth: int = typer.Option(5, "--bit-depth", help="Squeezer bit depth, 1..64."),
    median: bool = typer.Option(True, "--median/--no-median", help="Detector also uses a 2x2 median filter."),
    target_fpr: float = typer.Option(0.05, "--target-fpr", help="Detector FPR on clean validation data, in (0, 1)."),
    attacks: str = typer.Option("fgsm,pgd", "--attacks", "--attack", help="Comma-separated ε-bounded attacks to evaluate."),
    eps: str = typer.Option("0.01,0.03,0.1", "--eps", help="Comma-separated L∞ budgets in [0, 1]."),
    param: list[str] = opt.PARAM,
    limit: int = opt.LIMIT,
    device: str = opt.DEVICE,
    threat: str = opt.THREAT,
    seed: int = typer.Option(0, "--seed", help="Seed of training, sample choice and attacks."),
    out: Path = typer.Option(Path("results"), "--out", help="Results folder."),
) -> None:
    """Defend a model, evaluate it, write <out>/defense-<model>-<defense>.json; reruns resume."""
    from artgenre.defenses import make_defense_config, result_path, run_defense

    DEFENSES[defense]
    config = make_defense_config(
        model=model, defense=defense, data=data, profile=profile, init=init, epochs=epochs,
        batch_size=batch_size, ratio=ratio, train_eps=train_eps, inner_steps=inner_steps,
        bit_depth=bit_depth, median=median, target_fpr=target_fpr, attacks=attacks,
        eps=parse_eps(eps, name="--eps"), attack_params=tuple(param or ()), limit=limit, device=device,
        seed=seed, out=str(out), threat=threat,
    )
    result = opt.run_held(run_defense, config, validate=validate_defense, out=out, command="artgenre defend")
    console = Console()
    console.print(summary_table(result))
    if result.get("cells"):
        console.print(attack_table(result))
    if result.get("detector"):
        console.print(detector_table(result["detector"]))
    if result.get("checks"):
        console.print(checks_table(result["checks"]))
    console.print(f"result: {result_path(out, model=result['model'], defense=result['defense'], threat=config.threat)}")
