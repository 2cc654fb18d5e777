"""Checks that run before any work starts: every config is built (so validated, in its own
``__post_init__``), output folders are writable, and no existing result of another
configuration would be overwritten.

The CLI commands call `validate_training`, `validate_attack` and `validate_defense` before they
take the folder lock; `artgenre.pipeline.run_pipeline` calls `validate_pipeline` first. None of
them creates or writes anything, so a refused command leaves nothing half written.
"""

from __future__ import annotations

import os
from pathlib import Path

from artgenre.errors import CheckpointError, ParameterError


def check_writable_folder(path: str | os.PathLike | None, *, option: str = "--out") -> None:
    """Raise unless ``path`` is a folder this process can write into, or can create.

    Nothing is created: the nearest existing ancestor must be a writable folder.

    Parameters
    ----------
    path : path or None
        The folder (None: nothing to check).
    option : str
        The option that named it, for the message (``--out``, ``--cache-dir``).

    Raises
    ------
    ParameterError
        ``path`` is an existing file, lies below a file, or cannot be written or created.
    """
    if path is None:
        return
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"{option} {str(path)!r} is an existing file, not a folder; choose a folder path")
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ParameterError(f"{option} {str(path)!r} cannot be created: {str(probe)!r} is a file; "
                             "choose a folder path")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "is not writable" if probe == folder else f"cannot be created ({str(probe)!r} is not writable)"
        raise ParameterError(f"{option} {str(path)!r} {what}; choose a folder you can write to")


def _check_checkpoint(path: str | None, *, option: str) -> None:
    if path is not None and not Path(path).is_file():
        raise CheckpointError(f"{option} {str(path)!r} does not exist; give a .pt file written by `artgenre train` "
                              "(e.g. results/checkpoints/cnn.pt)")


def validate_training(config) -> None:
    """Check a `artgenre.training.TrainConfig` run before it starts.

    Raises
    ------
    ParameterError
        ``config`` is not a `TrainConfig`; ``out`` or the data cache folder cannot be written;
        ``<out>/train-<model>.json`` holds a model of another configuration
        (`artgenre.io.ResultConflictError`).
    """
    from artgenre.training import TrainConfig, load_finished_result

    if not isinstance(config, TrainConfig):
        raise ParameterError(f"config must be a TrainConfig (see make_train_config); got {type(config).__name__}")
    check_writable_folder(config.out)
    check_writable_folder(config.data.cache_dir, option="--cache-dir")
    if config.weights_path is not None and not Path(config.weights_path).is_file():
        raise ParameterError(f"--weights {config.weights_path!r} does not exist; give a local ImageNet .pth file")
    load_finished_result(config.out, config.model, config)


def validate_attack(config) -> None:
    """Check an `artgenre.attacks.run.AttackConfig` run before it starts.

    Raises
    ------
    ParameterError
        ``config`` is not an `AttackConfig`, or ``out`` cannot be written.
    CheckpointError
        A checkpoint (target or source) does not exist.
    """
    from artgenre.attacks.run import AttackConfig

    if not isinstance(config, AttackConfig):
        raise ParameterError(f"config must be an AttackConfig; got {type(config).__name__}")
    check_writable_folder(config.out)
    _check_checkpoint(config.checkpoint, option="--checkpoint")
    _check_checkpoint(config.source_checkpoint, option="--source-checkpoint")


def validate_defense(config) -> None:
    """Check an `artgenre.defenses.DefenseConfig` run before it starts.

    Raises
    ------
    ParameterError
        ``config`` is not a `DefenseConfig`; ``out`` or the data cache folder cannot be
        written.
    """
    from artgenre.defenses import DefenseConfig

    if not isinstance(config, DefenseConfig):
        raise ParameterError(f"config must be a DefenseConfig (see make_defense_config); got {type(config).__name__}")
    check_writable_folder(config.out)
    check_writable_folder(config.data.cache_dir, option="--cache-dir")


def validate_pipeline(config) -> None:
    """Check a whole `artgenre.pipeline.PipelineConfig` run before any unit starts.

    Builds every stage's config (`artgenre.grid.build_units`: each training, attack, transfer
    and defense config validates itself), checks that ``out`` (and each seed folder) and the
    cache folder can be written, and that no training result there was made with another
    configuration.

    Raises
    ------
    ParameterError
        Any invalid stage field (e.g. ``epochs=-2``), an unwritable folder, or a conflicting
        training result (`artgenre.io.ResultConflictError`, naming the file and fields).
    """
    from artgenre.grid import build_units, seed_folders, train_unit

    check_writable_folder(config.out)
    check_writable_folder(config.cache_dir, option="--cache-dir")
    for _seed, folder in seed_folders(config):
        check_writable_folder(folder)
    for unit in build_units(config, cpus=1):
        if unit.fn is train_unit:
            validate_training(unit.kwargs["config"])


__all__ = ["check_writable_folder", "validate_attack", "validate_defense", "validate_pipeline",
           "validate_training"]
