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


def _usage_message(exc) -> str:
    """A Typer/Click usage error (unknown option, missing or bad value) as one line that says
    where the valid options are listed."""
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", None) or "artgenre"
    return f"{exc.format_message().rstrip('.')}; see `{where} --help`"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``artgenre`` console script.

    `ArtGenreError` and Typer/Click usage errors (unknown option, missing value, bad choice)
    become one line ``error: <message>`` on stderr and exit status 1, without a traceback or
    usage box; ``artgenre`` alone prints the help (status 0).
    """
    from typer.exceptions import Abort, TyperException

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # ART logs a per-call "success rate" at INFO that ignores our accounting; keep its warnings.
    logging.getLogger("art").setLevel(logging.WARNING)
    try:
        # Not standalone: Click hands its usage errors to us instead of printing a box and exiting 2.
        code = app(args=argv, prog_name="artgenre", standalone_mode=False)
    except ArtGenreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Abort):
        print("interrupted; finished work is saved and a rerun resumes", file=sys.stderr)
        return 130
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed already
            return 0
        if not hasattr(exc, "format_message"):
            raise
        print(f"error: {_usage_message(exc)}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
