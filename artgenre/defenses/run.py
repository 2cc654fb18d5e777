"""`run_defense`: train or wrap the defended model, sweep attacks against it, write the result.

Split from ``__init__`` only to keep the configuration readable; see the package docstring for
what each defense does and how it is evaluated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.defenses import DefenseConfig, result_path
from artgenre.errors import DataError, ParameterError
from artgenre.io import read_previous_result, atomic_write_json, read_json, to_jsonable
from artgenre.registry import Registry
from artgenre.runtime import log, run_metadata, seed_everything


# --------------------------------------------------------------------------- models


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


def _wrap(model, *, config: DefenseConfig, shape, n_classes: int, preprocessing_defences=None):
    from artgenre.art_adapter import as_art_classifier

    return as_art_classifier(model, device=config.device, input_shape=tuple(shape), nb_classes=int(n_classes),
                             preprocessing_defences=preprocessing_defences)


def _baseline_train_config(config: DefenseConfig):
    from artgenre.training import make_train_config

    return make_train_config(profile=config.profile, model=config.model, data=config.data, seed=config.seed,
                             device=config.device, out=config.out)


def _same_data(saved: Any, wanted) -> bool:
    """Whether a saved data config describes the same splits (paths may differ)."""
    from artgenre.data import DataConfig

    try:
        saved = DataConfig.from_dict(saved) if isinstance(saved, dict) else saved
    except ParameterError:
        return False
    keys = ("dataset", "split_scheme", "seed", "options")
    return isinstance(saved, DataConfig) and all(getattr(saved, k) == getattr(wanted, k) for k in keys)


def load_baseline(*, config: DefenseConfig, data, progress: bool = True) -> DefendedModel:
    """The clean model: ``<out>/train-<model>.json`` and its checkpoint, trained if absent.

    Raises
    ------
    DataError
        The saved baseline was trained on other data (dataset, split scheme, seed or options).
    CheckpointError
        Its checkpoint is missing or unreadable.
    """
    from artgenre.checkpoint import load_checkpoint
    from artgenre.training import result_path as train_result_path
    from artgenre.training import run_training

    path = train_result_path(config.out, config.model)
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
        result = run_training(_baseline_train_config(config), data=data, progress=progress)
    ckpt = load_checkpoint(result["checkpoint"], device=config.device, expected_model=config.model)
    size = int(ckpt.build_kwargs.get("input_size", data.train.x.shape[-1]))
    return DefendedModel(model=ckpt.model, train_result=result, input_shape=(1, size, size),
                         n_classes=int(ckpt.build_kwargs.get("num_classes", data.n_classes)))


def training_record(config: DefenseConfig, baseline: DefendedModel | None) -> dict:
    """The ``config`` stored with a defended model: only what its weights depend on, so that
    changing the evaluation (attacks, ε, limit) never forces retraining.

    Returns
    -------
    dict
        JSON values: ``model``, ``defense``, ``data``, ``train`` (a `TrainConfig`), ``init``,
        ``baseline_checkpoint`` / ``baseline_created`` (fine-tuning only), ``inner_attack``,
        ``ratio``, ``squeeze_bit_depth``, ``guard_size``.
    """
    from artgenre.training import make_train_config

    train = make_train_config(
        profile=config.profile, model=config.model, data=config.data, epochs=config.epochs,
        batch_size=config.batch_size, seed=config.seed, device=config.device, out=config.out,
        eval_batch_size=config.eval_batch_size,
    )
    spec = config.spec
    finetune = config.init == "finetune" and baseline is not None
    return json.loads(json.dumps(to_jsonable({
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
        "squeeze_bit_depth": config.bit_depth if spec.squeeze else None,
        "guard_size": config.guard_size if spec.guard else None,
    })))


def train_defended(*, config: DefenseConfig, data, baseline: DefendedModel, progress: bool = True
                   ) -> DefendedModel:
    """Adversarially train the defended model, or load it if an identical run finished.

    Seeds with ``config.seed``, builds ``config.model`` (with the squeezer attached for
    ``apply_fit`` and ``apply_predict`` when the defense squeezes), copies the baseline's weights
    for ``init="finetune"``, and runs `adversarial_fit` (with the PGD guard for ``adv-fast``).
    Writes ``<out>/train-<model>-<defense>.json`` (``kind: "train"``, ``defense`` set) and
    ``<out>/checkpoints/<model>-<defense>.pt`` with the training helper's writer.
    """
    from artgenre.checkpoint import load_checkpoint
    from artgenre.defenses.adversarial import adversarial_fit, guard_subset, pgd_guard_score
    from artgenre.defenses.squeeze import make_squeezer
    from artgenre.training import (
        TrainConfig,
        build_classifier,
        load_finished_result,
        save_training_result,
    )

    spec = config.spec
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
    squeezer = [make_squeezer(bit_depth=config.bit_depth, apply_fit=True)] if spec.squeeze else None
    classifier, build_kwargs = build_classifier(config=train_config, data=data, preprocessing_defences=squeezer)
    if config.init == "finetune":
        classifier.model.load_state_dict(baseline.model.state_dict())
    score_fn = None
    if spec.guard:
        x_guard, y_guard = guard_subset(split=data.val, size=config.guard_size, seed=config.seed)
        score_fn = pgd_guard_score(x=x_guard, y=y_guard, settings=config.inner, batch_size=config.eval_batch_size)
    log.info("adversarial training %s: %s, ratio %g, init %s, %d epoch(s)", stem, config.inner,
             config.ratio, config.init, train_config.epochs)
    fit_result = adversarial_fit(classifier=classifier, data=data, train_config=train_config,
                                 settings=config.inner, ratio=config.ratio, score_fn=score_fn, progress=progress)
    result = save_training_result(
        classifier=classifier, data=data, fit_result=fit_result, config=record, out=config.out,
        model_name=config.model, stem=stem, build_kwargs=build_kwargs, defense=config.defense,
        extra={"init": config.init, "inner_attack": to_jsonable(config.inner), "ratio": config.ratio,
               "selection": "pgd_val_accuracy" if spec.guard else "val_loss"},
        eval_batch_size=train_config.eval_batch_size,
    )
    classifier.model.eval()
    return DefendedModel(model=classifier.model, train_result=result, input_shape=baseline.input_shape,
                         n_classes=baseline.n_classes)


# --------------------------------------------------------------------------- evaluation plans


@dataclass(frozen=True)
class _Pass:
    """One sweep: craft on ``craft``, evaluate ``evaluate``; cells carry ``adaptive`` and go
    to the result's ``cells``, or to ``detector_cells`` for attacks aimed at the detector."""

    adaptive: bool
    craft: Any
    evaluate: Any
    into: str = "cells"


