"""Standard training: configs, profiles, THE training loop `fit`, and result/checkpoint writing.

Recipe (profile ``paper``, the seed paper's): Adam (lr 1e-3, weight decay 1e-4),
ReduceLROnPlateau on validation loss (factor 0.5, patience 5), at most 100 epochs, early
stopping with patience 20 restoring the best-validation weights, batch size 64. Profile
``quick`` keeps the recipe for CPU budgets: at most 5 epochs, early-stop patience 3, LR patience
2, batch size 32. Every value can be overridden (`make_train_config`, ``artgenre train``).

`fit` is shared with adversarial training (`artgenre.defenses`): it only needs an ``epoch_fn``
that trains one epoch and, optionally, a ``score_fn`` to select the kept weights.
`save_training_result` writes the checkpoint and the ``kind: "train"`` result for any trained
classifier, so defenses produce the same files as standard training.
"""

from __future__ import annotations

from artgenre.errors import ParameterError
from artgenre.runtime import log, seed_everything
from artgenre.training.config import PROFILES, TrainConfig, make_train_config
from artgenre.training.loop import FitResult, default_epoch_fn, fit
from artgenre.training.results import (
    build_classifier,
    checkpoint_path,
    load_finished_result,
    resolve_checkpoint,
    result_path,
    save_training_result,
    without_locations,
)

__all__ = [
    "FitResult", "PROFILES", "TrainConfig", "build_classifier", "checkpoint_path", "default_epoch_fn", "fit",
    "load_finished_result", "make_train_config", "resolve_checkpoint", "result_path", "run_training",
    "save_training_result", "without_locations",
]


def run_training(config: TrainConfig, *, data=None, progress: bool = True) -> dict:
    """Train ``config.model`` with the standard recipe, evaluate it, and save both files.

    Resumes: if ``<out>/train-<model>.json`` exists with an identical config and its
    checkpoint exists, it is returned without retraining.

    Parameters
    ----------
    config : TrainConfig
    data : artgenre.data.Dataset, optional
        Already-loaded data (tests, pipelines); default
        ``load_dataset(**config.data.loader_kwargs())``.
    progress : bool

    Returns
    -------
    dict
        The ``kind: "train"`` result (docs/design.md).
    """
    if not isinstance(config, TrainConfig):
        raise ParameterError(f"config must be a TrainConfig (see make_train_config); got {type(config).__name__}")
    seed_everything(config.seed)
    finished = load_finished_result(config.out, config.model, config)
    if finished is not None:
        log.info("%s already trained with this configuration; loaded %s",
                 config.model, result_path(config.out, config.model))
        return finished
    if data is None:
        from artgenre.data import load_dataset

        data = load_dataset(**config.data.loader_kwargs())
    # Reseed so the initial weights do not depend on whether the data came from the cache.
    seed_everything(config.seed)
    classifier, build_kwargs = build_classifier(config=config, data=data)
    fit_result = fit(classifier=classifier, data=data, config=config, progress=progress)
    return save_training_result(
        classifier=classifier,
        data=data,
        fit_result=fit_result,
        config=config,
        out=config.out,
        model_name=config.model,
        stem=config.model,
        build_kwargs=build_kwargs,
        eval_batch_size=config.eval_batch_size,
    )
