"""The whole experiment in one call: prepare → train → attack → transfer → defend → report.

Every stage delegates to the public function that its own CLI command uses, and each of those
resumes from its result files, so a killed pipeline continues where it stopped and never
trusts a half-written file (all writes are atomic). ``<out>/pipeline.json`` records which
stages finished and how long each took.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artgenre.errors import ParameterError, check_choice
from artgenre.io import atomic_write_json
from artgenre.runtime import log, run_metadata, seed_everything

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# The defaults are sized for `make run` to finish within ten minutes on two CPU cores, counting
# the one-time install. Measured from a fresh clone (564 s in all): install ~90 s (warm pip
# cache), features 23 s, training 55-69 s per model, PGD-10 ~12 s per ε per model over the 80
# test segments, adversarial fine-tuning + evaluation 78 s, the detector 139 s (its
# detector-aware PGD ~48 s per ε); the squeezing transform would add ~60 s and DeepFool 2.3-6.2 s
# per segment. So the default sweep has no ε = 0.003 and no DeepFool, transfers FGSM only,
# leaves out the squeezing transform (the detector covers squeezing) and evaluates defenses at
# ε 0.01 and 0.03; `experiments/quick.toml` runs the full grids (45 min; docs/user-guide.md).
QUICK_EPS = (0.0, 0.01, 0.03, 0.1)


@dataclass(frozen=True)
class PipelineConfig:
    """Configuration of `run_pipeline` (saved in ``<out>/pipeline.json``).

    Attributes
    ----------
    dataset, root, split_scheme, data_seed, cache_dir
        Which data to use (see `artgenre.data.load_dataset`).
    data_options : tuple of (name, value) or mapping
        Dataset options, e.g. ``{"clips_per_genre": 4}`` for a smaller synthetic set.
    profile : str
        Training profile (``quick`` or ``paper``) for standard and adversarial training.
    epochs : int or None
        Overrides the profile's maximum epochs (standard and adversarial training).
    models : tuple of str
        `artgenre.models.MODELS` keys to train and attack.
    attacks : tuple of str
        Attacks of the white-box sweep (`artgenre.attacks.ATTACKS` keys).
    eps : tuple of float
        ε grid of the white-box sweep, in input units ([0, 1]; 80·ε dB).
    attack_params : tuple of (attack, key, value)
        Attack parameters for every sweep (white-box, transfer, defense, adaptive), e.g.
        ``("pgd", "steps", 40)`` or ``"pgd.steps=40"`` (default: none); each sweep gets the
        entries that apply to its attacks (`artgenre.attacks.params.select_params`).
    transfer_attacks, transfer_eps
        Transfer sweep between every ordered pair of models (empty to skip).
    defenses : tuple of str
        `artgenre.defenses.DEFENSES` keys, applied to each of ``defense_models``.
    defense_attacks : tuple of str
        ε-bounded attacks defenses are evaluated with.
    defense_eps : tuple of float
        ε grid at which defenses are evaluated.
    limit : int or None
        Attack at most this many test segments (None: the whole test split).
    seed : int
    device : str
        ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
    out : str
        Results folder; the report goes to ``<out>/report``.
    """

    dataset: str = "synth"
    root: str | None = None
    split_scheme: str = "random"
    data_seed: int = 0
    cache_dir: str | None = None
    data_options: tuple[tuple[str, Any], ...] = ()
    profile: str = "quick"
    epochs: int | None = None
    models: tuple[str, ...] = ("cnn", "resnet18")
    attacks: tuple[str, ...] = ("fgsm", "pgd", "noise")
    eps: tuple[float, ...] = QUICK_EPS
    attack_params: tuple[tuple[str, str, Any], ...] = ()
    transfer_attacks: tuple[str, ...] = ("fgsm",)
    transfer_eps: tuple[float, ...] = (0.03,)
    defenses: tuple[str, ...] = ("adv-mixed", "detector")
    defense_models: tuple[str, ...] = ("cnn",)
    defense_attacks: tuple[str, ...] = ("fgsm", "pgd")
    defense_eps: tuple[float, ...] = (0.01, 0.03)
    limit: int | None = None
    seed: int = 0
    device: str = "auto"
    out: str = "results"

    def __post_init__(self) -> None:
        from artgenre.attacks import attack_spec, parse_triples
        from artgenre.data import DATASETS
        from artgenre.defenses import DEFENSES
        from artgenre.models import MODELS
        from artgenre.training import PROFILES

        DATASETS[self.dataset]
        check_choice("profile", self.profile, PROFILES)
        if not self.models:
            raise ParameterError("models=() is empty; name at least one of: " + ", ".join(MODELS))
        for name in self.models + self.defense_models:
            MODELS[name]
        for name in self.attacks + self.transfer_attacks + self.defense_attacks:
            attack_spec(name)
        object.__setattr__(self, "attack_params", parse_triples(self.attack_params))
        for name in self.defenses:
            DEFENSES[name]
        missing = [m for m in self.defense_models if m not in self.models]
        if missing and self.defenses:
            raise ParameterError(
                f"defense_models={missing} are not among models={list(self.models)}; "
                "defended models need their baseline in the same run"
            )
        self.data_config()  # validates dataset options and split scheme
        if self.limit is not None and self.limit < 1:
            raise ParameterError(f"limit={self.limit!r} is not valid; expected a positive integer or None")

    def data_config(self):
        from artgenre.data import DataConfig

        return DataConfig(
            dataset=self.dataset, root=self.root, split_scheme=self.split_scheme,
            seed=self.data_seed, cache_dir=self.cache_dir, options=self.data_options,
        )


_TUPLE_FIELDS = {f.name for f in dataclasses.fields(PipelineConfig) if "tuple" in str(f.type)}


def make_pipeline_config(*, config_file: str | Path | None = None, **overrides: Any) -> PipelineConfig:
    """Build a `PipelineConfig` from an optional TOML file plus keyword overrides.

    Parameters
    ----------
    config_file : path, optional
        A TOML file whose top-level keys are `PipelineConfig` fields (see ``experiments/``).
    **overrides
        Field values that win over the file; ``None`` values are ignored.

    Raises
    ------
    ParameterError
        Unknown keys, unreadable file, or invalid values.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ParameterError(f"config file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ParameterError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(PipelineConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(
            f"unknown pipeline setting(s) {unknown}; valid settings: {', '.join(sorted(known))}"
        )
    if isinstance(values.get("data_options"), dict):
        values["data_options"] = tuple(sorted(values["data_options"].items()))
    if "attack_params" in values:
        values["attack_params"] = tuple(p if isinstance(p, str) else tuple(p) for p in values["attack_params"])
    for key in _TUPLE_FIELDS & set(values) - {"data_options", "attack_params"}:
        value = values[key]
        values[key] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    return PipelineConfig(**values)