@dataclass(frozen=True)
class _Plan:
    """How a defense is evaluated: the classifier whose clean accuracy is reported and the
    sweeps. ``guarded`` is the raw classifier a detector protects (None without detector)."""

    defended: Any
    passes: tuple[_Pass, ...]
    guarded: Any = None


#: Evaluation plan per kind of defense: (config, raw classifier, model) -> _Plan.
PLANS: Registry = Registry("evaluation plan")


@PLANS.register("whitebox")
def _plan_whitebox(config: DefenseConfig, raw, model: DefendedModel) -> _Plan:
    # Attacking the adversarially trained model itself is the adaptive attack.
    return _Plan(defended=raw, passes=(_Pass(adaptive=True, craft=raw, evaluate=raw),))


@PLANS.register("squeeze")
def _plan_squeeze(config: DefenseConfig, raw, model: DefendedModel) -> _Plan:
    from artgenre.defenses.squeeze import make_squeezer

    squeezed = _wrap(model.model, config=config, shape=model.input_shape, n_classes=model.n_classes,
                     preprocessing_defences=[make_squeezer(bit_depth=config.bit_depth)])
    return _Plan(defended=squeezed, passes=(
        _Pass(adaptive=False, craft=raw, evaluate=squeezed),
        _Pass(adaptive=True, craft=squeezed, evaluate=squeezed),
    ))


