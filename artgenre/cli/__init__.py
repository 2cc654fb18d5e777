"""Command-line interface: thin Typer commands over the Python API.

Each command module parses options, builds a frozen config and calls one pure function.
`main` turns any `ArtGenreError` into a one-line message and exit status 1 (no traceback).
"""

from __future__ import annotations

import importlib
import logging
import sys

from artgenre.cli.app import app
from artgenre.errors import ArtGenreError

_COMMAND_MODULES = ("prepare", "train", "attack", "defend", "report", "run")

for _name in _COMMAND_MODULES:
    importlib.import_module(f"artgenre.cli.{_name}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``artgenre`` console script.

    Usage errors are handled by Typer (exit 2); `ArtGenreError` becomes ``error: <message>``
    on stderr and exit status 1, without a traceback.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # ART logs a per-call "success rate" at INFO that ignores our accounting; keep its warnings.
    logging.getLogger("art").setLevel(logging.WARNING)
    try:
        app(args=argv, prog_name="artgenre")
    except ArtGenreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished work is saved and a rerun resumes", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