@dataclass
class PipelineResult:
    """What `run_pipeline` produced: per-stage timings, result files and the report."""

    config: PipelineConfig
    stages: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    report: Any = None
    status_file: Path | None = None


class _Stages:
    """Runs named stages, records their time in pipeline.json after each one."""

    def __init__(self, config: PipelineConfig, path: Path) -> None:
        self.config = config
        self.path = path
        self.records: list[dict] = []
        self.t0 = time.perf_counter()

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        log.info("pipeline stage: %s", name)
        start = time.perf_counter()
        out = fn()
        self.records.append({"stage": name, "seconds": round(time.perf_counter() - start, 3)})
        self.save(finished=False)
        return out

    def save(self, *, finished: bool) -> None:
        atomic_write_json(self.path, {
            "kind": "pipeline",
            "config": self.config,
            "meta": run_metadata(),
            "finished": finished,
            "stages": self.records,
            "seconds": round(time.perf_counter() - self.t0, 3),
        })


def run_pipeline(config: PipelineConfig, *, progress: bool = True) -> PipelineResult:
    """Run every stage of the experiment described by ``config``.

    Stages: prepare the dataset; train each model (`run_training`); white-box sweep of each
    model (`run_attack`); transfer sweeps between models; each defense on each defended model
    (`run_defense`); the report (`build_report`). Each stage resumes from its result files.

    Returns
    -------
    PipelineResult
        Stage timings and the report summary.

    Raises
    ------
    ArtGenreError
        Whatever the stages raise for bad data or parameters;
        `artgenre.lock.FolderLockedError` when another process writes into ``config.out``.
    """
    from artgenre.runs import hold_results_folder

    # The pipeline holds its results folder: temporary files below it are a killed run's.
    with hold_results_folder(config.out, command="artgenre run"):
        return _run_stages(config, progress=progress)


