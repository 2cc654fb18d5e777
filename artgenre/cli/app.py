"""The Typer application object; command modules in this package attach to it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="artgenre",
    help="Adversarial attacks and defenses on music genre classifiers (through IBM ART).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
