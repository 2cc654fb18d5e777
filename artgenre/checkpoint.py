"""Model checkpoints that can be loaded without executing code.

A checkpoint is a dict holding only tensors and plain JSON values (str, int, float, bool,
None, lists, dicts)::

    {"format": "artgenre-checkpoint/1", "model_name": "cnn",
     "build_kwargs": {"num_classes": 10, "input_size": 128},
     "config": {...}, "metrics": {...}, "state_dict": {name: tensor}}

so `torch.load(..., weights_only=True)` can read it; anything else in the file (a pickled
object with a ``__reduce__`` payload, say) makes loading fail instead of running it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from artgenre.errors import ArtGenreError, CheckpointError
from artgenre.io import atomic_path, to_jsonable
from artgenre.runtime import resolve_device

FORMAT = "artgenre-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : torch.nn.Module
        Rebuilt with `artgenre.models.build_model`, weights loaded, in eval mode, on the device.
    model_name : str
        Key of `artgenre.models.MODELS`.
    config : dict
        The run configuration saved with it (JSON values; ``config["data"]`` reloads the data).
    metrics : dict
        Metrics saved with it (e.g. ``{"val": ..., "test": ...}`` from `evaluate`).
    build_kwargs : dict
        Keyword arguments for `build_model` besides ``name`` (``num_classes``, ``input_size``).
    path : Path
    """

    model: Any
    model_name: str
    config: dict
    metrics: dict
    build_kwargs: dict = field(default_factory=dict)
    path: Path | None = None


def _plain(obj: Any) -> Any:
    # JSON round trip: guarantees the payload holds nothing weights_only=True would reject.
    return json.loads(json.dumps(to_jsonable(obj)))


def save_checkpoint(
    path,
    *,
    model,
    model_name: str,
    config,
    metrics,
    build_kwargs: dict | None = None,
) -> Path:
    """Write ``model``'s weights and run information to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.pt`` file; parent folders are created.
    model : torch.nn.Module
        The bare model (for an ART classifier pass ``classifier.model``).
    model_name : str
        Its `MODELS` key, used to rebuild it on load.
    config : dataclass or dict
        Run configuration; stored as JSON values.
    metrics : dict
        Stored as JSON values (NaN becomes None).
    build_kwargs : dict, optional
        Extra `build_model` arguments needed to rebuild the same architecture
        (``num_classes``, ``input_size``); ``pretrained`` is never needed since weights follow.

    Returns
    -------
    Path
        ``path``.
    """
    from artgenre.models import MODELS

    MODELS[model_name]  # unknown names fail here, before anything is written
    payload = {
        "format": FORMAT,
        "model_name": model_name,
        "build_kwargs": _plain(build_kwargs or {}),
        "config": _plain(config),
        "metrics": _plain(metrics),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path, *, device: str = "auto", expected_model: str | None = None) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` and rebuild its model.

    Parameters
    ----------
    path : str or os.PathLike
    device : str
        ``"auto" | "cpu" | "cuda" | "cuda:N"``; the model is placed there.
    expected_model : str, optional
        If given, the checkpoint must hold this `MODELS` name.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        Missing, unreadable or corrupt file; a file holding anything but tensors and plain
        values (never unpickled); a model name other than ``expected_model``; weights that do
        not fit the architecture. Messages name the path and, for mismatches, both models.
    """
    from artgenre.models import build_model

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist (train a model first)")
    dev = resolve_device(device)
    try:
        payload = torch.load(path, map_location=dev, weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, or a rejected pickle global
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot load checkpoint {str(path)!r}: it is corrupt or holds objects other than "
            f"tensors and plain values ({first})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not an artgenre checkpoint (expected format {FORMAT!r})"
        )
    name = payload.get("model_name")
    if expected_model is not None and name != expected_model:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds model {name!r}, but model {expected_model!r} was expected"
        )
    build_kwargs = dict(payload.get("build_kwargs") or {})
    try:
        model = build_model(name=name, **build_kwargs)
    except ArtGenreError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: cannot rebuild model {name!r}: {exc}") from None
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError) as exc:
        summary = str(exc).strip().splitlines()
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit model {name!r} built with {build_kwargs}: "
            f"the saved weights belong to a different architecture ({summary[0] if summary else exc})"
        ) from None
    model.to(dev).eval()
    return Checkpoint(
        model=model,
        model_name=name,
        config=payload.get("config") or {},
        metrics=payload.get("metrics") or {},
        build_kwargs=build_kwargs,
        path=path,
    )