@PLANS.register("detector")
def _plan_detector(config: DefenseConfig, raw, model: DefendedModel) -> _Plan:
    from artgenre.defenses.detector import SqueezeEnsemble
    from artgenre.defenses.squeeze import detector_squeezers

    ensemble = _wrap(SqueezeEnsemble(model.model, detector_squeezers(bit_depth=config.bit_depth,
                                                                     median=config.median)),
                     config=config, shape=model.input_shape, n_classes=model.n_classes)
    # The detector leaves classification alone, so the classifier's accuracy under attack is
    # the white-box one (adaptive: false; it ignores the detector). The detector-aware attack
    # is weaker against the classifier by design: its cells go to ``detector_cells`` so that
    # no report credits them as the detector's robust accuracy.
    return _Plan(defended=raw, guarded=raw, passes=(
        _Pass(adaptive=False, craft=raw, evaluate=raw),
        _Pass(adaptive=True, craft=ensemble, evaluate=raw, into="detector_cells"),
    ))


# --------------------------------------------------------------------------- detector


class _DetectorState:
    """Calibrated detector plus its per-(attack, ε, adaptive) metrics, kept for resuming."""

    def __init__(self, *, config: DefenseConfig, guarded, data, split, previous: dict | None):
        from artgenre.defenses.detector import calibrate_threshold, detector_scores
        from artgenre.defenses.squeeze import detector_squeezers
        from artgenre.evaluation import predict_logits
        from artgenre.stats import proportion

        t0 = time.perf_counter()
        self.config = config
        self.guarded = guarded
        self.squeezers = detector_squeezers(bit_depth=config.bit_depth, median=config.median)
        bs = config.eval_batch_size
        x_val = np.asarray(data.val.x, dtype=np.float32)
        val_scores = detector_scores(classifier=guarded, x=x_val, squeezers=self.squeezers, batch_size=bs)
        self.threshold = calibrate_threshold(scores=val_scores, target_fpr=config.target_fpr)
        self.x = np.asarray(split.x, dtype=np.float32)
        self.y = np.asarray(split.y, dtype=np.int64)
        self.clean_scores = detector_scores(classifier=guarded, x=self.x, squeezers=self.squeezers, batch_size=bs)
        self.clean_pred = predict_logits(guarded, self.x, batch_size=bs).argmax(axis=1)
        accepted_right = (self.clean_scores <= self.threshold) & (self.clean_pred == self.y)
        self.header = {
            "threshold": self.threshold,
            "target_fpr": config.target_fpr,
            "fpr_val": proportion(int((val_scores > self.threshold).sum()), len(val_scores)),
            "fpr_test": proportion(int((self.clean_scores > self.threshold).sum()), len(self.clean_scores)),
            "clean_reject_accuracy": proportion(int(accepted_right.sum()), len(self.y)),
            "squeezers": [f"bit_depth={config.bit_depth}"] + (["median_2x2"] if config.median else []),
            "score": "max over squeezers of L1(softmax(x), softmax(squeeze(x)))",
            "tpr_population": "successful adversarial examples (clean correct, adversarial wrong)",
            "n_val": int(len(val_scores)),
            "calibration_seconds": time.perf_counter() - t0,
        }
        old = (previous or {}).get("detector") or {}
        same = isinstance(old, dict) and old.get("threshold") == self.threshold
        self.per_attack: list[dict] = [p for p in old.get("per_attack") or [] if isinstance(p, dict)] if same else []

    def record(self, attack: str, eps: float, adaptive: bool, x_adv: np.ndarray) -> None:
        from artgenre.defenses.detector import detection_metrics, detector_scores
        from artgenre.evaluation import predict_logits

        bs = self.config.eval_batch_size
        scores = detector_scores(classifier=self.guarded, x=x_adv, squeezers=self.squeezers, batch_size=bs)
        adv_pred = predict_logits(self.guarded, x_adv, batch_size=bs).argmax(axis=1)
        metrics = detection_metrics(threshold=self.threshold, clean_scores=self.clean_scores, adv_scores=scores,
                                    y=self.y, clean_pred=self.clean_pred, adv_pred=adv_pred)
        self.per_attack = [p for p in self.per_attack if not _same_cell(p, attack, eps, adaptive)]
        self.per_attack.append({"attack": attack, "eps": float(eps), "adaptive": bool(adaptive), **metrics})

    def block(self, cells: list[dict]) -> dict:
        order = {(c["attack"], round(float(c["eps"]), 12), bool(c["adaptive"])): i for i, c in enumerate(cells)}
        rows = sorted(
            (p for p in self.per_attack if _key(p) in order), key=lambda p: order[_key(p)]
        )
        return {**self.header, "per_attack": rows}


