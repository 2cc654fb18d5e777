"""``artgenre attack``: `AttackConfig` and `run_attack` (white-box and transfer sweeps).

`run_attack` loads the checkpoint(s), reloads the data the target was trained on, takes
``limit`` samples (`artgenre.runs.choose_samples`), sweeps the ε-bounded attacks
(`artgenre.attacks.cells.sweep_cells`), runs each minimal-norm attack once
(`artgenre.attacks.minimal`), runs the checks (`artgenre.attacks.checks`), saves examples
(`artgenre.attacks.examples`) and writes ``<out>/attack-<model>[-from-<source>][-<defense>].json``
after every cell through `artgenre.runs.ResultWriter`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.attacks import examples as ex
from artgenre.attacks.audio_examples import save_verified_examples
from artgenre.attacks.cells import sweep_cells
from artgenre.attacks.minimal import minimal_norm_block, reuse_block
from artgenre.attacks.robust import robust_entries
from artgenre.attacks.store import STORE_DIR, AdversarialStore
from artgenre.attacks.strength import strength_block, strength_checks
from artgenre.attacks.params import params_to_json, parse_triples, resolve_params
from artgenre.attacks.spec import ATTACKS, attack_spec
from artgenre.errors import ParameterError, check_choice, check_device_name, check_int
from artgenre.io import merged_key, read_previous_result, read_result
from artgenre.runs import (
    ResultWriter,
    check_fits,
    checkpoint_digest,
    choose_samples,
    json_values,
    load_checkpoint_data,
    load_classifier,
    merge_cells,
    parse_eps,
    same_eps,
    stratified_order,
)
from artgenre.runtime import log, run_metadata, seed_everything
from artgenre.threats import DEFAULT_THREAT, THREAT_MODELS, threat_suffix
from artgenre.threats_waveform import parse_snr, snr_to_eps

#: The seed paper's ε grid (input units; 0.01 = 0.8 dB, 0.1 = 8 dB).
DEFAULT_EPS = (0.0, 0.001, 0.005, 0.01, 0.03, 0.05, 0.1)
#: The default attack list of ``artgenre attack`` and ``artgenre run`` (one list for both).
#: DeepFool is left out: 2.3-6.2 s per segment on a CPU (docs/methodology.md); add it by name.
DEFAULT_ATTACKS = ("fgsm", "pgd", "noise")
#: Data partitions an attack run may attack.
PARTITIONS = ("train", "val", "test")


def _parse_attacks(values) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    names = tuple(dict.fromkeys(attack_spec(v).name for v in values))
    if not names:
        raise ParameterError(f"attacks is empty; choose from: {', '.join(ATTACKS)}, or art:<Class>")
    return names


@dataclass(frozen=True)
class AttackConfig:
    """Everything that determines an ``artgenre attack`` run (saved as ``config``).

    Attributes
    ----------
    checkpoint : str
        Checkpoint of the evaluated (target) model.
    attacks : tuple of str
        `ATTACKS` keys or ``art:<Class>`` names; a comma-separated string is accepted.
    eps : tuple of float
        Budgets (`artgenre.eps.parse_eps`: each finite in [0, 1], sorted, duplicates dropped;
        a comma-separated string is accepted).
    limit : int or None
        Attack only this many samples of the partition (seeded, class-stratified); None: all.
    batch_size : int
        Attack and prediction batch size (>= 1).
    device : str
        ``"auto" | "cpu" | "cuda" | "cuda:N"``.
    out : str
        Output folder.
    seed : int
        Seeds the sample choice and every cell (>= 0).
    source_checkpoint : str or None
        Transfer attack: craft on this model, evaluate the target.
    params : tuple of (attack, key, value)
        Attack parameters; attack ``"*"`` means every attack that accepts the key. Strings
        ``"pgd.steps=50"`` / ``"norm=inf"`` are parsed (`artgenre.attacks.parse_params`).
    n_examples : int
        Adversarial examples saved to the ``.npz`` (>= 0).
    partition : str
        ``"test"`` (default), ``"val"`` or ``"train"``: which part of the split is attacked.
    threat : str
        `artgenre.threats.THREAT_MODELS` key (what is perturbed).
    strength_check : bool
        Run the stronger-PGD convergence check (`artgenre.attacks.strength`; extra cells on a
        32-segment subset, stored as ``strength``).
    snr_db : tuple of float
        SNR budgets in dB (each finite >= 0; a comma-separated string is accepted) for threat
        models with an ``l2rel`` budget (``waveform``): cells with ‖δ‖ ≤ ε‖x‖, ε = 10^(−SNR/20).
        ``eps`` may then be empty (no L∞ cells).
    share : tuple of (attack, ε)
        White-box L∞ cells whose adversarial sets are written to ``<out>/adversarial/`` for
        other runs of a grid to read instead of crafting them again (`artgenre.attacks.store`;
        `artgenre.grid` sets it for transfers and defenses that craft on this model).

    Raises
    ------
    ParameterError
        A bad ε (negative, > 1, NaN, not a number), unknown attack, unknown or misdirected
        parameter, or another out-of-range field.
    """

    checkpoint: str
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    eps: tuple[float, ...] = DEFAULT_EPS
    limit: int | None = None
    batch_size: int = 64
    device: str = "auto"
    out: str = "results"
    seed: int = 0
    source_checkpoint: str | None = None
    params: tuple[tuple[str, str, Any], ...] = ()
    n_examples: int = 8
    partition: str = "test"
    threat: str = DEFAULT_THREAT
    snr_db: tuple[float, ...] = ()
    strength_check: bool = True
    share: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        def set_(name: str, value) -> None:  # normalise fields of the frozen instance
            object.__setattr__(self, name, value)

        if self.checkpoint is None or not str(self.checkpoint).strip():
            raise ParameterError("checkpoint is required; give the .pt file written by `artgenre train`")
        set_("checkpoint", str(self.checkpoint))
        set_("attacks", _parse_attacks(self.attacks))
        set_("snr_db", parse_snr(self.snr_db))
        set_("eps", parse_eps(self.eps, allow_empty=bool(self.snr_db)))
        set_("limit", None if self.limit is None else check_int("limit", self.limit, 1))
        set_("batch_size", check_int("batch_size", self.batch_size, 1))
        set_("device", check_device_name(self.device))
        set_("out", str(self.out))
        set_("seed", check_int("seed", self.seed, 0))
        set_("source_checkpoint", None if self.source_checkpoint in (None, "") else str(self.source_checkpoint))
        set_("n_examples", check_int("n_examples", self.n_examples, 0))
        if not isinstance(self.strength_check, (bool, np.bool_)):
            raise ParameterError(f"strength_check={self.strength_check!r} is not valid; expected true or false")
        check_choice("partition", self.partition, PARTITIONS)
        THREAT_MODELS[self.threat]
        if self.snr_db and "l2rel" not in THREAT_MODELS[self.threat].budget_kinds:
            raise ParameterError(
                f"snr_db={list(self.snr_db)} is an l2rel (SNR) budget, which threat model {self.threat!r} does not "
                f"take (it accepts {', '.join(THREAT_MODELS[self.threat].budget_kinds)}); use --threat "
                + " or ".join(n for n in THREAT_MODELS if "l2rel" in THREAT_MODELS[n].budget_kinds)
                + " or leave out --snr-db"
            )
        triples = parse_triples(self.params)
        resolve_params(attacks=self.attacks, triples=triples)  # validates names and keys
        set_("params", triples)
        try:
            share = tuple((attack_spec(str(a)).name, float(e)) for a, e in self.share)
        except (TypeError, ValueError):
            raise ParameterError(f"share={self.share!r} is not valid; expected (attack, ε) pairs") from None
        set_("share", share)

    def budgets(self) -> list[tuple[str, tuple[float, ...]]]:
        """The swept (cell ``norm``, ε grid) pairs: ``("inf", eps)`` and, with ``snr_db``,
        ``("l2rel", ε = 10^(−SNR/20) ascending)``; empty grids left out."""
        out = [("inf", self.eps)] if self.eps else []
        if self.snr_db:
            out.append(("l2rel", tuple(sorted(snr_to_eps(v) for v in self.snr_db))))
        return out

    def attack_params(self) -> dict[str, dict[str, Any]]:
        """Per-attack parameter dicts (``"*"`` entries expanded)."""
        return resolve_params(attacks=self.attacks, triples=self.params)

    def to_dict(self) -> dict:
        """JSON form (parameter values ``inf`` kept as the string ``"inf"``)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["params"] = params_to_json(self.params)
        return json_values(d)


