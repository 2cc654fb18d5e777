"""The experiment grid as a graph of units: prepare → train → attack / transfer / defend → report.

`build_units` turns a `PipelineConfig` into `artgenre.executors.Unit`s. Each unit calls the
public function its CLI command uses (`run_training`, `run_attack`, `run_defense`) with a
frozen config, so it writes its own result file atomically and resumes
from it, whether it runs in this process or in a Ray worker. With several seeds, every seed
gets the complete grid in ``<out>/seed-<s>/``; the data (fixed by ``data_seed``) is prepared
once, and the report (built by the pipeline afterwards) reads every seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from artgenre.executors import Unit

#: Datasets already loaded in this process (the serial executor prepares once, then reuses).
_LOADED: dict[str, Any] = {}


def load_data(data) -> Any:
    """The `Dataset` of a `DataConfig`, loaded from its feature cache once per process."""
    from artgenre.data import load_dataset
    from artgenre.io import to_jsonable

    key = json.dumps(to_jsonable(data), sort_keys=True)
    if key not in _LOADED:
        _LOADED.clear()  # one dataset at a time: a long grid must not hold several in memory
        _LOADED[key] = load_dataset(**data.loader_kwargs(), progress=False)
    return _LOADED[key]


def prepare_unit(*, data) -> dict:
    """Unit body: build (or check) the feature cache of ``data``."""
    ds = load_data(data)
    return {"from_cache": bool(ds.from_cache), "test_segments": len(ds.test)}


def train_unit(*, config, progress: bool = False) -> str:
    """Unit body: `run_training`; returns the result file's path."""
    from artgenre import training

    training.run_training(config, data=load_data(config.data), progress=progress)
    return str(training.result_path(config.out, config.model))


def attack_unit(*, config, data, progress: bool = False) -> str:
    """Unit body: `run_attack` (white-box or transfer)."""
    from artgenre.attacks import run as attack_run

    attack_run.run_attack(config, data=load_data(data), progress=progress)
    return str(config.out)


def defend_unit(*, config, progress: bool = False) -> str:
    """Unit body: `run_defense`."""
    from artgenre import defenses

    defenses.run_defense(config, data=load_data(config.data), progress=progress)
    return str(defenses.result_path(config.out, model=config.model, defense=config.defense, threat=config.threat))


def default_cpus() -> int:
    """CPU threads per unit when none is given: what PyTorch uses by default on this machine.

    The thread count changes floating-point results (reduction order), so it is fixed per
    unit in every executor; the serial default keeps the numbers of a plain run.
    """
    import torch

    return max(1, int(torch.get_num_threads() or os.cpu_count() or 1))


def seed_folders(config) -> list[tuple[int, Path]]:
    """``(seed, results folder)`` of each replicate: ``<out>`` for one seed, else ``<out>/seed-<s>``."""
    seeds = tuple(config.seeds) or (config.seed,)
    out = Path(config.out)
    if len(seeds) == 1:
        return [(int(seeds[0]), out)]
    return [(int(s), out / f"seed-{int(s)}") for s in seeds]


def _shared_cells(config, model: str) -> tuple[tuple[str, float], ...]:
    """The white-box cells of ``model`` that other units craft again: transfers from it, and
    defenses on it whose non-adaptive pass crafts on its weights (`Defense.crafts_on_baseline`)."""
    from artgenre.defenses import DEFENSES

    cells = set()
    if len(config.models) > 1:
        cells |= {(a, e) for a in config.transfer_attacks for e in config.transfer_eps}
    if model in config.defense_models and any(DEFENSES[d].crafts_on_baseline for d in config.defenses):
        cells |= {(a, e) for a in config.defense_attacks for e in config.defense_eps}
    grid = set(config.eps)
    return tuple(sorted((a, e) for a, e in cells if a in config.attacks and e in grid and e > 0))


