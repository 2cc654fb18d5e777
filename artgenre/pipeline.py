"""The whole experiment in one call: prepare → train → attack → transfer → defend → report.

Every stage delegates to the public function that its own CLI command uses, and each of those
resumes from its result files, so a killed pipeline continues where it stopped and never
trusts a half-written file (all writes are atomic). ``<out>/pipeline.json`` records which
stages finished and how long each took.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from artgenre.eps import parse_eps
from artgenre.errors import ParameterError, check_choice, check_device_name, check_int
from artgenre.io import atomic_write_json
from artgenre.runtime import log, run_metadata, seed_everything

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# The defaults aim at ten minutes for `make run` on two CPU cores, counting the one-time install
# (README states the time measured on the final tree). Per ε and model a PGD-10 cell over the 80
# test segments takes ~5 s (cnn) / ~7 s (resnet18), APGD-CE with 20 iterations twice that, a
# waveform PGD-10 cell at one SNR ~20 s / ~30 s, DeepFool (7 iterations: `DEEPFOOL_MAX_ITER`)
# ~0.5 s (cnn) / ~0.6 s (resnet18) per clean-correct segment. ε = 0.1 (8 dB, every model at 0 %
# under PGD) informs least. So the default sweep is FGSM, PGD, APGD-CE, DeepFool and noise at
# ε 0.01 and 0.03 (the ε at which defenses are compared, so the worst case behind
# Table 5 includes APGD-CE) plus waveform PGD at SNR 40 dB (the listening examples are then
# real adversarial audio); `experiments/quick.toml` runs the full grids (docs/user-guide.md).
QUICK_EPS = (0.0, 0.01, 0.03)
#: Attack parameters a profile sets unless ``attack_params`` sets the same (attack, key).
PROFILE_ATTACK_PARAMS: dict[str, tuple[tuple[str, str, Any], ...]] = {
    "quick": (("apgd-ce", "max_iter", 20), ("apgd-dlr", "max_iter", 20)),
    "paper": (("deepfool", "max_iter", 50),),
}


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
        ``("pgd", "steps", 40)`` or ``"pgd.steps=40"``; each sweep gets the entries that apply
        to its attacks (`artgenre.attacks.params.select_params`). The profile's
        `PROFILE_ATTACK_PARAMS` (quick: APGD with 20 iterations; paper: DeepFool with 50) come
        first unless an entry sets the same attack and key.
    transfer_attacks, transfer_eps
        Transfer sweep between every ordered pair of models (empty to skip).
    waveform_attacks, waveform_snr_db, waveform_models
        White-box sweep under the ``waveform`` threat model (`artgenre.threats_waveform`) at
        the SNR budgets ``waveform_snr_db`` (dB, l2rel) on ``waveform_models`` (default the
        CNN, like the defenses; empty: every model); into ``attack-<model>-waveform.json``.
        Empty ``waveform_attacks`` skips it.
    defenses : tuple of str
        `artgenre.defenses.DEFENSES` keys, applied to each of ``defense_models``.
    defense_attacks : tuple of str
        ε-bounded attacks defenses are evaluated with.
    defense_eps : tuple of float
        ε grid at which defenses are evaluated.
    limit : int or None
        Attack at most this many test segments (None: the whole test split).
    seed : int
        Seed of training and attacks (one replicate).
    seeds : tuple of int
        Seed replicates: with two or more, every model and defense is trained and evaluated once
        per seed, into ``<out>/seed-<s>/`` (the data split stays fixed by ``data_seed``); empty
        means ``(seed,)``.
    device : str
        ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
    out : str
        Results folder; the report goes to ``<out>/report``.
    strength_check : bool
        Run the stronger-PGD convergence check in the white-box and defense sweeps
        (`artgenre.attacks.strength`).
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
    attacks: tuple[str, ...] = ("fgsm", "pgd", "apgd-ce", "deepfool", "noise")
    eps: tuple[float, ...] = QUICK_EPS
    attack_params: tuple[tuple[str, str, Any], ...] = ()
    transfer_attacks: tuple[str, ...] = ("fgsm", "pgd")
    transfer_eps: tuple[float, ...] = (0.03,)
    waveform_attacks: tuple[str, ...] = ("pgd",)
    waveform_snr_db: tuple[float, ...] = (40.0,)
    waveform_models: tuple[str, ...] = ("cnn",)
    defenses: tuple[str, ...] = ("adv-mixed", "detector")
    defense_models: tuple[str, ...] = ("cnn",)
    defense_attacks: tuple[str, ...] = ("fgsm", "pgd", "apgd-ce")
    defense_eps: tuple[float, ...] = (0.01, 0.03)
    limit: int | None = None
    seed: int = 0
    seeds: tuple[int, ...] = ()
    device: str = "auto"
    out: str = "results"
    strength_check: bool = True

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
        for name in self.attacks + self.transfer_attacks + self.defense_attacks + self.waveform_attacks:
            attack_spec(name)
        from artgenre.threats_waveform import parse_snr

        object.__setattr__(self, "waveform_snr_db", parse_snr(self.waveform_snr_db))
        stray = [m for m in self.waveform_models if m not in self.models]
        if stray:
            raise ParameterError(f"waveform_models={stray} are not among models={list(self.models)}; "
                                 "a waveform sweep attacks a model trained in the same run: choose some of "
                                 "models (--waveform-models), or skip the sweep (--waveform-attacks '')")
        user = parse_triples(self.attack_params)
        given = {(a, k) for a, k, _ in user}
        defaults = tuple(t for t in PROFILE_ATTACK_PARAMS.get(self.profile, ())
                         if (t[0], t[1]) not in given and ("*", t[1]) not in given)
        object.__setattr__(self, "attack_params", defaults + user)
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
        check_int("seed", self.seed, 0)
        check_int("data_seed", self.data_seed, 0)
        if self.epochs is not None:
            check_int("epochs", self.epochs, 1)
        for name in ("eps", "transfer_eps", "defense_eps"):
            object.__setattr__(self, name, parse_eps(getattr(self, name), name=name, allow_empty=name != "eps"))
        check_device_name(self.device)
        seeds = tuple(check_int("seeds", s, 0) for s in self.seeds)
        if len(set(seeds)) != len(seeds):
            raise ParameterError(f"seeds={list(self.seeds)} repeats a seed; give each replicate seed once")
        object.__setattr__(self, "seeds", seeds)

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
        if isinstance(value, str):  # "cnn,resnet18", "0,0.01", "" (none), as on the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
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


class _Status:
    """``<out>/pipeline.json``: the config, the executor and each unit's outcome, rewritten after
    every unit so that a killed run shows how far it got."""

    def __init__(self, config: PipelineConfig, path: Path, run: dict) -> None:
        self.config = config
        self.path = path
        self.run = run
        self.records: list[dict] = []
        self.t0 = time.perf_counter()

    def add(self, outcome) -> None:
        record = {"stage": outcome.name, "seconds": round(outcome.seconds, 3), "status": outcome.status,
                  "attempts": outcome.attempts}
        if outcome.error:
            record["error"] = outcome.error
        self.records.append(record)
        self.save(finished=False)

    def save(self, *, finished: bool) -> None:
        atomic_write_json(self.path, {
            "kind": "pipeline",
            "config": self.config,
            "run": self.run,
            "meta": run_metadata(),
            "finished": finished,
            "stages": self.records,
            "seconds": round(time.perf_counter() - self.t0, 3),
        })


def run_pipeline(config: PipelineConfig, *, progress: bool = True, executor: str = "serial",
                 address: str | None = None, cpus_per_unit: int | None = None) -> PipelineResult:
    """Run every stage of the experiment described by ``config``.

    The grid (`artgenre.grid.build_units`: prepare the dataset; per seed, train each model, the
    white-box sweep of each model, transfer sweeps, each defense on each defended model) runs on
    the chosen executor; then the report (`build_report`) is built from whatever finished. Each
    unit resumes from its result files.

    Parameters
    ----------
    config : PipelineConfig
    progress : bool
        Progress bars (units, and the stages' own bars in the serial executor).
    executor : str
        `artgenre.executors.EXECUTORS` key: ``serial`` (default, this process) or ``ray``.
    address : str, optional
        Ray cluster address (``executor="ray"``; default: start a local Ray for the run).
    cpus_per_unit : int, optional
        CPU threads per unit (reserved CPUs under Ray); default: PyTorch's thread count here.
        It is part of the numerics: runs compared for identical results must use the same value.

    Returns
    -------
    PipelineResult
        Unit timings and the report summary.

    Raises
    ------
    ArtGenreError
        Bad parameters; `artgenre.executors.UnitsFailedError` when units failed (after every
        independent unit and the report finished); `artgenre.lock.FolderLockedError` when
        another process writes into ``config.out``.
    """
    from artgenre.executors import EXECUTORS
    from artgenre.runs import hold_results_folder
    from artgenre.validate import validate_pipeline

    EXECUTORS[executor]
    if cpus_per_unit is not None:
        check_int("cpus_per_unit", cpus_per_unit, 1)
    # Every stage's config and every output folder is checked before any work starts.
    validate_pipeline(config)
    # The pipeline holds its results folder: temporary files below it are a killed run's.
    with hold_results_folder(config.out, command="artgenre run"):
        return _run_units(config, progress=progress, executor=executor, address=address, cpus=cpus_per_unit)


def _run_units(config: PipelineConfig, *, progress: bool, executor: str, address: str | None,
               cpus: int | None) -> PipelineResult:
    from artgenre.executors import UnitsFailedError, run_units
    from artgenre.grid import build_units, default_cpus
    from artgenre.report import build_report

    seed_everything(config.seed)
    out = Path(config.out)
    cpus = default_cpus() if cpus is None else cpus
    units = build_units(config, cpus=cpus, progress=progress and executor == "serial")
    status = _Status(config, out / "pipeline.json", {"executor": executor, "address": address,
                                                      "cpus_per_unit": cpus, "units": len(units)})
    for u in units:
        log.info("pipeline unit: %s", u.name)
    outcomes = run_units(units, executor=executor, address=address, progress=progress,
                         raise_on_failure=False, on_outcome=status.add)
    for o in outcomes:
        if o.status == "skipped":
            status.add(o)
    if not any(o.status != "done" for o in outcomes):
        # Shared adversarial sets only save crafting within a run; a finished run needs none.
        from artgenre.attacks.store import STORE_DIR

        shutil.rmtree(out / STORE_DIR, ignore_errors=True)
    start = time.perf_counter()
    summary = build_report(results_dir=out, out_dir=out / "report")
    status.records.append({"stage": "report", "seconds": round(time.perf_counter() - start, 3), "status": "done",
                           "attempts": 1})
    failed = [o for o in outcomes if o.status != "done"]
    status.save(finished=not failed)
    if failed:
        raise UnitsFailedError(outcomes)
    return PipelineResult(
        config=config, stages=status.records, seconds=time.perf_counter() - status.t0,
        report=summary, status_file=status.path,
    )


__all__ = [
    "PipelineConfig",
    "PipelineResult",
    "make_pipeline_config",
    "run_pipeline",
]