def result_stem(*, model: str, source_model: str | None = None, defense: str | None = None,
                threat: str = DEFAULT_THREAT) -> str:
    """``attack-<model>[-from-<source>][-<defense>][-<threat>]`` (without ``.json``); the threat
    only when it is not the default, so each threat model has its own file and examples."""
    return ("attack-" + model + (f"-from-{source_model}" if source_model else "") + (f"-{defense}" if defense else "")
            + threat_suffix(threat))


def _resume_key(config: AttackConfig, target, source) -> dict:
    # Cells depend on these; attacks, ε grid, n_examples, out, device and batch size do not
    # (per-cell seeding makes a cell independent of the grid and of batching), nor where the
    # checkpoints lie (digests of their content, so a moved results folder resumes).
    d = config.to_dict()
    return {"checkpoint_digest": checkpoint_digest(target.checkpoint),
            "source_digest": checkpoint_digest(source.checkpoint if source else None),
            # Parameters per attack: a run with other attacks adds cells instead of conflicting.
            "params": json_values(config.attack_params()),
            **{k: d[k] for k in ("limit", "seed", "partition", "threat")}}


def _whitebox_reference(out: Path, model: str, defense: str | None, threat: str = DEFAULT_THREAT) -> list[dict] | None:
    ref = read_result(out / (result_stem(model=model, defense=defense, threat=threat) + ".json"), kind="attack")
    if ref is None or ref.get("source_model"):
        return None
    return [c for c in ref.get("cells") or [] if isinstance(c, dict) and "segment_accuracy" in c]


