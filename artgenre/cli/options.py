"""Options shared by several commands, so each name means one thing everywhere.

``--split`` is always the split *scheme* and ``--data-seed`` the seed of the data (synthesis
and random split); `data_config` turns the data options into a `DataConfig`.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import typer

from artgenre.errors import ParameterError
from artgenre.training import PROFILES
from artgenre.threats import THREAT_MODELS

DATASET = typer.Option("synth", "--dataset", help="Dataset (see `artgenre prepare --help`).")
ROOT = typer.Option(None, "--root", help="Dataset folder (gtzan).")
SPLIT = typer.Option("random", "--split", help="Split scheme: random or filtered.")
DATA_SEED = typer.Option(0, "--data-seed", help="Seed of the data synthesis / random split.")
CACHE_DIR = typer.Option(None, "--cache-dir", help="Feature cache folder.")
DATA_OPTION = typer.Option(None, "--data-option",
                           help="Dataset option KEY=VALUE (repeatable), e.g. clips_per_genre=8.")
PROFILE = typer.Option("quick", "--profile", help=f"Training profile: {', '.join(PROFILES)}.")
EPOCHS = typer.Option(None, "--epochs", help="Maximum training epochs (profile default; defend: by profile and --init).")
TRAIN_BATCH_SIZE = typer.Option(None, "--batch-size", help="Training batch size (profile default).")
LIMIT = typer.Option(None, "--limit", help="Attack only N test segments (seeded, class-stratified).")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
THREAT = typer.Option("spectrogram", "--threat",
                      help="Threat model (what is perturbed): " + ", ".join(THREAT_MODELS) + ".")
SNR_DB = typer.Option(None, "--snr-db", help="Comma-separated SNR budgets in dB (waveform threat model, l2rel: "
                      "‖δ‖ ≤ 10^(−SNR/20)·‖x‖ per example), e.g. 30,40,50.")
PARAM = typer.Option(None, "--param",
                     help="Attack parameter ATTACK.KEY=VALUE (pgd.steps=50) or KEY=VALUE (norm=inf); repeatable.")


def parse_options(items: list[str] | None) -> dict:
    """``["clips_per_genre=4", "fractions=0.6,0.2,0.2"]`` → ``{"clips_per_genre": 4,
    "fractions": (0.6, 0.2, 0.2)}``: ints, then floats, else strings; commas make tuples.

    Raises
    ------
    ParameterError
        An item without ``=`` or with an empty key.
    """

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


def data_config(*, dataset: str, root: Path | None, split: str, data_seed: int, cache_dir: Path | None,
                options) -> "DataConfig":  # noqa: F821 - imported lazily
    """The `artgenre.data.DataConfig` of the shared data options (``options``: a dict, or
    ``--data-option`` strings)."""
    from artgenre.data import DataConfig

    return DataConfig(
        dataset=dataset, root=None if root is None else str(root), split_scheme=split, seed=data_seed,
        cache_dir=None if cache_dir is None else str(cache_dir),
        options=options if isinstance(options, dict) else parse_options(options),
    )


#: The shared data options: (parameter name, annotation, typer option).
_DATA_PARAMS = (("dataset", str, DATASET), ("root", Path, ROOT), ("split", str, SPLIT),
                ("data_seed", int, DATA_SEED), ("cache_dir", Path, CACHE_DIR), ("data_option", list[str], DATA_OPTION))


def with_data_options(command):
    """Decorator for a command function with a ``data`` parameter: the CLI shows the shared
    data options (``--dataset --root --split --data-seed --cache-dir --data-option``) where
    ``data`` stands, and the function receives the `DataConfig` they describe as ``data``."""
    sig = inspect.signature(command, eval_str=True)
    params = list(sig.parameters.values())
    at = [p.name for p in params].index("data")
    injected = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option, annotation=ann)
                for name, ann, option in _DATA_PARAMS]

    @functools.wraps(command)
    def wrapper(**kwargs):
        values = {name: kwargs.pop(name) for name, _, _ in _DATA_PARAMS}
        options = values.pop("data_option")
        return command(data=data_config(options=options, **values), **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params[:at] + injected + params[at + 1:])
    wrapper.__annotations__ = {k: v for k, v in command.__annotations__.items() if k != "data"}
    return wrapper


def pct(p: dict | None) -> str:
    """A proportion as ``"12.3% [4.5, 6.7]"`` (value and 95 % CI), ``—`` when missing."""
    if not p or p.get("value") is None:
        return "—"
    return f"{100 * p['value']:.1f}% [{100 * p['ci_low']:.1f}, {100 * p['ci_high']:.1f}]"


def run_held(run, config, *, validate, out: Path, command: str) -> dict:
    """``run(config)`` after ``validate(config)``, holding the lock on the results folder ``out``
    (`artgenre.runs.hold_results_folder`) so that two commands never write one folder."""
    from artgenre.runs import hold_results_folder

    validate(config)
    with hold_results_folder(out, command=command):
        return run(config)