def _key(p: dict) -> tuple:
    return (p["attack"], round(float(p["eps"]), 12), bool(p["adaptive"]))


def _same_cell(p: dict, attack: str, eps: float, adaptive: bool) -> bool:
    return _key(p) == (attack, round(float(eps), 12), bool(adaptive))


# --------------------------------------------------------------------------- run_defense


def _resume_key(config: DefenseConfig, model: DefendedModel) -> dict:
    cfg = json.loads(json.dumps(to_jsonable(config)))
    # Cells depend on the weights, the samples and the squeezer/detector settings; the ε grid,
    # attack list, output folder and device do not (each cell is seeded on its own).
    for k in ("attacks", "eps", "out", "device"):
        cfg.pop(k, None)
    return {"config": cfg, "checkpoint": model.train_result.get("checkpoint"),
            "weights_created": (model.train_result.get("meta") or {}).get("created")}


def _load_previous(path: Path, key: dict) -> dict | None:
    return read_previous_result(path, kind="defense", resume_key=key)


def run_defense(config: DefenseConfig, *, data=None, progress: bool = True) -> dict:
    """Apply a defense to a model, evaluate it under attack and write its result.

    Steps: load (or first train) the baseline; for training defenses, adversarially train
    (resuming a finished identical run) and write ``train-<model>-<defense>.json``; take the
    evaluated test samples (``limit``: seeded, class-stratified, as ``artgenre attack``);
    sweep ``attacks`` × ``eps`` with the defense's plan (see the package docstring) through
    `artgenre.sweep.sweep_cells`; for the detector, calibrate on clean validation data and
    score every adversarial set. The result is rewritten after every cell, and a rerun with the
    same configuration and weights keeps the finished cells.

    Parameters
    ----------
    config : DefenseConfig
    data : artgenre.data.Dataset, optional
        Already-loaded data; default ``load_dataset(**config.data.loader_kwargs())``.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        The ``kind: "defense"`` result as written to ``<out>/defense-<model>-<defense>.json``:
        ``defense``, ``model``, ``dataset``, ``genres``, ``config``, ``meta``, ``clean``
        (`evaluate` dict of the defended system on the evaluated samples),
        ``baseline_clean`` (the undefended model on the same samples), ``train_seconds``
        (this defense's own training; 0 without training), ``baseline_train_seconds``,
        ``total_train_seconds`` (adds the baseline's time when the defense builds on it),
        ``training`` (summary of the defended model's training or None), ``n_samples``,
        ``cells``, ``detector`` (or None), ``detector_cells`` (detector only: the
        classifier's accuracy under the detector-aware attack), ``complete``, ``seconds``.

    Raises
    ------
    ParameterError
        ``config`` is not a `DefenseConfig`.
    DataError
        The saved baseline used other data; input shape or class count mismatch.
    CheckpointError
        An unreadable checkpoint.
    """
    from artgenre.evaluation import evaluate, predict_logits
    from artgenre.sweep import stratified_order, sweep_cells

    if not isinstance(config, DefenseConfig):
        raise ParameterError(f"config must be a DefenseConfig (see make_defense_config); got {type(config).__name__}")
    t_start = time.perf_counter()
    spec = config.spec
    seed_everything(config.seed)
    if data is None:
        from artgenre.data import load_dataset

        data = load_dataset(**config.data.loader_kwargs(), progress=progress)
    baseline = load_baseline(config=config, data=data, progress=progress)
    shape = tuple(int(s) for s in np.shape(data.test.x)[1:])
    if shape != baseline.input_shape or baseline.n_classes != int(data.n_classes):
        raise DataError(
            f"baseline {config.model} expects inputs {baseline.input_shape} and {baseline.n_classes} classes; "
            f"dataset {data.name!r} has {shape} and {data.n_classes}"
        )
    defended = train_defended(config=config, data=data, baseline=baseline, progress=progress) \
        if spec.trains else baseline

    full = data.test
    index = np.sort(stratified_order(y=full.y, seed=config.seed)[: config.limit]) \
        if config.limit is not None else np.arange(len(full))
    split = full.take(index) if config.limit is not None else full
    bs = config.eval_batch_size

    raw = _wrap(defended.model, config=config, shape=defended.input_shape, n_classes=defended.n_classes)
    plan = PLANS[spec.plan](config, raw, defended)
    base_clf = raw if defended is baseline else _wrap(baseline.model, config=config, shape=baseline.input_shape,
                                                      n_classes=baseline.n_classes)
    n_classes = int(data.n_classes)
    baseline_clean = evaluate(logits=predict_logits(base_clf, split.x, batch_size=bs), y=split.y,
                              track=split.track, n_classes=n_classes)
    clean = evaluate(logits=predict_logits(plan.defended, split.x, batch_size=bs), y=split.y,
                     track=split.track, n_classes=n_classes)

    path = result_path(config.out, model=config.model, defense=config.defense)
    key = _resume_key(config, defended)
    previous = _load_previous(path, key)
    existing = [c for key_ in ("cells", "detector_cells") for c in (previous or {}).get(key_) or []
                if isinstance(c, dict)]
    detector = _DetectorState(config=config, guarded=plan.guarded, data=data, split=split, previous=previous) \
        if spec.detector else None
    if detector is not None:
        # A resumed cell without its detector row must be recomputed to score its examples.
        existing = [c for c in existing
                    if any(_same_cell(p, c["attack"], c["eps"], c["adaptive"]) for p in detector.per_attack)]

    train_seconds = float(defended.train_result.get("train_seconds", 0.0)) if spec.trains else 0.0
    baseline_seconds = baseline.train_result.get("train_seconds")
    builds_on_baseline = not spec.trains or config.init == "finetune"
    training = None
    if spec.trains:
        tr = defended.train_result
        training = {k: tr.get(k) for k in ("checkpoint", "epochs_run", "best_epoch", "stopped_early",
                                            "ms_per_sample", "init", "inner_attack", "ratio", "selection")}
        training["result"] = str(Path(config.out) / f"train-{config.model}-{config.defense}.json")
        training["val_accuracy"] = ((tr.get("metrics") or {}).get("val") or {}).get("segment_accuracy")
    base = {
        "kind": "defense",
        "defense": config.defense,
        "model": config.model,
        "dataset": data.name,
        "genres": list(data.genres),
        "config": config,
        "meta": run_metadata(),
        "summary": spec.summary,
        "clean": clean,
        "baseline_clean": baseline_clean,
        "train_seconds": train_seconds,
        "baseline_train_seconds": baseline_seconds,
        "total_train_seconds": train_seconds + (baseline_seconds or 0.0) if builds_on_baseline else train_seconds,
        "training": training,
        "n_samples": int(len(split)),
        "resume_key": key,
    }
    # Finished passes per destination, plus the cells of the pass under way.
    done: dict[str, list] = {"cells": [], "detector_cells": []}
    current: dict[str, Any] = {"into": "cells", "cells": []}

    def write(complete: bool) -> dict:
        lists = {k: v + (current["cells"] if current["into"] == k else []) for k, v in done.items()}
        result = {
            **base,
            "cells": lists["cells"],
            "detector": detector.block(lists["cells"] + lists["detector_cells"]) if detector else None,
            "detector_cells": lists["detector_cells"] if detector else None,
            "complete": complete,
            "seconds": time.perf_counter() - t_start,
        }
        result = json.loads(json.dumps(to_jsonable(result)))
        atomic_write_json(path, result)
        return result

    def save(cells: list) -> None:
        current["cells"] = cells
        write(False)

    for p in plan.passes:
        on_adv: Callable | None = None
        if detector is not None:
            on_adv = lambda a, e, x_adv, _ad=p.adaptive: detector.record(a, e, _ad, x_adv)  # noqa: E731
        current.update(into=p.into, cells=[])
        cells = sweep_cells(
            craft_classifier=p.craft, eval_classifier=p.evaluate, split=split, attacks=config.attacks,
            eps=config.eps, batch_size=bs, seed=config.seed, on_adversarial=on_adv, existing_cells=existing,
            save=save, adaptive=p.adaptive, clean_logits=predict_logits(p.evaluate, split.x, batch_size=bs),
            progress=progress,
        )
        done[p.into] += cells
        current["cells"] = []
    return write(True)