def build_units(config, *, cpus: int | None = None, progress: bool = False) -> list[Unit]:
    """The grid of ``config`` as units with their dependencies.

    Parameters
    ----------
    config : artgenre.pipeline.PipelineConfig
    cpus : int, optional
        CPU threads (and, under Ray, reserved CPUs) per unit; default `default_cpus`.
    progress : bool
        Let units show their own progress bars (in this process only).

    Returns
    -------
    list of Unit
        In an order that the serial executor runs as the pipeline always has: prepare, then
        per seed every training, white-box sweeps, transfers and defenses. The report is not a
        unit: `artgenre.pipeline.run_pipeline` builds it from whatever finished.
    """
    from artgenre.attacks.params import select_params
    from artgenre.attacks.run import AttackConfig
    from artgenre.defenses import make_defense_config
    from artgenre.training import checkpoint_path, make_train_config

    cpus = default_cpus() if cpus is None else int(cpus)
    gpus = 1.0 if str(config.device).startswith("cuda") else 0.0
    data_cfg = config.data_config()
    multi = len(seed_folders(config)) > 1

    def unit(name, fn, deps=(), **kwargs):
        return Unit(name=name, fn=fn, kwargs=kwargs, deps=tuple(deps), cpus=cpus,
                    gpus=0.0 if fn is prepare_unit else gpus)

    units = [unit("prepare", prepare_unit, data=data_cfg)]
    for seed, out in seed_folders(config):
        tag = f" [seed {seed}]" if multi else ""
        trained: dict[str, str] = {}
        checkpoints: dict[str, str] = {}
        for model in config.models:
            cfg = make_train_config(profile=config.profile, model=model, data=data_cfg, seed=seed,
                                    epochs=config.epochs, device=config.device, out=str(out))
            trained[model] = f"train {model}{tag}"
            checkpoints[model] = str(checkpoint_path(out, model))
            units.append(unit(trained[model], train_unit, ["prepare"], config=cfg, progress=progress))
        for model in config.models:
            cfg = AttackConfig(
                checkpoint=checkpoints[model], attacks=config.attacks, eps=config.eps,
                params=select_params(attacks=config.attacks, triples=config.attack_params),
                limit=config.limit, device=config.device, out=str(out), seed=seed,
                strength_check=config.strength_check, share=_shared_cells(config, model),
            )
            units.append(unit(f"attack {model}{tag}", attack_unit, [trained[model]], config=cfg, data=data_cfg,
                              progress=progress))
        if config.waveform_attacks and config.waveform_snr_db:
            for model in config.waveform_models or config.models:
                cfg = AttackConfig(
                    checkpoint=checkpoints[model], attacks=config.waveform_attacks, eps=(),
                    snr_db=config.waveform_snr_db, threat="waveform",
                    params=select_params(attacks=config.waveform_attacks, triples=config.attack_params),
                    limit=config.limit, device=config.device, out=str(out), seed=seed,
                )
                units.append(unit(f"attack {model} waveform{tag}", attack_unit, [trained[model]], config=cfg,
                                  data=data_cfg, progress=progress))
        if config.transfer_attacks and config.transfer_eps:
            for source in config.models:
                for target in config.models:
                    if source == target:
                        continue
                    cfg = AttackConfig(
                        checkpoint=checkpoints[target], source_checkpoint=checkpoints[source],
                        attacks=config.transfer_attacks, eps=(0.0, *config.transfer_eps),
                        params=select_params(attacks=config.transfer_attacks, triples=config.attack_params),
                        limit=config.limit, device=config.device, out=str(out), seed=seed,
                    )
                    units.append(unit(f"transfer {source}->{target}{tag}", attack_unit,
                                      [trained[source], trained[target]], config=cfg, data=data_cfg,
                                      progress=progress))
        for model in config.defense_models:
            for defense in config.defenses:
                cfg = make_defense_config(
                    model=model, defense=defense, data=data_cfg, profile=config.profile, epochs=config.epochs,
                    attacks=config.defense_attacks, eps=config.defense_eps, limit=config.limit,
                    device=config.device,
                    attack_params=select_params(attacks=config.defense_attacks, triples=config.attack_params),
                    seed=seed, out=str(out), strength_check=config.strength_check,
                )
                units.append(unit(f"defend {model} {defense}{tag}", defend_unit, [trained[model]], config=cfg,
                                  progress=progress))
    return units


__all__ = ["attack_unit", "build_units", "default_cpus", "defend_unit", "load_data", "prepare_unit",
           "seed_folders", "train_unit"]
