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

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.art_adapter import as_art_classifier, reset_train_stats, train_stats
from artgenre.checkpoint import save_checkpoint
from artgenre.data import DataConfig
from artgenre.errors import DataError, ParameterError, check_choice, check_device_name, check_int, check_range
from artgenre.evaluation import as_float32, cross_entropy, evaluate, predict_logits
from artgenre.io import atomic_write_json, read_result, to_jsonable
from artgenre.runtime import log, progress as progress_bar, run_metadata, seed_everything

PROFILES: dict[str, dict[str, Any]] = {
    "paper": {
        "epochs": 100, "patience": 20, "lr": 1e-3, "weight_decay": 1e-4,
        "batch_size": 64, "lr_factor": 0.5, "lr_patience": 5,
    },
    "quick": {
        "epochs": 5, "patience": 3, "lr": 1e-3, "weight_decay": 1e-4,
        "batch_size": 32, "lr_factor": 0.5, "lr_patience": 2,
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (saved in the checkpoint and the result).

    Attributes
    ----------
    model : str
        `artgenre.models.MODELS` key.
    data : DataConfig
        Reloads the same splits: ``load_dataset(**data.loader_kwargs())``.
    profile : str
        `PROFILES` key the defaults came from.
    epochs : int
        Maximum number of epochs (>= 1).
    patience : int
        Early stopping: epochs without a better score before stopping (>= 1).
    lr, weight_decay : float
        Adam learning rate (> 0) and weight decay (>= 0).
    batch_size : int
        Training batch size (>= 1).
    lr_factor : float
        ReduceLROnPlateau factor, in (0, 1).
    lr_patience : int
        ReduceLROnPlateau patience in epochs (>= 0).
    seed : int
        Seeds Python, NumPy and PyTorch (>= 0).
    device : str
        ``"auto" | "cpu" | "cuda" | "cuda:N"``.
    pretrained : bool
        ImageNet initialisation (``resnet18`` only).
    weights_path : str or None
        Local ImageNet weights file (implies ``pretrained``).
    out : str
        Output folder: ``<out>/train-<model>.json`` and ``<out>/checkpoints/<model>.pt``.
    eval_batch_size : int
        Batch size for validation/test forward passes (>= 1).
    """

    model: str = "cnn"
    data: DataConfig = field(default_factory=DataConfig)
    profile: str = "quick"
    epochs: int = PROFILES["quick"]["epochs"]
    patience: int = PROFILES["quick"]["patience"]
    lr: float = PROFILES["quick"]["lr"]
    weight_decay: float = PROFILES["quick"]["weight_decay"]
    batch_size: int = PROFILES["quick"]["batch_size"]
    lr_factor: float = PROFILES["quick"]["lr_factor"]
    lr_patience: int = PROFILES["quick"]["lr_patience"]
    seed: int = 0
    device: str = "auto"
    pretrained: bool = False
    weights_path: str | None = None
    out: str = "results"
    eval_batch_size: int = 128

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Rebuild (and re-validate) a config from its saved JSON form."""
        d = dict(d)
        return make_train_config(profile=d.pop("profile", "quick"), **d)


_int = check_int


_device_name = check_device_name


def _data_config(value) -> DataConfig:
    if value is None:
        return DataConfig()
    if isinstance(value, DataConfig):
        return value
    if isinstance(value, dict):
        return DataConfig.from_dict(value)
    raise ParameterError(f"data={value!r} is not valid; expected a DataConfig or a dict of its fields")


def make_train_config(*, profile: str = "quick", **overrides) -> TrainConfig:
    """A validated `TrainConfig`: `PROFILES[profile]` values, then ``overrides``.

    Overrides set to None are ignored (so CLI options left out fall back to the profile).
    ``weights_path`` implies ``pretrained=True``.

    Raises
    ------
    ParameterError
        Unknown profile, field or model; out-of-range values (epochs < 1, lr <= 0,
        lr_factor outside (0, 1), ...); ``pretrained`` for a model without weights.
    """
    from artgenre.models import MODELS, has_pretrained

    check_choice("profile", profile, PROFILES)
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"profile"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ParameterError(
            f"unknown training option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(known))}"
        )
    values = {**PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}}

    model = values.get("model", "cnn")
    MODELS[model]
    weights_path = values.get("weights_path")
    pretrained = bool(values.get("pretrained", False)) or weights_path is not None
    if pretrained and not has_pretrained(model):
        with_weights = ", ".join(name for name in MODELS if has_pretrained(name))
        raise ParameterError(
            f"model {model!r} has no pretrained weights (pretrained/weights_path given); "
            f"models with them: {with_weights}"
        )
    lr_factor = check_range("lr_factor", values["lr_factor"], low=0.0, high=1.0, low_open=True, high_open=True)
    return TrainConfig(
        model=model,
        data=_data_config(values.get("data")),
        profile=profile,
        epochs=_int("epochs", values["epochs"], 1),
        patience=_int("patience", values["patience"], 1),
        lr=check_range("lr", values["lr"], low=0.0, low_open=True),
        weight_decay=check_range("weight_decay", values["weight_decay"], low=0.0),
        batch_size=_int("batch_size", values["batch_size"], 1),
        lr_factor=lr_factor,
        lr_patience=_int("lr_patience", values["lr_patience"], 0),
        seed=_int("seed", values.get("seed", 0), 0),
        device=_device_name(values.get("device", "auto")),
        pretrained=pretrained,
        weights_path=None if weights_path is None else str(weights_path),
        out=str(values.get("out", "results")),
        eval_batch_size=_int("eval_batch_size", values.get("eval_batch_size", 128), 1),
    )


@dataclass(frozen=True)
class FitResult:
    """What `fit` did.

    Attributes
    ----------
    history : list of dict
        One row per epoch: ``epoch`` (1-based), ``train_loss``, ``train_acc`` (running values
        over the epoch's batches, in training mode; NaN if ``epoch_fn`` bypassed the
        classifier's loss), ``val_loss``, ``val_acc`` (eval mode), ``lr`` (used in that
        epoch), ``score``, ``seconds`` (epoch wall time including validation).
    best_epoch : int
        Epoch whose weights were restored.
    epochs_run : int
    stopped_early : bool
    train_seconds : float
        Wall time of the whole loop, validation included.
    ms_per_sample : float
        Milliseconds of ``epoch_fn`` time per training sample processed
        (``1000 * sum(epoch_fn seconds) / (epochs_run * n_train)``).
    """

    history: list
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    train_seconds: float
    ms_per_sample: float


def default_epoch_fn(classifier, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    """One epoch of plain ART training (shuffled mini-batches, training mode)."""
    # A final batch of one sample breaks BatchNorm in training mode; drop it in that case only.
    classifier.fit(x, y, batch_size=batch_size, nb_epochs=1, verbose=False, drop_last=len(x) % batch_size == 1)


def fit(
    *,
    classifier,
    data,
    config: TrainConfig,
    epoch_fn: Callable | None = None,
    score_fn: Callable | None = None,
    progress: bool = True,
) -> FitResult:
    """Train ``classifier`` on ``data.train``, selecting weights on ``data.val``.

    Per epoch: ``epoch_fn(classifier, x_train, y_train, batch_size)``; validation loss and
    accuracy in eval mode; ``ReduceLROnPlateau(factor=config.lr_factor,
    patience=config.lr_patience).step(val_loss)`` on ``classifier.optimizer``; the score
    (``score_fn(classifier)``, higher is better; default ``-val_loss``) drives early stopping
    with ``config.patience`` and best-weight tracking. The best weights are restored at the
    end. The caller seeds (see `seed_everything`); this loop draws from the global RNGs only.

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        Typically from `as_art_classifier`; trained in place.
    data : artgenre.data.Dataset (or any object with ``train`` and ``val`` `Split` attributes)
        ``x`` of shape (N, C, H, W) float32 in [0, 1], ``y`` of shape (N,) int.
    config : TrainConfig
        Uses ``epochs``, ``patience``, ``batch_size``, ``lr_factor``, ``lr_patience``,
        ``eval_batch_size``.
    epoch_fn : callable, optional
        Trains one epoch; default `default_epoch_fn`. Adversarial training passes e.g.
        ``lambda clf, x, y, bs: trainer.fit(x, y, nb_epochs=1, batch_size=bs)``.
    score_fn : callable, optional
        ``score_fn(classifier) -> float``, evaluated after each epoch (model in eval mode).
    progress : bool
        Show a progress bar (stderr, terminals only).

    Returns
    -------
    FitResult

    Raises
    ------
    DataError
        Empty training or validation split.
    """
    import torch

    epoch_fn = epoch_fn or default_epoch_fn
    x_train, y_train = as_float32(data.train.x), np.asarray(data.train.y, dtype=np.int64)
    y_val = np.asarray(data.val.y, dtype=np.int64)
    if len(x_train) == 0 or len(y_val) == 0:
        raise DataError(
            f"training needs non-empty train and val splits; got {len(x_train)} train and "
            f"{len(y_val)} val segments"
        )
    model = classifier.model
    optimizer = classifier.optimizer
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )

    history: list[dict] = []
    best_score, best_epoch, best_state = -np.inf, 0, None
    bad_epochs, fit_seconds = 0, 0.0
    stopped_early = False
    start = time.perf_counter()
    with _progress_bar(progress) as bar:
        task = bar.add_task(f"train {config.model}", total=config.epochs)
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            reset_train_stats(classifier)
            epoch_fn(classifier, x_train, y_train, config.batch_size)
            fit_seconds += time.perf_counter() - t0
            stats = train_stats(classifier) or {"loss": float("nan"), "accuracy": float("nan")}

            model.eval()
            logits = predict_logits(classifier, data.val.x, batch_size=config.eval_batch_size)
            val_loss = cross_entropy(logits, y_val)
            val_acc = float((logits.argmax(axis=1) == y_val).mean())
            scheduler.step(val_loss)
            score = float(score_fn(classifier)) if score_fn is not None else -val_loss
            model.eval()

            # NaN never compares greater, so a diverged epoch is never kept as the best.
            if score > best_score or best_state is None:
                best_score, best_epoch, bad_epochs = score, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
            row = {
                "epoch": epoch,
                "train_loss": stats["loss"],
                "train_acc": stats["accuracy"],
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": lr,
                "score": score,
                "seconds": time.perf_counter() - t0,
            }
            history.append(row)
            desc = (
                f"{config.model} ep {epoch} train {row['train_loss']:.3f}/{row['train_acc']:.2f} "
                f"val {val_loss:.3f}/{val_acc:.2f}"
            )
            bar.update(task, advance=1, description=desc)
            log.info("epoch %d/%d: %s (lr %.2g)", epoch, config.epochs, desc, lr)
            if bad_epochs >= config.patience:
                stopped_early = epoch < config.epochs
                log.info("early stop after epoch %d; best epoch %d", epoch, best_epoch)
                break

    model.load_state_dict(best_state)
    model.eval()
    epochs_run = len(history)
    return FitResult(
        history=history,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        stopped_early=stopped_early,
        train_seconds=time.perf_counter() - start,
        ms_per_sample=1000.0 * fit_seconds / (epochs_run * len(x_train)),
    )


def _progress_bar(show: bool):
    return progress_bar(disable=not show)


def result_path(out, stem: str) -> Path:
    """``<out>/train-<stem>.json`` (stem: ``<model>`` or ``<model>-<defense>``)."""
    return Path(out) / f"train-{stem}.json"


def checkpoint_path(out, stem: str) -> Path:
    """``<out>/checkpoints/<stem>.pt``."""
    return Path(out) / "checkpoints" / f"{stem}.pt"


def load_finished_result(out, stem: str, config) -> dict | None:
    """The saved result ``train-<stem>.json`` if it was produced by exactly ``config`` and
    its checkpoint still exists; else None (the caller retrains)."""
    path = result_path(out, stem)
    old = read_result(path, kind="train")
    if old is None:
        return None
    if old.get("config") != json.loads(json.dumps(to_jsonable(config))):
        log.info("%s was made with another configuration; retraining", path)
        return None
    if not Path(old.get("checkpoint") or "").is_file():
        log.info("checkpoint of %s is missing; retraining", path)
        return None
    return old


def save_training_result(
    *,
    classifier,
    data,
    fit_result: FitResult,
    config,
    out,
    model_name: str,
    stem: str,
    build_kwargs: dict,
    defense: str | None = None,
    extra: dict | None = None,
    eval_batch_size: int = 128,
) -> dict:
    """Evaluate a trained classifier on val and test and write checkpoint + result.

    Writes ``<out>/checkpoints/<stem>.pt`` (`save_checkpoint`) and ``<out>/train-<stem>.json``
    (``kind: "train"``, schema in docs/design.md), both atomically.

    Parameters
    ----------
    classifier : ART PyTorchClassifier
        Trained; evaluated through its own predict (so attached preprocessing defences apply).
    data : artgenre.data.Dataset
    fit_result : FitResult
    config : dataclass or dict
        Saved as ``config`` in both files; must carry ``data`` so later stages reload splits.
    out : str or Path
    model_name : str
        `MODELS` key.
    stem : str
        File stem: ``model_name`` for standard training, ``f"{model}-{defense}"`` for defenses.
    build_kwargs : dict
        `build_model` arguments to rebuild the architecture (``num_classes``, ``input_size``).
    defense : str, optional
        Stored as ``defense`` (None for standard training).
    extra : dict, optional
        More top-level fields for the result (e.g. the inner attack of adversarial training).
    eval_batch_size : int

    Returns
    -------
    dict
        The result as written (JSON values).
    """
    from artgenre.models import count_parameters

    metrics = {
        name: evaluate(
            logits=predict_logits(classifier, split.x, batch_size=eval_batch_size),
            y=split.y,
            track=split.track,
            n_classes=data.n_classes,
        )
        for name, split in (("val", data.val), ("test", data.test))
    }
    ckpt = save_checkpoint(
        checkpoint_path(out, stem),
        model=classifier.model,
        model_name=model_name,
        config=config,
        metrics=metrics,
        build_kwargs=build_kwargs,
    )
    result = {
        "kind": "train",
        "config": config,
        "meta": run_metadata(),
        "model": model_name,
        "dataset": data.name,
        "defense": defense,
        "metrics": metrics,
        "epochs_run": fit_result.epochs_run,
        "best_epoch": fit_result.best_epoch,
        "stopped_early": fit_result.stopped_early,
        "train_seconds": fit_result.train_seconds,
        "ms_per_sample": fit_result.ms_per_sample,
        "n_params": count_parameters(classifier.model),
        "history": fit_result.history,
        "checkpoint": str(ckpt),
        **(extra or {}),
    }
    result = json.loads(json.dumps(to_jsonable(result)))
    atomic_write_json(result_path(out, stem), result)
    return result


def build_classifier(*, config: TrainConfig, data, preprocessing_defences=None):
    """Build ``config.model`` for ``data``'s input shape and wrap it with `as_art_classifier`.

    Returns
    -------
    (classifier, build_kwargs) : tuple
        ``build_kwargs`` rebuilds the same architecture (for `save_checkpoint`).
    """
    from artgenre.models import build_model

    shape = tuple(int(s) for s in data.train.x.shape[1:])
    if len(shape) != 3 or shape[1] != shape[2]:
        raise DataError(f"training expects square (C, H, H) inputs; got segments of shape {shape}")
    build_kwargs = {"num_classes": int(data.n_classes), "input_size": shape[-1]}
    model = build_model(
        name=config.model, pretrained=config.pretrained, weights_path=config.weights_path, **build_kwargs
    )
    classifier = as_art_classifier(
        model,
        device=config.device,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        input_shape=shape,
        nb_classes=int(data.n_classes),
        preprocessing_defences=preprocessing_defences,
    )
    return classifier, build_kwargs


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