def _run_stages(config: PipelineConfig, *, progress: bool) -> PipelineResult:
    from artgenre.attacks.params import select_params
    from artgenre.attacks.run import AttackConfig, run_attack
    from artgenre.data import load_dataset
    from artgenre.defenses import make_defense_config, run_defense
    from artgenre.report import build_report
    from artgenre.training import checkpoint_path, make_train_config, run_training

    seed_everything(config.seed)
    out = Path(config.out)
    stages = _Stages(config, out / "pipeline.json")
    data_cfg = config.data_config()

    data = stages.run("prepare", lambda: load_dataset(**data_cfg.loader_kwargs(), progress=progress))

    checkpoints: dict[str, str] = {}
    for model in config.models:
        train_cfg = make_train_config(
            profile=config.profile, model=model, data=data_cfg, seed=config.seed, epochs=config.epochs,
            device=config.device, out=str(out),
        )
        result = stages.run(f"train {model}", lambda c=train_cfg: run_training(c, data=data, progress=progress))
        checkpoints[model] = result.get("checkpoint") or str(checkpoint_path(out, f"{model}"))

    for model in config.models:
        attack_cfg = AttackConfig(
            checkpoint=checkpoints[model], attacks=config.attacks, eps=config.eps,
            params=select_params(attacks=config.attacks, triples=config.attack_params),
            limit=config.limit, device=config.device, out=str(out), seed=config.seed,
        )
        stages.run(f"attack {model}", lambda c=attack_cfg: run_attack(c, data=data, progress=progress))

    if config.transfer_attacks and config.transfer_eps:
        for source in config.models:
            for target in config.models:
                if source == target:
                    continue
                cfg = AttackConfig(
                    checkpoint=checkpoints[target], source_checkpoint=checkpoints[source],
                    attacks=config.transfer_attacks, eps=(0.0, *config.transfer_eps),
                    params=select_params(attacks=config.transfer_attacks, triples=config.attack_params),
                    limit=config.limit, device=config.device, out=str(out), seed=config.seed,
                )
                stages.run(f"transfer {source}->{target}", lambda c=cfg: run_attack(c, data=data, progress=progress))

    for model in config.defense_models:
        for defense in config.defenses:
            cfg = make_defense_config(
                model=model, defense=defense, data=data_cfg, profile=config.profile, epochs=config.epochs,
                attacks=config.defense_attacks, eps=config.defense_eps, limit=config.limit, device=config.device,
                attack_params=select_params(attacks=config.defense_attacks, triples=config.attack_params),
                seed=config.seed, out=str(out),
            )
            stages.run(f"defend {model} {defense}", lambda c=cfg: run_defense(c, data=data, progress=progress))

    report = stages.run("report", lambda: build_report(results_dir=out, out_dir=out / "report"))
    stages.save(finished=True)
    return PipelineResult(
        config=config, stages=stages.records, seconds=time.perf_counter() - stages.t0,
        report=report, status_file=stages.path,
    )


__all__ = [
    "PipelineConfig",
    "PipelineResult",
    "make_pipeline_config",
    "run_pipeline",
]