def run_attack(config: AttackConfig, *, data=None, progress: bool = True) -> dict:
    """Attack a trained model over an ε grid and write ``<out>/attack-<model>[-from-<source>].json``.

    The result (``kind: "attack"``, docs/design.md) is rewritten after every cell; a rerun with
    the same checkpoint(s), limit, seed, partition, threat and parameters reuses the finished
    (attack, ε) cells, the minimal-norm block and the examples and adds the new ones; cells of
    the file that this run does not request are kept. A file of another checkpoint, limit,
    seed, partition, threat or parameters is never overwritten (`ResultConflictError`).

    Parameters
    ----------
    config : AttackConfig
    data : artgenre.data.Dataset, optional
        Already-loaded data (tests, pipelines); default: reloaded from the checkpoint.
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        The result as written (JSON values).

    Raises
    ------
    CheckpointError
        Missing or unreadable checkpoint, or one without a data configuration.
    DataError
        Input shape or class count that does not fit the model(s).
    artgenre.io.ResultConflictError
        The result file holds a result of another configuration (named with the differing
        fields).
    """
    from artgenre.evaluation import evaluate
    from artgenre.threats import threat_model

    if not isinstance(config, AttackConfig):
        raise ParameterError(f"config must be an AttackConfig; got {type(config).__name__}")
    started = time.perf_counter()
    seed_everything(config.seed)
    threat = threat_model(config.threat)
    target = load_classifier(config.checkpoint, device=config.device, threat=config.threat)
    source = load_classifier(config.source_checkpoint, device=config.device, threat=config.threat) \
        if config.source_checkpoint else None
    if data is None:
        data = load_checkpoint_data(checkpoint=target.checkpoint, progress=progress)
    full = data.split(config.partition)
    for loaded, role in ((target, "model"), (source, "source model")):
        if loaded is not None:
            check_fits(classifier=loaded.classifier, shape=threat.input_shape(full), n_classes=data.n_classes,
                       what=f"the {role} of {str(loaded.checkpoint.path)!r}",
                       where=f"the {config.partition} split of dataset {data.name!r}")
    index, split = choose_samples(split=full, limit=config.limit, seed=config.seed)
    # Positions within the attacked samples; stored in the result as indices into the split.
    example_idx = np.sort(stratified_order(y=split.y, seed=config.seed)[: config.n_examples])

    clf = target.classifier
    model = target.checkpoint.model_name
    source_model = source.checkpoint.model_name if source else None
    out = Path(config.out)
    stem = result_stem(model=model, source_model=source_model, defense=target.defense, threat=config.threat)
    path, examples_path = out / f"{stem}.json", out / f"{stem}-examples.npz"
    key = _resume_key(config, target, source)
    previous = read_previous_result(path, kind="attack", resume_key=key, per_item=("params",)) or {}
    key = merged_key(previous.get("resume_key"), key, per_item=("params",))
    existing = [c for c in previous.get("cells") or [] if isinstance(c, dict)]

    x_split = threat.inputs(split)
    clean_logits = threat.predict(clf, x_split, split=split, batch_size=config.batch_size)
    clean = evaluate(logits=clean_logits, y=split.y, track=split.track, n_classes=int(data.n_classes))
    craft = source.classifier if source else clf
    params = config.attack_params()
    swept = [a for a in config.attacks if attack_spec(a).eps_bounded]
    minimal = [a for a in config.attacks if attack_spec(a).minimal_norm]

    writer = ResultWriter(path=path, base={
        "kind": "attack", "config": config.to_dict(), "meta": run_metadata(), "model": model, "dataset": data.name,
        "genres": list(data.genres), "source_model": source_model, "defense": target.defense,
        "threat": config.threat, "clean": clean, "n_samples": int(len(split)), "resume_key": key,
    }, started=started, previous=previous)
    # Earlier cells and blocks this run does not request stay in the file (a narrower rerun adds).
    state: dict[str, Any] = {"cells": existing, "deepfool": previous.get("deepfool"),
                             "strength": previous.get("strength")}
    clean_correct = clean_logits.argmax(axis=1) == split.y

    def write(complete: bool, **extra) -> dict:
        robust = robust_entries(cells=state["cells"], clean_correct=clean_correct, track=split.track,
                                minimal=state["deepfool"], threat=config.threat, seed=config.seed)
        return writer.write(complete=complete, cells=state["cells"], deepfool=state["deepfool"], robust=robust,
                            strength=state["strength"], **extra)

    def save(cells: list) -> None:
        state["cells"] = merge_cells(cells, existing)
        write(False, checks=[], examples=previous.get("examples"))

    budgets = config.budgets()
    # Examples come from the last budget kind swept (the SNR budget when there is one).
    example_norm = budgets[-1][0]
    chosen = ex.choose_example_cell(swept, budgets[-1][1])
    old_ex = previous.get("examples")
    if isinstance(old_ex, dict) and (out / str(old_ex.get("file"))).is_file() and any(
            c.get("attack") == old_ex.get("attack") and same_eps(c.get("eps", -1), old_ex.get("eps", -1))
            for c in existing):
        chosen = (old_ex["attack"], float(old_ex["eps"]))  # a rerun keeps the examples it already saved
    captured: dict[str, np.ndarray] = {}

    def capture_for(norm: str):
        def capture(attack: str, eps: float, x_adv: np.ndarray) -> None:
            if chosen is not None and norm == example_norm and attack == chosen[0] and same_eps(eps, chosen[1]):
                rows = slice(None) if threat.verified_examples else example_idx
                captured["x"] = np.array(x_adv[rows], dtype=np.float32)
        return capture

    done: list[dict] = []
    for norm, grid in budgets:
        before = list(done)
        done = before + sweep_cells(
            craft_classifier=craft, eval_classifier=clf, split=split, attacks=swept, eps=grid,
            batch_size=config.batch_size, seed=config.seed, params=params, on_adversarial=capture_for(norm),
            existing_cells=existing, save=lambda cells, before=before: save(before + cells), adaptive=False,
            clean_logits=clean_logits, progress=progress, threat=config.threat, norm=norm,
            store=AdversarialStore(out / STORE_DIR), share=config.share if source is None else (),
        )
    state["cells"] = merge_cells(done, existing)

    for attack in minimal:
        block = reuse_block(previous.get("deepfool"), attack=attack, eps=config.eps)
        if block is not None:
            log.info("%s block reused from %s", attack, path)
        else:
            block = minimal_norm_block(
                craft_classifier=craft, eval_classifier=clf, split=split, eps=config.eps,
                batch_size=config.batch_size, seed=config.seed, params=params.get(attack),
                clean_logits=clean_logits, progress=progress, attack=attack, threat=config.threat,
            )
        state["deepfool"] = block
        write(False, checks=[], examples=previous.get("examples"))

    # Check (a) of `artgenre.attacks.strength`: a stronger PGD on a fixed subset (white-box only).
    if config.strength_check and source is None and config.eps:
        def save_strength(block: dict) -> None:
            state["strength"] = block
            write(False, checks=[], examples=previous.get("examples"))

        state["strength"] = strength_block(
            craft_classifier=craft, eval_classifier=clf, split=split, eps=config.eps, batch_size=config.batch_size,
            seed=config.seed, params=params, previous=previous.get("strength"), save=save_strength,
            threat=config.threat, progress=progress, cells=state["cells"], clean_correct=clean_correct,
            store=AdversarialStore(out / STORE_DIR), share=config.share)
    whitebox = _whitebox_reference(out, model, target.defense, config.threat) if source else None
    checks: list[dict] = strength_checks(
        cells=state["cells"], strength=state["strength"] if config.strength_check else None,
        clean_correct=clean_correct, track=split.track, n_classes=int(data.n_classes),
        expect_chance=source is None)
    # One budget kind at a time: ε of different norms are not comparable.
    for norm in dict.fromkeys(["inf"] + [c.get("norm", "inf") for c in state["cells"]]):
        checks += threat.checks(cells=[c for c in state["cells"] if c.get("norm", "inf") == norm], norm=norm,
                                n_classes=int(data.n_classes), transfer=source is not None,
                                whitebox_cells=None if whitebox is None else
                                [c for c in whitebox if c.get("norm", "inf") == norm])

    examples = previous.get("examples")
    if threat.verified_examples:
        if "x" in captured and config.n_examples:
            examples = save_verified_examples(
                path=examples_path, threat=threat, classifier=clf, split=split, x_adv=captured["x"],
                clean_pred=clean_logits.argmax(axis=1), n_examples=config.n_examples, seed=config.seed,
                attack=chosen[0], eps=chosen[1], norm=example_norm, genres=data.genres,
                batch_size=config.batch_size, index=index)
    elif chosen is not None and len(example_idx):
        examples = ex.save_spectrogram_examples(
            path=examples_path, old=old_ex, x_adv=captured.get("x"), attack=chosen[0], eps=chosen[1], split=split,
            inputs=x_split, idx=example_idx, index=index, craft=craft, classifier=clf, params=params.get(chosen[0]),
            seed=config.seed, batch_size=config.batch_size, clean_pred=clean_logits.argmax(axis=1),
            genres=data.genres)

    return write(True, checks=checks, examples=examples, seconds=writer.seconds())


__all__ = ["AttackConfig", "DEFAULT_ATTACKS", "DEFAULT_EPS", "PARTITIONS", "result_stem", "run_attack"]
