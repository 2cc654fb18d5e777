"""The models a defense run evaluates: the clean baseline and, for training defenses, the
defended weights (trained once, then loaded while their configuration is unchanged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from artgenre.errors import DataError, ParameterError
from artgenre.io import read_json, to_jsonable
from artgenre.runs import json_values
from artgenre.runtime import log, seed_everything


@dataclass(frozen=True)
class DefendedModel:
    """A trained network plus the facts the result needs about how it was obtained.

    Attributes
    ----------
    model : torch.nn.Module
        Returns logits; in eval mode.
    train_result : dict
        Its ``kind: "train"`` result (``train_seconds``, ``checkpoint``, ``meta``, ...).
    input_shape : tuple of int
        ``(C, H, W)`` of one input.
    n_classes : int
    """

    model: Any
    train_result: dict
    input_shape: tuple[int, ...]
    n_classes: int


def _same_data(saved: Any, wanted) -> bool:
    """Whether a saved data config describes the same splits (paths may differ)."""
    from artgenre.data import DataConfig

    try:
        saved = DataConfig.from_dict(saved) if isinstance(saved, dict) else saved
    except ParameterError:
        return False
    keys = ("dataset", "split_scheme", "seed", "options")
    return isinstance(saved, DataConfig) and all(getattr(saved, k) == getattr(wanted, k) for k in keys)


def load_baseline(*, config, data, progress: bool = True) -> DefendedModel:
    """The clean model: ``<out>/train-<model>.json`` and its checkpoint, trained if absent.

    Raises
    ------
    DataError
        The saved baseline was trained on other data (dataset, split scheme, seed or options).
    CheckpointError
        Its checkpoint is missing or unreadable.
    """
    from artgenre.checkpoint import load_checkpoint
    from artgenre.training import make_train_config, resolve_checkpoint, result_path, run_training

    path = result_path(config.out, config.model)
    if path.is_file():
        result = read_json(path)
        if not isinstance(result, dict) or result.get("kind") != "train" or not result.get("checkpoint"):
            raise DataError(f"{str(path)!r} is not a training result with a checkpoint; delete it to retrain")
        saved_data = (result.get("config") or {}).get("data")
        if not _same_data(saved_data, config.data):
            raise DataError(
                f"baseline {str(path)!r} was trained on data {saved_data!r}, but this defense uses "
                f"{to_jsonable(config.data)!r}; use another --out folder or the same data options"
            )
        log.info("baseline %s: using %s", config.model, path)
    else:
        log.info("baseline %s not found in %s; training it first", config.model, config.out)
        train_config = make_train_config(profile=config.profile, model=config.model, data=config.data,
                                         seed=config.seed, device=config.device, out=config.out)
        result = run_training(train_config, data=data, progress=progress)
    result = {**result, "checkpoint": str(resolve_checkpoint(result, out=config.out, stem=config.model))}
    ckpt = load_checkpoint(result["checkpoint"], device=config.device, expected_model=config.model)
    size = int(ckpt.build_kwargs.get("input_size", data.train.x.shape[-1]))
    return DefendedModel(model=ckpt.model, train_result=result, input_shape=(1, size, size),
                         n_classes=int(ckpt.build_kwargs.get("num_classes", data.n_classes)))


def training_record(config, baseline: DefendedModel | None) -> dict:
    """The ``config`` stored with a defended model: only what its weights depend on, so that
    changing the evaluation (attacks, ε, limit, attack parameters) never forces retraining.

    Returns
    -------
    dict
        JSON values: ``model``, ``defense``, ``data``, ``train`` (a `TrainConfig`), ``init``,
        ``baseline_checkpoint`` / ``baseline_created`` (fine-tuning only), ``inner_attack``,
        ``ratio`` and the defense's own fields (`Defense.record_fields`: ``squeeze_bit_depth``,
        ``guard_size``).
    """
    from artgenre.training import make_train_config

    train = make_train_config(
        profile=config.profile, model=config.model, data=config.data, epochs=config.epochs,
        batch_size=config.batch_size, seed=config.seed, device=config.device, out=config.out,
        eval_batch_size=config.eval_batch_size,
    )
    finetune = config.init == "finetune" and baseline is not None
    return json_values({
        "model": config.model,
        "defense": config.defense,
        "data": config.data,
        "train": train,
        "init": config.init,
        # A retrained baseline (same path, new weights) must invalidate a fine-tuned model.
        "baseline_checkpoint": baseline.train_result.get("checkpoint") if finetune else None,
        "baseline_created": (baseline.train_result.get("meta") or {}).get("created") if finetune else None,
        "inner_attack": config.inner,
        "ratio": config.ratio,
        **config.strategy.record_fields(config),
    })


def train_defended(*, config, data, baseline: DefendedModel, progress: bool = True) -> DefendedModel:
    """Adversarially train the defended model, or load it if an identical run finished.

    Seeds with ``config.seed``, builds ``config.model`` (with the strategy's training
    preprocessing attached), copies the baseline's weights for ``init="finetune"``, and runs
    `adversarial_fit` with the strategy's model selection. Writes
    ``<out>/train-<model>-<defense>.json`` (``kind: "train"``, ``defense`` set) and
    ``<out>/checkpoints/<model>-<defense>.pt`` with the training helper's writer.
    """
    from artgenre.checkpoint import load_checkpoint
    from artgenre.defenses.adversarial import adversarial_fit
    from artgenre.training import TrainConfig, build_classifier, load_finished_result, save_training_result

    strategy = config.strategy
    stem = f"{config.model}-{config.defense}"
    record = training_record(config, baseline)
    finished = load_finished_result(config.out, stem, record)
    if finished is not None:
        log.info("%s already trained with this configuration; not retraining", stem)
        ckpt = load_checkpoint(finished["checkpoint"], device=config.device, expected_model=config.model)
        return DefendedModel(model=ckpt.model, train_result=finished, input_shape=baseline.input_shape,
                             n_classes=baseline.n_classes)

    train_config = TrainConfig.from_dict(record["train"])
    seed_everything(config.seed)
    classifier, build_kwargs = build_classifier(config=train_config, data=data,
                                                preprocessing_defences=strategy.training_preprocessing(config))
    if config.init == "finetune":
        classifier.model.load_state_dict(baseline.model.state_dict())
    score_fn, selection = strategy.selection(config=config, data=data)
    log.info("adversarial training %s: %s, ratio %g, init %s, %d epoch(s)", stem, config.inner,
             config.ratio, config.init, train_config.epochs)
    fit_result = adversarial_fit(classifier=classifier, data=data, train_config=train_config,
                                 settings=config.inner, ratio=config.ratio, score_fn=score_fn, progress=progress)
    result = save_training_result(
        classifier=classifier, data=data, fit_result=fit_result, config=record, out=config.out,
        model_name=config.model, stem=stem, build_kwargs=build_kwargs, defense=config.defense,
        extra={"init": config.init, "inner_attack": to_jsonable(config.inner), "ratio": config.ratio,
               "selection": selection},
        eval_batch_size=train_config.eval_batch_size,
    )
    classifier.model.eval()
    return DefendedModel(model=classifier.model, train_result=result, input_shape=baseline.input_shape,
                         n_classes=baseline.n_classes)
