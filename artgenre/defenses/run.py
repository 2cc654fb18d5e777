"""`run_defense`: train or wrap the defended model, sweep attacks against it, write the result.

The defense's strategy (`artgenre.defenses.strategies`) decides how the model is trained, how
the classifier is wrapped and which sweeps evaluate it; this module only runs them with the
machinery shared with ``artgenre attack``: the sample choice and the resumable result writer
(`artgenre.runs`), the cell engine (`artgenre.attacks.cells`) and the automatic checks
(`artgenre.attacks.checks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.attacks.robust import robust_entries
from artgenre.attacks.store import STORE_DIR, AdversarialStore
from artgenre.attacks.strength import strength_block, strength_checks
from artgenre.defenses import DefenseConfig, result_path
from artgenre.defenses.baseline import DefendedModel, load_baseline, train_defended
from artgenre.errors import DataError, ParameterError
from artgenre.io import merged_key, read_previous_result
from artgenre.runs import ResultWriter, choose_samples, json_values, merge_cells
from artgenre.runtime import run_metadata, seed_everything
from artgenre.training import without_locations


def _resume_key(config: DefenseConfig, model: DefendedModel) -> dict:
    cfg = json_values(config)
    # Cells depend on the weights, the samples, the attack parameters and the squeezer/detector
    # settings; the ε grid, attack list, output folder and device do not (each cell is seeded
    # on its own).
    for k in ("attacks", "eps", "out", "device", "attack_params", "strength_check"):
        cfg.pop(k, None)
    # The checkpoint by name, not path: a moved results folder resumes.
    return {"config": without_locations(cfg), "checkpoint": Path(model.train_result.get("checkpoint") or "").name,
            "weights_created": (model.train_result.get("meta") or {}).get("created"),
            # Parameters per attack: a run with other attacks adds cells instead of conflicting.
            "attack_params": json_values(config.resolved_attack_params())}


def _training_summary(config: DefenseConfig, defended: DefendedModel) -> dict | None:
    if not config.strategy.trains:
        return None
    tr = defended.train_result
    training = {k: tr.get(k) for k in ("checkpoint", "epochs_run", "best_epoch", "stopped_early",
                                        "ms_per_sample", "init", "inner_attack", "ratio", "selection")}
    training["result"] = str(Path(config.out) / f"train-{config.model}-{config.defense}.json")
    training["val_accuracy"] = ((tr.get("metrics") or {}).get("val") or {}).get("segment_accuracy")
    return training


def _checks(config: DefenseConfig, cells: list[dict], detector_cells: list[dict], n_classes: int) -> list[dict]:
    from artgenre.attacks.checks import run_checks

    checks = run_checks(cells=cells, n_classes=n_classes, expect_chance=False)
    if detector_cells:
        checks += run_checks(cells=detector_cells, n_classes=n_classes, expect_chance=False,
                             label=" [detector-aware]")
    return checks


def run_defense(config: DefenseConfig, *, data=None, progress: bool = True) -> dict:
    """Apply a defense to a model, evaluate it under attack and write its result.

    Steps: load (or first train) the baseline; for training defenses, train (resuming a
    finished identical run) and write ``train-<model>-<defense>.json``; take the evaluated test
    samples (``limit``: seeded, class-stratified, as ``artgenre attack``); run the strategy's
    sweeps of ``attacks`` × ``eps`` with ``attack_params``; let its monitor (the detector)
    score every adversarial set; run the automatic checks. The result is rewritten after every
    cell, and a rerun with the same configuration and weights keeps the finished cells (also
    those it does not request) and adds the new ones; a result of other weights or settings
    is never overwritten.

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
        The ``kind: "defense"`` result as written to ``<out>/defense-<model>-<defense>.json``
        (docs/design.md): ``defense``, ``model``, ``dataset``, ``genres``, ``config``,
        ``meta``, ``clean``, ``baseline_clean``, ``train_seconds``, ``baseline_train_seconds``,
        ``total_train_seconds``, ``training``, ``n_samples``, ``cells``, ``detector``,
        ``detector_cells``, ``checks``, ``complete``, ``seconds``.

    Raises
    ------
    ParameterError
        ``config`` is not a `DefenseConfig`.
    DataError
        The saved baseline used other data; input shape or class count mismatch.
    CheckpointError
        An unreadable checkpoint.
    artgenre.io.ResultConflictError
        The result (or a training result) file holds one of another configuration.
    """
    from artgenre.attacks.cells import sweep_cells
    from artgenre.evaluation import evaluate
    from artgenre.threats import threat_model

    if not isinstance(config, DefenseConfig):
        raise ParameterError(f"config must be a DefenseConfig (see make_defense_config); got {type(config).__name__}")
    started = time.perf_counter()
    strategy = config.strategy
    seed_everything(config.seed)
    if data is None:
        from artgenre.data import load_dataset

        data = load_dataset(**config.data.loader_kwargs(), progress=progress)
    baseline = load_baseline(config=config, data=data, progress=progress)
    threat = threat_model(config.threat)
    shape = tuple(int(s) for s in np.shape(data.test.x)[1:])
    if shape != baseline.input_shape or baseline.n_classes != int(data.n_classes):
        raise DataError(
            f"baseline {config.model} expects inputs {baseline.input_shape} and {baseline.n_classes} classes; "
            f"dataset {data.name!r} has {shape} and {data.n_classes}"
        )
    defended = train_defended(config=config, data=data, baseline=baseline, progress=progress) \
        if strategy.trains else baseline

    _index, split = choose_samples(split=data.test, limit=config.limit, seed=config.seed)
    bs = config.eval_batch_size

    def wrap(m: DefendedModel):
        return threat.classifier(m.model, device=config.device, model_input_shape=m.input_shape,
                                 nb_classes=m.n_classes)

    raw = wrap(defended)
    plan = strategy.plan(config=config, raw=raw, model=defended)
    base_clf = raw if defended is baseline else wrap(baseline)
    n_classes = int(data.n_classes)
    x = threat.inputs(split)
    baseline_clean = evaluate(logits=threat.predict(base_clf, x, split=split, batch_size=bs), y=split.y,
                              track=split.track, n_classes=n_classes)
    defended_logits = threat.predict(plan.defended, x, split=split, batch_size=bs)
    clean = evaluate(logits=defended_logits, y=split.y, track=split.track, n_classes=n_classes)
    clean_correct = defended_logits.argmax(axis=1) == split.y

    key = _resume_key(config, defended)
    path = result_path(config.out, model=config.model, defense=config.defense, threat=config.threat)
    previous = read_previous_result(path, kind="defense", resume_key=key, per_item=("attack_params",))
    key = merged_key((previous or {}).get("resume_key"), key, per_item=("attack_params",))
    existing = [c for k in ("cells", "detector_cells") for c in (previous or {}).get(k) or [] if isinstance(c, dict)]
    monitor = strategy.monitor(config=config, plan=plan, data=data, split=split, previous=previous)
    if monitor is not None:
        existing = [c for c in existing if monitor.has_row(c)]
    # Earlier cells this run does not request stay in the file (a narrower rerun adds to it).
    earlier = {k: [c for c in (previous or {}).get(k) or [] if any(c is e for e in existing)]
               for k in ("cells", "detector_cells")}

    train_seconds = float(defended.train_result.get("train_seconds", 0.0)) if strategy.trains else 0.0
    baseline_seconds = baseline.train_result.get("train_seconds")
    builds_on_baseline = not strategy.trains or config.init == "finetune"
    writer = ResultWriter(path=path, base={
        "kind": "defense", "defense": config.defense, "model": config.model, "dataset": data.name,
        "genres": list(data.genres), "config": config, "meta": run_metadata(), "summary": strategy.summary,
        "threat": config.threat, "clean": clean, "baseline_clean": baseline_clean, "train_seconds": train_seconds,
        "baseline_train_seconds": baseline_seconds,
        "total_train_seconds": train_seconds + (baseline_seconds or 0.0) if builds_on_baseline else train_seconds,
        "training": _training_summary(config, defended), "n_samples": int(len(split)), "resume_key": key,
    }, started=started, previous=previous)
    # Finished passes per destination, plus the cells of the pass under way.
    done: dict[str, list] = {"cells": [], "detector_cells": []}
    current: dict[str, Any] = {"into": "cells", "cells": [], "strength": (previous or {}).get("strength")}

    def write(complete: bool) -> dict:
        lists = {k: merge_cells(v + (current["cells"] if current["into"] == k else []), earlier[k])
                 for k, v in done.items()}
        checks = _checks(config, lists["cells"], lists["detector_cells"], n_classes) if complete else []
        if complete:
            checks += strength_checks(cells=lists["cells"], strength=current["strength"] if config.strength_check
                                      else None, clean_correct=clean_correct, track=split.track,
                                      n_classes=n_classes, expect_chance=False)
        return writer.write(
            complete=complete, cells=lists["cells"], strength=current["strength"],
            robust=robust_entries(cells=lists["cells"], clean_correct=clean_correct, track=split.track,
                                  merge_adaptive=True, seed=config.seed),
            detector=monitor.block(lists["cells"] + lists["detector_cells"]) if monitor else None,
            detector_cells=lists["detector_cells"] if monitor else None,
            checks=checks, seconds=writer.seconds(),
        )

    def save(cells: list) -> None:
        current["cells"] = cells
        write(False)

    params = config.resolved_attack_params()
    for p in plan.passes:
        on_adv: Callable | None = None
        if monitor is not None:
            on_adv = lambda a, e, x_adv, _ad=p.adaptive: monitor.record(a, e, _ad, x_adv)  # noqa: E731
        current.update(into=p.into, cells=[])
        cells = sweep_cells(
            craft_classifier=p.craft, eval_classifier=p.evaluate, split=split, attacks=p.attacks or config.attacks,
            eps=config.eps, batch_size=bs, seed=config.seed, params=params, on_adversarial=on_adv,
            existing_cells=existing, save=save, adaptive=p.adaptive,
            clean_logits=defended_logits if p.evaluate is plan.defended else threat.predict(
                p.evaluate, x, split=split, batch_size=bs), progress=progress, threat=config.threat,
            store=AdversarialStore(Path(config.out) / STORE_DIR),
        )
        done[p.into] += cells
        current["cells"] = []
        if config.strength_check and p.into == "cells":
            current["strength"] = strength_block(
                craft_classifier=p.craft, eval_classifier=p.evaluate, split=split, eps=config.eps, batch_size=bs,
                seed=config.seed, params=params, previous=current["strength"], adaptive=p.adaptive,
                save=lambda b: (current.update(strength=b), write(False)), threat=config.threat, progress=progress,
                cells=merge_cells(done["cells"], earlier["cells"]), clean_correct=clean_correct,
                store=AdversarialStore(Path(config.out) / STORE_DIR))
    return write(True)
