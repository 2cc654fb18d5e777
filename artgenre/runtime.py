"""Run-time plumbing: seeding, device choice, provenance metadata, logging and progress bars."""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import logging
import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np

from artgenre._alloc import allocator_mode
from artgenre.errors import ParameterError

log = logging.getLogger("artgenre")

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy (global state, which ART uses) and PyTorch (CPU and CUDA).

    Call once at every entry point. Deterministic algorithms are requested where PyTorch
    offers them without erroring, so that on CPU the same seed gives the same weights.
    """
    import torch

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"seed={seed!r} is not valid; expected a non-negative integer")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def resolve_device(device: str = "auto"):
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N"`` into a `torch.device`.

    ``auto`` picks CUDA when it is available. Asking for CUDA on a machine without it raises
    `ParameterError`.
    """
    import torch

    if not isinstance(device, str):
        device = str(device)
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ParameterError(
                f"device={device!r} was requested but CUDA is not available; use 'cpu' or 'auto'"
            )
        return torch.device(name)
    raise ParameterError(
        f"device={device!r} is not valid; choose one of: {', '.join(DEVICE_CHOICES)} (or cuda:N)"
    )


@contextlib.contextmanager
def torch_threads(threads: int):
    """Context manager: torch's intra-op CPU threads set to ``threads`` (>= 1), restored on exit.

    Threads started inside take the new count on their first parallel operation; threads that
    ran one before keep theirs."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_sha() -> str | None:
    """The git commit of the artgenre source tree, with ``-dirty`` if it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


#: The lock file `make install` installs from (repository root; absent in a wheel install).
LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.lock"


def lock_digest() -> str | None:
    """First 16 hex digits of the SHA-256 of ``requirements.lock`` (None when it is absent), so a
    result names the locked environment its numbers came from."""
    import hashlib

    try:
        return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def run_metadata() -> dict:
    """Provenance stored in every result file: versions, git SHA, lock-file digest, allocator
    mode (`artgenre._alloc`), host and time."""
    return {
        "artgenre": _version("artgenre"),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "adversarial-robustness-toolbox": _version("adversarial-robustness-toolbox"),
        "numpy": _version("numpy"),
        "librosa": _version("librosa"),
        "scikit-learn": _version("scikit-learn"),
        "git_sha": git_sha(),
        "lock": lock_digest(),
        "malloc": allocator_mode(),
        "platform": platform.platform(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def progress(**kwargs):
    """A rich progress bar on stderr; hidden when stderr is not a terminal unless
    ``ARTGENRE_PROGRESS=1``. Put live status (loss, accuracy) into the task description."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    hidden = bool(kwargs.pop("disable", False))
    console = Console(stderr=True)
    hidden = hidden or not (console.is_terminal or os.environ.get("ARTGENRE_PROGRESS") == "1")
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=hidden,
        transient=False,
        **kwargs,
    )
