"""``artgenre attack``: accuracy vs ε for FGSM/PGD/DeepFool/... and the automatic checks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from artgenre.attacks import ATTACKS
from artgenre.attacks.run import DEFAULT_ATTACKS, DEFAULT_EPS
from artgenre.cli import options as opt
from artgenre.cli.app import app
from artgenre.cli.options import pct
from artgenre.eps import eps_key, parse_eps, same_eps
from artgenre.validate import validate_attack


def _num(v, fmt: str = ".4g") -> str:
    return "—" if v is None else format(v, fmt)


def accuracy_table(result: dict) -> Table:
    """Rows ε, one column per swept attack: segment accuracy with its 95 % Wilson CI."""
    cells = result.get("cells") or []
    attacks = list(dict.fromkeys(c["attack"] for c in cells))
    eps = [c["eps"] for c in cells]
    where = f" (crafted on {result['source_model']})" if result.get("source_model") else ""
    title = (f"{result['model']}{where}: segment accuracy vs ε on {result.get('n_samples', '?')} "
             f"segments of {result.get('dataset', '?')} (95% Wilson CI); clean {pct(result['clean']['segment_accuracy'])}")
    table = Table(title=title)
    table.add_column("ε", justify="right")
    table.add_column("dB", justify="right")
    for a in attacks:
        table.add_column(a, justify="right")
    df = result.get("deepfool")
    df_acc = {eps_key(p["eps"]): p["accuracy"] for p in (df or {}).get("accuracy_at_eps") or []}
    if df:
        table.add_column("deepfool (acc. at ε)", justify="right")
    norms = list(dict.fromkeys(["inf"] + [c.get("norm", "inf") for c in cells]))
    for norm in norms:
        grid = [c["eps"] for c in cells if c.get("norm", "inf") == norm] + (list(df_acc) if norm == "inf" else [])
        for e in parse_eps(grid, allow_empty=True):
            at = [c for c in cells if c.get("norm", "inf") == norm and same_eps(c["eps"], e)]
            db = at[0].get("eps_db") if at else 80 * e
            label = f"{e:g}" if norm == "inf" else f"{e:g} ({norm})"
            row = [label, "—" if db is None else f"{db:.2f}"]
            for a in attacks:
                cell = next((c for c in at if c["attack"] == a), None)
                row.append(pct(cell["segment_accuracy"]) if cell else "—")
            if df:
                row.append(pct(df_acc.get(eps_key(e))) if norm == "inf" else "—")
            table.add_row(*row)
    return table


def deepfool_table(block: dict) -> Table:
    """DeepFool's success rate and median minimal perturbation norms."""
    table = Table(title=f"DeepFool minimal perturbations (overshoot {block.get('overshoot')})")
    for col in ("success rate", "median L2", "median L∞", "median L∞ (dB)", "mean L∞", "time"):
        table.add_column(col, justify="right")
    med = (block.get("linf") or {}).get("median")
    table.add_row(
        pct(block.get("success_rate")),
        _num((block.get("l2") or {}).get("median")),
        _num(med),
        "—" if med is None else f"{80 * med:.2f}",
        _num((block.get("linf") or {}).get("mean")),
        f"{block.get('seconds', 0):.1f} s",
    )
    return table


def checks_table(checks: list[dict]) -> Table:
    """One row per automatic check: PASS (green), FAIL (red) or SKIP."""
    table = Table(title="Automatic checks (Carlini et al. 2019)")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("detail")
    for c in checks:
        verdict = {True: "[green]PASS[/green]", False: "[bold red]FAIL[/bold red]"}.get(c["passed"], "[yellow]SKIP[/yellow]")
        table.add_row(escape(c["name"]), verdict, escape(c["detail"]))  # "[l2rel]" is not rich markup
    return table


@app.command("attack")
def attack(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Checkpoint of the attacked model (.pt)."),
    attacks: str = typer.Option(
        ",".join(DEFAULT_ATTACKS), "--attacks", "--attack",
        help=f"Comma-separated attacks: {', '.join(ATTACKS)}, or art:<Class> (any ART evasion attack).",
    ),
    eps: str = typer.Option(
        None, "--eps",
        help="Comma-separated L∞ budgets, each in [0, 1]: input units for spectrogram (0.01 = 0.8 dB), "
             "full-scale amplitude for waveform (0.01 = -40 dBFS). Default "
             + ",".join(f"{e:g}" for e in DEFAULT_EPS) + ", none when --snr-db is given.",
    ),
    limit: int = opt.LIMIT,
    batch_size: int = typer.Option(64, "--batch-size", help="Attack and prediction batch size."),
    device: str = opt.DEVICE,
    out: Path = typer.Option(Path("results"), "--out", help="Output folder."),
    source_checkpoint: Path = typer.Option(
        None, "--source-checkpoint", help="Transfer attack: craft on this model, evaluate --checkpoint."
    ),
    param: list[str] = opt.PARAM,
    seed: int = typer.Option(0, "--seed", help="Seed of the sample choice and of every cell."),
    n_examples: int = typer.Option(8, "--n-examples", help="Adversarial examples saved to the .npz."),
    partition: str = typer.Option("test", "--partition", help="Part of the split to attack: test, val or train."),
    threat: str = opt.THREAT,
    snr_db: str = opt.SNR_DB,
) -> None:
    """Sweep attacks over ε, write <out>/attack-<model>[-from-<source>].json; reruns resume."""
    from artgenre.attacks.run import AttackConfig, result_stem, run_attack

    config = AttackConfig(
        checkpoint=str(checkpoint),
        attacks=attacks,
        eps=(() if snr_db else DEFAULT_EPS) if eps is None else eps,
        limit=limit,
        batch_size=batch_size,
        device=device,
        out=str(out),
        seed=seed,
        source_checkpoint=None if source_checkpoint is None else str(source_checkpoint),
        params=tuple(param or ()),
        n_examples=n_examples,
        partition=partition,
        threat=threat,
        snr_db=snr_db or (),
    )
    result = opt.run_held(run_attack, config, validate=validate_attack, out=out, command="artgenre attack")
    console = Console()
    if result.get("cells") or result.get("deepfool"):
        console.print(accuracy_table(result))
    if result.get("deepfool"):
        console.print(deepfool_table(result["deepfool"]))
    console.print(checks_table(result.get("checks") or []))
    stem = result_stem(model=result["model"], source_model=result.get("source_model"), defense=result.get("defense"),
                       threat=result.get("threat") or "spectrogram")
    console.print(f"result: {out / (stem + '.json')}")
    failed = [c for c in result.get("checks") or [] if c["passed"] is False]
    if failed:
        console.print(f"[bold red]{len(failed)} automatic check(s) FAILED:[/bold red]")
        for c in failed:
            console.print(f"[red]  ✗ {escape(c['name'])}: {escape(c['detail'])}[/red]")
