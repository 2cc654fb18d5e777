"""THE training loop `fit` (shared by standard and adversarial training) and `FitResult`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from artgenre.art_adapter import reset_train_stats, train_stats
from artgenre.errors import DataError
from artgenre.evaluation import as_float32, cross_entropy, predict_logits
from artgenre.runtime import log, progress as progress_bar

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
    config,
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
    config : artgenre.training.TrainConfig
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
    with progress_bar(disable=not progress) as bar:
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
