"""Files of a trained model: the checkpoint and the ``kind: "train"`` result, for standard
training and for defenses alike."""

from __future__ import annotations

import json
from pathlib import Path

from artgenre.art_adapter import as_art_classifier
from artgenre.checkpoint import save_checkpoint
from artgenre.errors import DataError
from artgenre.evaluation import evaluate, predict_logits
from artgenre.io import atomic_write_json, conflict_error, read_result, to_jsonable
from artgenre.runs import SCHEMA_VERSION, drop_keys, without_locations
from artgenre.runtime import log, run_metadata

def result_path(out, stem: str) -> Path:
    """``<out>/train-<stem>.json`` (stem: ``<model>`` or ``<model>-<defense>``)."""
    return Path(out) / f"train-{stem}.json"


def checkpoint_path(out, stem: str) -> Path:
    """``<out>/checkpoints/<stem>.pt``."""
    return Path(out) / "checkpoints" / f"{stem}.pt"


def resolve_checkpoint(result: dict, *, out, stem: str) -> Path:
    """The checkpoint of a train result: its recorded path, or ``<out>/checkpoints/<stem>.pt``
    when the results folder has moved since (the recorded path no longer exists)."""
    recorded = Path(result.get("checkpoint") or "")
    return recorded if recorded.is_file() else checkpoint_path(out, stem)


#: Config keys that say how a model is computed, not which model: another device or
#: evaluation batch size reuses a trained model instead of conflicting with it.
RUN_KEYS = ("device", "eval_batch_size")


def training_identity(config) -> dict:
    """What identifies a trained model in its config: the JSON values without locations
    (`without_locations`) and without `RUN_KEYS`, at every depth."""
    return drop_keys(without_locations(json.loads(json.dumps(to_jsonable(config)))), RUN_KEYS)


def load_finished_result(out, stem: str, config) -> dict | None:
    """The saved result ``train-<stem>.json`` if it was produced by ``config`` (`training_identity`)
    and its checkpoint still exists; None when there is none (or its checkpoint is gone: the
    caller retrains). The returned result's ``checkpoint`` is where the file is now.

    Raises
    ------
    artgenre.io.ResultConflictError
        ``train-<stem>.json`` holds a model trained with another configuration (it is never
        overwritten); the message names the file, the differing fields and the fixes.
    """
    path = result_path(out, stem)
    old = read_result(path, kind="train")
    if old is None:
        return None
    if training_identity(old.get("config")) != training_identity(config):
        raise conflict_error(path, kind="train", saved=training_identity(old.get("config")),
                             wanted=training_identity(config))
    ckpt = resolve_checkpoint(old, out=out, stem=stem)
    if not ckpt.is_file():
        log.info("checkpoint of %s is missing; retraining", path)
        return None
    return {**old, "checkpoint": str(ckpt)}


def save_training_result(
    *,
    classifier,
    data,
    fit_result,
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
        "schema_version": SCHEMA_VERSION,
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


def build_classifier(*, config, data, preprocessing_defences=None):
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
