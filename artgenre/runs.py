"""Run machinery shared by ``artgenre attack`` and ``artgenre defend``.

- ε grids: `artgenre.eps.parse_eps` (the one parser) and `artgenre.eps.same_eps` (the one
  equality rule), re-exported here for the run code;
- sample choice: `stratified_order` and `choose_samples` (``limit`` segments, seeded,
  class-stratified), identical for attack and defense runs;
- checkpoint → classifier: `load_classifier` (and `load_checkpoint_data`, the data a checkpoint
  was trained on), `check_fits` (input shape and class count against the data);
- the results folder of an entry point: `hold_results_folder` (its write lock, and the
  temporary files a killed writer left in it removed);
- the resumable result file: `ResultWriter` (atomic, rewritten after every cell) and
  `artgenre.io.read_previous_result` (a result to resume from only when its ``resume_key``
  matches).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.eps import eps_key, parse_eps, same_eps
from artgenre.errors import CheckpointError, DataError, ParameterError
from artgenre.io import atomic_write_json, to_jsonable
from artgenre.threats import DEFAULT_THREAT, threat_model

#: Version of the attack/defense/train result layout (absent = version 1, before per-sample
#: ``correct``/``pred``, ``threat`` and defense ``checks``).
SCHEMA_VERSION = 2


def stratified_order(*, y, seed: int) -> np.ndarray:
    """A seeded order of sample indices that interleaves the classes.

    Any prefix of it is (nearly) class-balanced, so ``order[:limit]`` is a stratified
    subset. Within a class the order is a random permutation.

    Parameters
    ----------
    y : array-like, shape (N,)
    seed : int

    Returns
    -------
    np.ndarray, shape (N,), int64
    """
    y = np.asarray(y)
    perm = np.random.default_rng(seed).permutation(len(y))
    rank = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        members = perm[y[perm] == label]
        rank[members] = np.arange(len(members))
    position = np.empty(len(y), dtype=np.int64)
    position[perm] = np.arange(len(y))
    return np.lexsort((position, rank)).astype(np.int64)


def choose_samples(*, split, limit: int | None, seed: int):
    """The evaluated samples: ``limit`` of ``split`` in `stratified_order`, in split order.

    Returns
    -------
    (index, subset) : np.ndarray (n,) of positions in ``split``, and the `Split` they form
        (``split`` itself when ``limit`` is None).
    """
    if limit is None:
        return np.arange(len(split)), split
    index = np.sort(stratified_order(y=split.y, seed=seed)[:limit])
    return index, split.take(index)


@dataclass(frozen=True)
class Loaded:
    """A checkpoint wrapped for attacks: ``classifier`` (ART), ``checkpoint`` (`Checkpoint`)
    and ``defense`` (the defense it was trained with, or None)."""

    classifier: Any
    checkpoint: Any
    defense: str | None


def load_classifier(path: str, *, device: str, threat: str = DEFAULT_THREAT) -> Loaded:
    """Load a checkpoint and build the classifier the ``threat`` model attacks.

    Raises
    ------
    CheckpointError
        Missing or unreadable checkpoint.
    """
    from artgenre.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, device=device)
    kw = ckpt.build_kwargs or {}
    size = int(kw.get("input_size", 128))
    features = ckpt.config.get("features") if isinstance(ckpt.config, dict) else None
    classifier = threat_model(threat).classifier(ckpt.model, device=device, model_input_shape=(1, size, size),
                                                 nb_classes=int(kw.get("num_classes", 10)), features=features)
    d = ckpt.config.get("defense") if isinstance(ckpt.config, dict) else None
    if isinstance(d, dict):
        d = d.get("name")
    return Loaded(classifier=classifier, checkpoint=ckpt, defense=d if isinstance(d, str) and d else None)


def load_checkpoint_data(*, checkpoint, progress: bool = True):
    """Reload the dataset a checkpoint was trained on, from its ``config["data"]``.

    Raises
    ------
    CheckpointError
        The checkpoint's config has no usable ``data`` entry.
    """
    from artgenre.data import DataConfig, load_dataset

    cfg = checkpoint.config.get("data") if isinstance(checkpoint.config, dict) else None
    if not isinstance(cfg, dict):
        raise CheckpointError(
            f"checkpoint {str(checkpoint.path)!r} has no data configuration (config['data']); "
            "cannot reload its test split"
        )
    try:
        data_config = DataConfig.from_dict(cfg)
    except ParameterError as exc:
        raise CheckpointError(f"checkpoint {str(checkpoint.path)!r} has an invalid data configuration: {exc}") from None
    return load_dataset(**data_config.loader_kwargs(), progress=progress)


def check_fits(*, classifier, shape, n_classes: int, what: str, where: str) -> None:
    """Raise `DataError` unless ``classifier`` takes inputs of ``shape`` and has ``n_classes``.

    ``what`` names the model (e.g. "the model of 'x.pt'"), ``where`` the data (e.g. "the test
    split of 'synth'").
    """
    if tuple(classifier.input_shape) != tuple(shape):
        raise DataError(f"{what} expects inputs {tuple(classifier.input_shape)}, but {where} has segments of "
                        f"shape {tuple(shape)}")
    if int(classifier.nb_classes) != int(n_classes):
        raise DataError(f"{what} has {classifier.nb_classes} classes, but {where} has {n_classes}")


@contextlib.contextmanager
def hold_results_folder(out: str | Path, *, command: str) -> Iterator[Path]:
    """Hold ``out``'s write lock (`artgenre.lock.folder_lock`) for the ``with`` block and, on
    entry, delete the temporary files of killed writers anywhere below it: while the lock is
    held no other process writes there, and this process has no write under way yet.

    For entry points (the CLI commands, `artgenre.pipeline.run_pipeline`), not for the stage
    functions they call, which may run in worker processes of a driver holding the lock.

    Raises
    ------
    artgenre.lock.FolderLockedError
        Another live process holds the folder.
    """
    from artgenre.io import remove_stale_temps
    from artgenre.lock import folder_lock

    with folder_lock(out, command=command):
        remove_stale_temps(out, recursive=True)
        yield Path(out)


def merge_cells(cells: list[dict], earlier: list[dict]) -> list[dict]:
    """This run's ``cells`` followed by the ``earlier`` cells (of the same resumed result) that it
    did not request, so that a narrower attack list or ε grid adds to a result file instead of
    dropping what it held. Cells are matched on (attack, ε, adaptive, threat, norm)."""
    from artgenre.attacks.cells import find_cell

    kept = [c for c in earlier if isinstance(c, dict) and isinstance(c.get("attack"), str)
            and isinstance(c.get("eps"), (int, float))
            and find_cell(cells, c["attack"], c["eps"], bool(c.get("adaptive")), c.get("threat", DEFAULT_THREAT),
                          c.get("norm", "inf")) is None]
    return list(cells) + kept


#: Config keys that say where files are, not what was computed: a results folder that was
#: moved or copied (or a feature cache elsewhere) must resume, not recompute.
LOCATION_KEYS = ("out", "baseline_checkpoint", "cache_dir")


def drop_keys(value: Any, keys: tuple[str, ...]) -> Any:
    """``value`` (JSON values) without the dict entries named in ``keys``, at every depth."""
    if isinstance(value, dict):
        return {k: drop_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [drop_keys(v, keys) for v in value]
    return value


def without_locations(value: Any) -> Any:
    """``value`` (JSON values) with the `LOCATION_KEYS` removed at every depth."""
    return drop_keys(value, LOCATION_KEYS)


def checkpoint_digest(checkpoint) -> str | None:
    """SHA-256 of what a loaded `artgenre.checkpoint.Checkpoint` computes with: model name,
    architecture, weights and its config without locations (so a copied checkpoint in a moved
    folder has the same digest, and retrained weights another). None for None."""
    if checkpoint is None:
        return None
    h = hashlib.sha256()
    h.update(json.dumps({"model": checkpoint.model_name, "build": checkpoint.build_kwargs,
                         "config": without_locations(json_values(checkpoint.config))}, sort_keys=True).encode())
    for name, tensor in sorted(checkpoint.model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def json_values(obj: Any) -> Any:
    """``obj`` as plain JSON values (dataclasses, numpy, paths converted; NaN → None)."""
    return json.loads(json.dumps(to_jsonable(obj)))


#: Keys (at any depth) that differ between two runs computing the same thing: timings, run
#: metadata, the config (what matters of it is in ``resume_key``) and file locations.
UNCHANGED_KEYS = ("meta", "seconds", "calibration_seconds", "config", "checkpoint", "result")


class ResultWriter:
    """Writes one result file atomically, again after every cell (``complete: false`` until the
    last write), so a killed run leaves a valid file that a rerun resumes from.

    Parameters
    ----------
    path : Path
        The result JSON.
    base : dict
        Fields of every write (``kind``, ``config``, ``meta``, ...); ``schema_version`` is added.
    started : float, optional
        ``time.perf_counter()`` when the run started (default: now), for `seconds`.
    previous : dict, optional
        The complete result being resumed: a final write that would change nothing in it but
        `UNCHANGED_KEYS` leaves the file alone (and returns ``previous``), so rerunning a
        finished run, in a moved folder too, writes nothing.
    """

    def __init__(self, *, path: str | Path, base: dict, started: float | None = None,
                 previous: dict | None = None) -> None:
        self.path = Path(path)
        self.base = {**base, "schema_version": SCHEMA_VERSION}
        self.t_start = time.perf_counter() if started is None else started
        self.previous = previous if isinstance(previous, dict) and previous.get("complete") else None

    def write(self, *, complete: bool, **fields) -> dict:
        """Write ``base`` + ``fields`` + ``complete``; returns the JSON values written."""
        result = json_values({**self.base, **fields, "complete": complete})
        if complete and self.previous is not None and drop_keys(result, UNCHANGED_KEYS) == drop_keys(self.previous, UNCHANGED_KEYS):
            return self.previous
        atomic_write_json(self.path, result)
        return result

    def seconds(self) -> float:
        """Seconds since the writer was made (the run's wall time so far)."""
        return time.perf_counter() - self.t_start


__all__ = [
    "Loaded", "ResultWriter", "SCHEMA_VERSION", "check_fits", "hold_results_folder", "choose_samples", "eps_key", "json_values",
    "load_checkpoint_data", "load_classifier", "merge_cells", "parse_eps", "same_eps", "checkpoint_digest", "drop_keys", "without_locations",
    "stratified_order",
]
