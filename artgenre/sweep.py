"""ε sweeps: accuracy of a classifier under each attack at each budget, with automatic checks.

One function, `sweep_cells`, evaluates (attack, ε) *cells* for every scenario: white-box
(craft on the evaluated classifier), transfer (craft on a source model, evaluate the target),
non-adaptive defense evaluation (craft on the undefended classifier, evaluate the defended one)
and adaptive evaluation (craft on the defended classifier). `deepfool_block` runs a
minimal-norm attack once and derives the accuracy each ε would leave; `run_checks` applies the
sanity checks of Carlini et al. (2019); `run_attack` ties them together for ``artgenre attack``.

Definitions used in every cell (also in docs/design.md):

- ``segment_accuracy`` / ``track_accuracy``: accuracy of the *evaluated* classifier on the
  adversarial segments / by majority vote of each track's segments (Wilson 95 % CI).
- ``success_rate``: among segments the evaluated classifier gets right on clean input, the
  fraction it gets wrong on adversarial input.
- ``l2``, ``linf``: per-segment norms of ``x_adv - x`` in input units (mean, median; ``linf``
  also its max); ``perturbation_db``: ``|x_adv - x| * 80`` dB averaged over every bin
  (``mean_abs``) and its maximum (``max_abs``), by the fixed [0, 1] ↔ dB map.
- ε = 0 cells use ``x_adv = x`` and the clean logits, so they equal the clean accuracy exactly.

Every cell is seeded from (seed, attack, ε) alone, so a cell's value does not depend on which
other cells ran before it, and a resumed sweep gives the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.attacks import (
    ATTACKS,
    MINIMAL_NORM_ATTACKS,
    check_attack_name,
    is_eps_bounded,
    make_attack,
    parse_params,
    resolve_params,
)
from artgenre.errors import CheckpointError, DataError, ParameterError, check_choice, check_device_name, check_int
from artgenre.io import atomic_path, atomic_write_json, read_previous_result, read_result, to_jsonable
from artgenre.runtime import log, progress as progress_bar, run_metadata, seed_everything
from artgenre.stats import proportion

#: The seed paper's ε grid (input units; 0.01 = 0.8 dB, 0.1 = 8 dB).
DEFAULT_EPS = (0.0, 0.001, 0.005, 0.01, 0.03, 0.05, 0.1)
DEFAULT_ATTACKS = ("fgsm", "pgd", "deepfool")
#: dB per input unit (x = (dB + 80) / 80).
DB_PER_UNIT = 80.0
#: "Near chance" for the PGD check: accuracy at most 1/n_classes + this margin.
CHANCE_MARGIN = 0.1
#: Slack for the ε-budget check (float32 rounding of x + ε).
LINF_TOLERANCE = 1e-6
#: Attacks whose L∞ perturbation must stay within ε (checked automatically).
BUDGET_CHECKED = ("fgsm", "pgd", "noise")
#: ε the saved adversarial examples are taken at (nearest available).
EXAMPLE_EPS = 0.01
_SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------- config


def _parse_eps(values) -> tuple[float, ...]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if isinstance(values, (int, float)):
        values = [values]
    out = []
    for v in values:
        if isinstance(v, bool):
            raise ParameterError(f"eps={v!r} is not valid; expected numbers in [0, 1]")
        try:
            f = float(str(v).strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            raise ParameterError(f"eps={v!r} is not a number; expected numbers in [0, 1], e.g. 0,0.01,0.1") from None
        if not math.isfinite(f) or not 0.0 <= f <= 1.0:
            raise ParameterError(f"eps={v!r} is out of range; every ε must be a finite number in [0, 1]")
        out.append(f)
    if not out:
        raise ParameterError("eps is empty; give at least one ε in [0, 1], e.g. 0,0.01,0.1")
    return tuple(sorted(set(out)))


def _parse_attacks(values) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    names = []
    for v in values:
        check_attack_name(name=v)
        if v not in names:
            names.append(v)
    if not names:
        raise ParameterError(f"attacks is empty; choose from: {', '.join(ATTACKS)}, or art:<Class>")
    return tuple(names)


def _parse_triples(values) -> tuple[tuple[str, str, Any], ...]:
    if isinstance(values, str):
        values = [values]
    items = list(values or ())
    if all(isinstance(v, str) for v in items):
        return parse_params(items=items)
    out = []
    for t in items:
        if not isinstance(t, (list, tuple)) or len(t) != 3:
            raise ParameterError(f"params entry {t!r} is not valid; expected (attack, key, value) or 'attack.key=value'")
        out.append((str(t[0]), str(t[1]), t[2]))
    return tuple(out)


_int = check_int


_device_name = check_device_name


def _json_value(v: Any) -> Any:
    # Non-finite parameter values (norm=inf) must survive the JSON round trip as text.
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


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
        L∞ budgets in input units, each finite in [0, 1]; sorted, duplicates dropped; a
        comma-separated string is accepted.
    limit : int or None
        Attack only this many segments of the split (a seeded, class-stratified choice);
        None attacks the whole split.
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
    split : str
        ``"test"`` (default), ``"val"`` or ``"train"``.

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
    split: str = "test"

    def __post_init__(self) -> None:
        def set_(name: str, value) -> None:  # normalise fields of the frozen instance
            object.__setattr__(self, name, value)

        if self.checkpoint is None or not str(self.checkpoint).strip():
            raise ParameterError("checkpoint is required; give the .pt file written by `artgenre train`")
        set_("checkpoint", str(self.checkpoint))
        set_("attacks", _parse_attacks(self.attacks))
        set_("eps", _parse_eps(self.eps))
        set_("limit", None if self.limit is None else _int("limit", self.limit, 1))
        set_("batch_size", _int("batch_size", self.batch_size, 1))
        set_("device", _device_name(self.device))
        set_("out", str(self.out))
        set_("seed", _int("seed", self.seed, 0))
        set_("source_checkpoint", None if self.source_checkpoint in (None, "") else str(self.source_checkpoint))
        set_("n_examples", _int("n_examples", self.n_examples, 0))
        check_choice("split", self.split, _SPLITS)
        triples = _parse_triples(self.params)
        resolve_params(attacks=self.attacks, triples=triples)  # validates names and keys
        set_("params", triples)

    def attack_params(self) -> dict[str, dict[str, Any]]:
        """Per-attack parameter dicts (``"*"`` entries expanded)."""
        return resolve_params(attacks=self.attacks, triples=self.params)

    def to_dict(self) -> dict:
        """JSON form (parameter values ``inf`` kept as the string ``"inf"``)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["attacks"] = list(self.attacks)
        d["eps"] = list(self.eps)
        d["params"] = [[a, k, _json_value(v)] for a, k, v in self.params]
        return json.loads(json.dumps(to_jsonable(d)))


# --------------------------------------------------------------------------- cells


def _bar(show: bool):
    return progress_bar(disable=not show)


def _seed_cell(seed: int, attack: str, eps: float) -> None:
    import torch

    mixed = (int(seed) * 1_000_003 + zlib.crc32(f"{attack}|{eps:.12g}".encode())) % 2**32
    np.random.seed(mixed)
    torch.manual_seed(mixed)


def _same_eps(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-12


def _find_cell(cells: Iterable[dict], attack: str, eps: float, adaptive: bool) -> dict | None:
    for c in cells or ():
        if (c.get("attack") == attack and _same_eps(c.get("eps", -1), eps)
                and bool(c.get("adaptive")) == bool(adaptive)):
            return c
    return None


def _generate(attack, x: np.ndarray, y: np.ndarray, chunk: int, advance: Callable[[int], None]) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(0, len(x), chunk):
        out[i : i + chunk] = attack.generate(x[i : i + chunk], y[i : i + chunk])
        advance(min(chunk, len(x) - i))
    return out


def _norm_stats(values: np.ndarray, *, with_values: bool = False, with_max: bool = False) -> dict:
    v = np.asarray(values, dtype=np.float64)
    out = {
        "mean": float(v.mean()) if v.size else None,
        "median": float(np.median(v)) if v.size else None,
    }
    if with_max:
        out["max"] = float(v.max()) if v.size else None
    if with_values:
        out["values"] = [float(a) for a in v]
    return out


def perturbation_norms(*, x: np.ndarray, x_adv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample L2 and L∞ norms of ``x_adv - x``.

    Parameters
    ----------
    x, x_adv : np.ndarray, shape (N, ...)

    Returns
    -------
    (l2, linf) : two float64 arrays of shape (N,)
    """
    l2, linf, _sum = _delta_stats(x, x_adv)
    return l2, linf


def _delta_stats(x: np.ndarray, x_adv: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray, float]:
    # Chunked so a whole test split never needs a float64 copy of x and x_adv at once.
    n = len(x)
    l2, linf, total = np.zeros(n), np.zeros(n), 0.0
    for i in range(0, n, chunk):
        d = (np.asarray(x_adv[i : i + chunk], dtype=np.float64)
             - np.asarray(x[i : i + chunk], dtype=np.float64)).reshape(min(chunk, n - i), -1)
        if d.shape[1] == 0:
            continue
        a = np.abs(d)
        l2[i : i + chunk] = np.sqrt(np.einsum("ij,ij->i", d, d))
        linf[i : i + chunk] = a.max(axis=1)
        total += float(a.sum())
    return l2, linf, total


def _cell(*, attack, eps, adaptive, x, x_adv, logits, clean_pred, y, track, n_classes, seconds) -> dict:
    from artgenre.evaluation import evaluate

    ev = evaluate(logits=logits, y=y, track=track, n_classes=n_classes)
    pred = np.asarray(logits).argmax(axis=1)
    correct0 = clean_pred == y
    l2, linf, abs_sum = _delta_stats(x, x_adv)
    size = max(int(np.prod(x.shape)), 1)
    return {
        "attack": attack,
        "eps": float(eps),
        "eps_db": float(eps) * DB_PER_UNIT,
        "adaptive": bool(adaptive),
        "segment_accuracy": ev["segment_accuracy"],
        "track_accuracy": ev["track_accuracy_vote"],
        "track_accuracy_mean": ev["track_accuracy_mean"],
        "success_rate": proportion(int((correct0 & (pred != y)).sum()), int(correct0.sum())),
        "l2": _norm_stats(l2),
        "linf": _norm_stats(linf, with_max=True),
        "perturbation_db": {
            "mean_abs": abs_sum / size * DB_PER_UNIT,
            "max_abs": float(linf.max(initial=0.0)) * DB_PER_UNIT,
        },
        "seconds": float(seconds),
        "confusion": ev["confusion"],
        "n": int(len(y)),
    }


def _split_arrays(split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from artgenre.evaluation import as_float32

    try:
        x, y, track = split.x, split.y, split.track
    except AttributeError:
        raise DataError("split must have x, y and track arrays (an artgenre.data.Split)") from None
    x = as_float32(x)
    y = np.asarray(y, dtype=np.int64)
    track = np.asarray(track)
    if x.ndim < 2 or not (len(x) == len(y) == len(track)):
        raise DataError(f"split has x {x.shape}, y {y.shape}, track {track.shape}; expected matching (N, ...) arrays")
    if len(x) == 0:
        raise DataError("split is empty; nothing to attack")
    return x, y, track


def _check_eps_list(eps) -> list[float]:
    return list(_parse_eps(eps))


def sweep_cells(
    *,
    craft_classifier,
    eval_classifier=None,
    split,
    attacks: Sequence[str],
    eps: Sequence[float],
    batch_size: int,
    seed: int,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    on_adversarial: Callable[[str, float, np.ndarray], None] | None = None,
    existing_cells: Iterable[dict] | None = None,
    save: Callable[[list], None] | None = None,
    adaptive: bool = False,
    clean_logits: np.ndarray | None = None,
    progress: bool = True,
) -> list[dict]:
    """Evaluate every (attack, ε) cell: craft on one classifier, evaluate on another.

    Parameters
    ----------
    craft_classifier : ART classifier
        The attacks' gradients come from it (the source model for transfer, the undefended
        model for non-adaptive and the defended one for adaptive defense evaluation).
    eval_classifier : ART classifier, optional
        Classifier whose accuracy is reported; default ``craft_classifier`` (white-box).
    split : artgenre.data.Split
        ``x`` (N, C, H, W) float32 in [0, 1], ``y`` (N,) int labels, ``track`` (N,) ids.
    attacks : sequence of str
        ε-bounded attack names (`ATTACKS` keys or ``art:<Class>``). Minimal-norm attacks
        (``deepfool``) are rejected: run `deepfool_block` instead.
    eps : sequence of float
        Budgets, each finite in [0, 1].
    batch_size : int
        Attack and prediction batch size (>= 1).
    seed : int
        Each cell is seeded from (seed, attack, ε).
    params : mapping attack -> dict, optional
        Attack parameters (see `artgenre.attacks.attack_params`).
    on_adversarial : callable, optional
        ``on_adversarial(attack, eps, x_adv)`` after each computed cell (not for resumed ones);
        ``x_adv`` has the shape of ``split.x`` (``x_adv is x`` at ε = 0).
    existing_cells : iterable of dict, optional
        Finished cells (e.g. from an interrupted run); a requested (attack, ε, adaptive) found
        here is reused, not recomputed.
    save : callable, optional
        ``save(cells)`` after each computed cell with the requested cells finished so far.
    adaptive : bool
        Stored in each cell (True when the attack is crafted through the defense).
    clean_logits : np.ndarray, shape (N, n_classes), optional
        ``eval_classifier``'s logits on ``split.x`` if already computed.
    progress : bool
        Show a progress bar (segments attacked over all cells).

    Returns
    -------
    list of dict
        The requested cells in (attack, ε) order; schema in the module docstring and
        docs/design.md.

    Raises
    ------
    ParameterError
        Bad ε, unknown attack or parameter, a minimal-norm attack, bad batch size.
    DataError
        Malformed or empty split.
    """
    from artgenre.evaluation import predict_logits

    eval_classifier = craft_classifier if eval_classifier is None else eval_classifier
    eps_list = _check_eps_list(eps)
    batch_size = _int("batch_size", batch_size, 1)
    attacks = list(attacks)
    for a in attacks:
        check_attack_name(name=a)
        if not is_eps_bounded(name=a):
            raise ParameterError(
                f"attack {a!r} finds minimal perturbations and has no ε budget; run it with "
                "deepfool_block (run_attack does) instead of sweep_cells"
            )
    params = {a: dict((params or {}).get(a, {})) for a in attacks}
    x, y, track = _split_arrays(split)
    n_classes = int(eval_classifier.nb_classes)
    if clean_logits is None:
        clean_logits = predict_logits(eval_classifier, x, batch_size=batch_size)
    clean_pred = np.asarray(clean_logits).argmax(axis=1)
    existing = list(existing_cells or ())

    todo = [(a, e) for a in attacks for e in eps_list if _find_cell(existing, a, e, adaptive) is None]
    cells: list[dict] = []
    # Chunks of a few batches keep the progress bar moving within a cell.
    chunk = 8 * batch_size
    with _bar(progress) as bar:
        task = bar.add_task("attack sweep", total=len(todo) * len(x))
        for a in attacks:
            for e in eps_list:
                old = _find_cell(existing, a, e, adaptive)
                if old is not None:
                    cells.append(old)
                    continue
                bar.update(task, description=f"{a} ε={e:g}" + (" (adaptive)" if adaptive else ""))
                _seed_cell(seed, a, e)
                t0 = time.perf_counter()
                if e == 0:
                    x_adv, logits = x, clean_logits
                    bar.advance(task, len(x))
                else:
                    attack = make_attack(a, craft_classifier, eps=e, batch_size=batch_size, params=params[a])
                    x_adv = _generate(attack, x, y, chunk, lambda k: bar.advance(task, k))
                    logits = predict_logits(eval_classifier, x_adv, batch_size=batch_size)
                cell = _cell(
                    attack=a, eps=e, adaptive=adaptive, x=x, x_adv=x_adv, logits=logits,
                    clean_pred=clean_pred, y=y, track=track, n_classes=n_classes,
                    seconds=time.perf_counter() - t0,
                )
                cells.append(cell)
                log.info(
                    "%s ε=%g%s: accuracy %.1f%% (success %.1f%%) in %.1f s", a, e,
                    " (adaptive)" if adaptive else "", 100 * cell["segment_accuracy"]["value"],
                    100 * (cell["success_rate"]["value"] if cell["success_rate"]["n"] else 0.0), cell["seconds"],
                )
                if on_adversarial is not None:
                    on_adversarial(a, e, x_adv)
                if save is not None:
                    save(list(cells))
    return cells


# --------------------------------------------------------------------------- DeepFool


def deepfool_accuracy_at_eps(*, linf_values, n_correct: int, n: int, eps: Iterable[float]) -> list[dict]:
    """Accuracy a budget ε would leave, from a minimal-norm attack's per-sample norms.

    A sample counts as still correct at ε if it is classified correctly on clean input and
    its attack failed or needed an L∞ norm larger than ε.

    Parameters
    ----------
    linf_values : array-like
        Minimal L∞ norms of the *successful* samples (each was correct on clean input).
    n_correct : int
        Samples classified correctly on clean input.
    n : int
        All samples.
    eps : iterable of float

    Returns
    -------
    list of dict
        ``{"eps", "accuracy"}`` per ε (ascending), ``accuracy`` a `proportion`; non-increasing.
    """
    v = np.sort(np.asarray(list(linf_values), dtype=np.float64))
    out = []
    for e in sorted(float(e) for e in eps):
        broken = int(np.searchsorted(v, e, side="right"))
        out.append({"eps": e, "accuracy": proportion(int(n_correct) - broken, int(n))})
    return out


def deepfool_block(
    *,
    craft_classifier,
    eval_classifier=None,
    split,
    eps: Sequence[float],
    batch_size: int,
    seed: int,
    params: Mapping[str, Any] | None = None,
    clean_logits: np.ndarray | None = None,
    on_adversarial: Callable[[str, float, np.ndarray], None] | None = None,
    progress: bool = True,
    attack: str = "deepfool",
) -> dict:
    """Run a minimal-norm attack once and summarise its per-sample perturbations.

    Parameters
    ----------
    craft_classifier, eval_classifier, split, batch_size, seed, clean_logits, progress
        As in `sweep_cells`.
    eps : sequence of float
        Grid for ``accuracy_at_eps`` (each finite in [0, 1]).
    params : dict, optional
        DeepFool parameters (``max_iter``, ``nb_grads``, ``overshoot``).
    on_adversarial : callable, optional
        Called as ``on_adversarial(attack, nan, x_adv)``.
    attack : str
        Minimal-norm attack name (`MINIMAL_NORM_ATTACKS`).

    Returns
    -------
    dict
        ``attack``, ``overshoot``, ``max_iter``, ``nb_grads``, ``success_rate`` (among clean-
        correct samples, judged by ``eval_classifier``), ``l2`` and ``linf``
        (``{mean, median, values}`` over successful samples), ``accuracy_at_eps``
        (`deepfool_accuracy_at_eps`), ``adversarial_accuracy`` (accuracy on DeepFool's outputs;
        only clean-correct samples are attacked, the others are left as they are), ``n_correct``, ``n``, ``seconds``.
    """
    from artgenre.attacks import DEEPFOOL_OVERSHOOT
    from artgenre.evaluation import predict_logits

    if attack not in MINIMAL_NORM_ATTACKS:
        raise ParameterError(f"attack {attack!r} is not a minimal-norm attack; choose one of: {', '.join(MINIMAL_NORM_ATTACKS)}")
    eval_classifier = craft_classifier if eval_classifier is None else eval_classifier
    eps_list = _check_eps_list(eps)
    batch_size = _int("batch_size", batch_size, 1)
    params = dict(params or {})
    x, y, _track = _split_arrays(split)
    if clean_logits is None:
        clean_logits = predict_logits(eval_classifier, x, batch_size=batch_size)
    clean_pred = np.asarray(clean_logits).argmax(axis=1)
    correct0 = clean_pred == y
    _seed_cell(seed, attack, 0.0)
    t0 = time.perf_counter()
    atk = make_attack(attack, craft_classifier, eps=0.0, batch_size=batch_size, params=params)
    # Only clean-correct samples can count as broken, so only they are attacked: DeepFool
    # on a misclassified sample would push it off its (wrong) predicted class, which no
    # reported number uses, at up to max_iter x nb_grads gradients per sample.
    todo = np.flatnonzero(correct0)
    x_adv = x.copy()
    with _bar(progress) as bar:
        task = bar.add_task(attack, total=len(todo))
        if len(todo):
            chunk = _minimal_norm_chunk(craft_classifier, batch_size)
            x_adv[todo] = _generate(atk, x[todo], y[todo], chunk, lambda k: bar.advance(task, k))
    adv_pred = predict_logits(eval_classifier, x_adv, batch_size=batch_size).argmax(axis=1)
    seconds = time.perf_counter() - t0
    success = correct0 & (adv_pred != y)
    l2, linf = perturbation_norms(x=x, x_adv=x_adv)
    if on_adversarial is not None:
        on_adversarial(attack, float("nan"), x_adv)
    block = {
        "attack": attack,
        "overshoot": float(params.get("overshoot", DEEPFOOL_OVERSHOOT)),
        "max_iter": int(params.get("max_iter", 50)),
        "nb_grads": int(params.get("nb_grads", 10)),
        "success_rate": proportion(int(success.sum()), int(correct0.sum())),
        "l2": _norm_stats(l2[success], with_values=True),
        "linf": _norm_stats(linf[success], with_values=True),
        "accuracy_at_eps": deepfool_accuracy_at_eps(
            linf_values=linf[success], n_correct=int(correct0.sum()), n=len(y), eps=eps_list
        ),
        "adversarial_accuracy": proportion(int((adv_pred == y).sum()), len(y)),
        "n_correct": int(correct0.sum()),
        "n": int(len(y)),
        "seconds": float(seconds),
    }
    log.info(
        "%s: success %.1f%% of %d correct samples, median minimal L∞ %s, L2 %s (%.1f s)",
        attack, 100 * (block["success_rate"]["value"] if correct0.any() else 0.0), int(correct0.sum()),
        _fmt(block["linf"]["median"]), _fmt(block["l2"]["median"]), seconds,
    )
    return block


def _minimal_norm_chunk(classifier, batch_size: int) -> int:
    # ART's DeepFool keeps computing every class gradient for the whole batch until its last
    # sample is fooled, so on a CPU (no parallel slack) one sample per call is fastest: 1.4 s
    # vs 1.8 s (batches of 8) per 128x128 segment for the quick CNN. A GPU wants full batches.
    device = getattr(classifier, "device", None)
    return 1 if getattr(device, "type", "cpu") == "cpu" else int(batch_size)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4g}"


# --------------------------------------------------------------------------- checks


def _acc(cell: dict) -> dict:
    return cell["segment_accuracy"]


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _not_stronger(strong: dict, weak: dict) -> bool:
    # "strong" may not beat "weak" by more than weak's 95 % CI: strong.value <= weak.ci_high.
    return strong["value"] <= weak["ci_high"] + 1e-12


def _by_attack(cells: Iterable[dict]) -> dict[str, dict[float, dict]]:
    out: dict[str, dict[float, dict]] = {}
    for c in cells:
        out.setdefault(c["attack"], {})[float(c["eps"])] = c
    return out


def _check(name: str, passed: bool | None, detail: str) -> dict:
    return {"name": name, "passed": passed, "detail": detail}


def _compare(name: str, strong: dict[float, dict], weak: dict[float, dict], s_label: str, w_label: str,
             relation: str) -> dict:
    common = sorted(e for e in set(strong) & set(weak) if e > 0)
    if not common:
        return _check(name, None, f"skipped: no ε > 0 with both {s_label} and {w_label} cells")
    bad = [
        f"ε={e:g}: {s_label} {_pct(_acc(strong[e])['value'])} > {w_label} CI high {_pct(_acc(weak[e])['ci_high'])}"
        for e in common if not _not_stronger(_acc(strong[e]), _acc(weak[e]))
    ]
    if bad:
        return _check(name, False, "; ".join(bad))
    return _check(name, True, f"{relation} at all {len(common)} ε > 0 (within the 95% CI)")


def _group_checks(cells: list[dict], n_classes: int, whitebox: list[dict] | None, transfer: bool,
                  suffix: str) -> list[dict]:
    by = _by_attack(cells)
    checks = []
    checks.append(_compare(f"pgd ≤ fgsm{suffix}", by.get("pgd", {}), by.get("fgsm", {}), "PGD", "FGSM",
                           "PGD accuracy ≤ FGSM accuracy"))
    for attack, per_eps in by.items():
        es = sorted(per_eps)
        if len(es) < 2:
            continue
        bad = [
            f"ε={b:g}: {_pct(_acc(per_eps[b])['value'])} > CI high {_pct(_acc(per_eps[a])['ci_high'])} at ε={a:g}"
            for a, b in zip(es, es[1:]) if not _not_stronger(_acc(per_eps[b]), _acc(per_eps[a]))
        ]
        checks.append(_check(
            f"{attack}: accuracy non-increasing in ε{suffix}", not bad,
            "; ".join(bad) if bad else f"non-increasing over {len(es)} ε (within the 95% CI)",
        ))
    pgd = by.get("pgd", {})
    chance = 1.0 / n_classes
    threshold = chance + CHANCE_MARGIN
    name = f"pgd near chance at the largest ε{suffix}"
    if transfer:
        # A transfer attack is not expected to break the target; its check is the last one.
        checks.append(_check(name, None, "skipped: not applicable to a transfer attack"))
    elif not pgd or max(pgd) == 0:
        checks.append(_check(name, None, "skipped: no PGD cell with ε > 0"))
    else:
        e = max(pgd)
        acc = _acc(pgd[e])
        ok = acc["value"] <= threshold or acc["ci_low"] <= threshold
        checks.append(_check(
            name, ok,
            f"ε={e:g}: PGD accuracy {_pct(acc['value'])} (CI low {_pct(acc['ci_low'])}) "
            f"{'≤' if ok else '>'} chance {_pct(chance)} + {_pct(CHANCE_MARGIN)}",
        ))
    checks.append(_compare(f"noise weaker than fgsm{suffix}", by.get("fgsm", {}), by.get("noise", {}),
                           "FGSM", "noise", "noise accuracy ≥ FGSM accuracy"))
    for attack in BUDGET_CHECKED:
        if attack not in by:
            continue
        bad = [
            f"ε={e:g}: max L∞ {c['linf']['max']:.6g}"
            for e, c in sorted(by[attack].items())
            if c.get("linf", {}).get("max") is not None and c["linf"]["max"] > e + LINF_TOLERANCE
        ]
        checks.append(_check(f"{attack}: perturbation within ε{suffix}", not bad,
                             "; ".join(bad) if bad else "max L∞ ≤ ε at every ε"))
    if transfer:
        name = f"transfer weaker than white-box{suffix}"
        if whitebox is None:
            checks.append(_check(name, None, "skipped: no white-box result of the target model found"))
        else:
            wb = _by_attack(whitebox)
            parts = [
                _compare(name, wb[a], per_eps, f"white-box {a}", f"transfer {a}", "")
                for a, per_eps in by.items() if a in wb
            ]
            failed = [p["detail"] for p in parts if p["passed"] is False]
            passed = [p for p in parts if p["passed"]]
            if failed:
                checks.append(_check(name, False, "; ".join(failed)))
            elif passed:
                checks.append(_check(name, True, "white-box accuracy ≤ transfer accuracy for every common "
                                                 "attack and ε > 0 (within the 95% CI)"))
            else:
                checks.append(_check(name, None, "skipped: no common attack and ε > 0 with the white-box result"))
    return checks


def run_checks(
    *,
    cells: Sequence[dict],
    n_classes: int,
    whitebox_cells: Sequence[dict] | None = None,
    transfer: bool = False,
) -> list[dict]:
    """Sanity checks of an attack evaluation (Carlini et al. 2019), logged loudly on failure.

    All comparisons allow for sampling error with one rule: a stronger attack's accuracy may not
    exceed the weaker one's 95 % Wilson upper bound.

    - ``pgd ≤ fgsm``: at each ε > 0, PGD accuracy ≤ FGSM's CI high.
    - ``<attack>: accuracy non-increasing in ε``: each ε's accuracy ≤ the previous ε's CI high.
    - ``pgd near chance at the largest ε``: PGD accuracy, or its CI low, ≤ 1/n_classes +
      `CHANCE_MARGIN` (0.1) at the largest ε (an unbounded-enough attack must break the model);
      skipped for transfer attacks.
    - ``noise weaker than fgsm``: at each ε > 0, FGSM accuracy ≤ noise's CI high.
    - ``<attack>: perturbation within ε`` (fgsm, pgd, noise): max L∞ ≤ ε + 1e-6.
    - ``transfer weaker than white-box`` (``transfer=True``): white-box accuracy ≤ transfer's CI
      high for every common (attack, ε > 0); skipped (``passed: None``) without white-box cells.

    Cells with ``adaptive`` true and false are checked as separate groups (names get
    `` (adaptive)`` / `` (non-adaptive)``).

    Parameters
    ----------
    cells : sequence of dict
        Cells from `sweep_cells`.
    n_classes : int
        Number of classes (>= 2), for the chance level.
    whitebox_cells : sequence of dict, optional
        White-box cells of the target model, for the transfer check.
    transfer : bool
        Whether ``cells`` come from a transfer attack.

    Returns
    -------
    list of dict
        ``{"name", "passed" (True, False or None when skipped), "detail"}``.
    """
    n_classes = _int("n_classes", n_classes, 2)
    cells = list(cells)
    groups = sorted({bool(c.get("adaptive")) for c in cells}) or [False]
    checks: list[dict] = []
    for g in groups:
        suffix = "" if len(groups) == 1 else (" (adaptive)" if g else " (non-adaptive)")
        members = [c for c in cells if bool(c.get("adaptive")) == g]
        checks += _group_checks(members, n_classes, None if whitebox_cells is None else list(whitebox_cells),
                                transfer, suffix)
    for c in checks:
        if c["passed"] is False:
            log.warning("CHECK FAILED: %s: %s", c["name"], c["detail"])
        elif c["passed"] is None:
            log.info("check %s %s", c["name"], c["detail"])
    return checks


# --------------------------------------------------------------------------- run_attack


@dataclass(frozen=True)
class _Loaded:
    classifier: Any
    checkpoint: Any
    defense: str | None


def _load(path: str, device: str) -> _Loaded:
    from artgenre.art_adapter import as_art_classifier
    from artgenre.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, device=device)
    kw = ckpt.build_kwargs or {}
    size = int(kw.get("input_size", 128))
    n_classes = int(kw.get("num_classes", 10))
    classifier = as_art_classifier(ckpt.model, device=device, input_shape=(1, size, size), nb_classes=n_classes)
    d = ckpt.config.get("defense") if isinstance(ckpt.config, dict) else None
    if isinstance(d, dict):
        d = d.get("name")
    return _Loaded(classifier=classifier, checkpoint=ckpt, defense=d if isinstance(d, str) and d else None)


def load_checkpoint_data(*, checkpoint, progress: bool = True):
    """Reload the dataset a checkpoint was trained on, from its ``config["data"]``.

    Raises
    ------
    CheckpointError
        The checkpoint's config has no usable ``data`` entry.
    """
    from artgenre.data import DataConfig, load_dataset

    cfg = checkpoint.config.get("data") if isinstance(checkpoint.config, dict) else None
    if not isinstance(cfg, dict):
        raise CheckpointError(
            f"checkpoint {str(checkpoint.path)!r} has no data configuration (config['data']); "
            "cannot reload its test split"
        )
    try:
        data_config = DataConfig.from_dict(cfg)
    except ParameterError as exc:
        raise CheckpointError(f"checkpoint {str(checkpoint.path)!r} has an invalid data configuration: {exc}") from None
    return load_dataset(**data_config.loader_kwargs(), progress=progress)


def stratified_order(*, y, seed: int) -> np.ndarray:
    """A seeded order of sample indices that interleaves the classes.

    Any prefix of it is (nearly) class-balanced, so ``order[:limit]`` is a stratified
    subset. Within a class the order is a random permutation.

    Parameters
    ----------
    y : array-like, shape (N,)
    seed : int

    Returns
    -------
    np.ndarray, shape (N,), int64
    """
    y = np.asarray(y)
    perm = np.random.default_rng(seed).permutation(len(y))
    rank = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        members = perm[y[perm] == label]
        rank[members] = np.arange(len(members))
    position = np.empty(len(y), dtype=np.int64)
    position[perm] = np.arange(len(y))
    return np.lexsort((position, rank)).astype(np.int64)


def _sha256(path: str | None) -> str | None:
    if path is None:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def result_stem(*, model: str, source_model: str | None = None, defense: str | None = None) -> str:
    """``attack-<model>[-from-<source>][-<defense>]`` (without ``.json``)."""
    return "attack-" + model + (f"-from-{source_model}" if source_model else "") + (f"-{defense}" if defense else "")


def _resume_key(config: AttackConfig) -> dict:
    # Cells depend on these; attacks, ε grid, n_examples, out, device and batch size do not
    # (per-cell seeding makes a cell independent of the grid and of batching).
    d = config.to_dict()
    return {
        "checkpoint_sha256": _sha256(config.checkpoint),
        "source_sha256": _sha256(config.source_checkpoint),
        **{k: d[k] for k in ("limit", "seed", "params", "split")},
    }


def _load_previous(path: Path, key: dict) -> dict | None:
    return read_previous_result(path, kind="attack", resume_key=key)


def _choose_example_cell(attacks: Sequence[str], eps: Sequence[float]) -> tuple[str, float] | None:
    positive = [e for e in eps if e > 0]
    bounded = [a for a in attacks if is_eps_bounded(name=a)]
    if not positive or not bounded:
        return None
    attack = next((a for a in ("pgd", "fgsm") if a in bounded), bounded[0])
    return attack, min(positive, key=lambda e: (abs(e - EXAMPLE_EPS), e))


def _save_examples(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def _whitebox_reference(out: Path, model: str, defense: str | None) -> list[dict] | None:
    ref = read_result(out / (result_stem(model=model, defense=defense) + ".json"), kind="attack")
    if ref is None or ref.get("source_model"):
        return None
    return [c for c in ref.get("cells") or [] if isinstance(c, dict) and "segment_accuracy" in c]


def run_attack(config: AttackConfig, *, data=None, progress: bool = True) -> dict:
    """Attack a trained model over an ε grid and write ``<out>/attack-<model>[-from-<source>].json``.

    Loads the checkpoint (and the source checkpoint for a transfer attack), reloads the split
    it was trained with (``checkpoint.config["data"]``), takes ``limit`` segments (seeded,
    class-stratified), runs `sweep_cells` for the ε-bounded attacks and `deepfool_block` for
    DeepFool, runs `run_checks`, saves ``n_examples`` adversarial examples (the PGD, else FGSM,
    cell at the ε nearest 0.01) to ``<result stem>-examples.npz`` and writes the result
    (``kind: "attack"``, docs/design.md). The result is rewritten after every cell; a rerun
    with the same checkpoint(s), limit, seed, split and parameters reuses the finished
    (attack, ε) cells and the DeepFool block, otherwise everything is recomputed.

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
        Split shape or class count that does not fit the model(s).
    """
    from artgenre.evaluation import evaluate, predict_logits

    if not isinstance(config, AttackConfig):
        raise ParameterError(f"config must be an AttackConfig; got {type(config).__name__}")
    seed_everything(config.seed)
    t_start = time.perf_counter()
    target = _load(config.checkpoint, config.device)
    source = _load(config.source_checkpoint, config.device) if config.source_checkpoint else None
    if data is None:
        data = load_checkpoint_data(checkpoint=target.checkpoint, progress=progress)
    full = data.split(config.split)
    clf = target.classifier
    shape = tuple(int(s) for s in np.shape(full.x)[1:])
    for loaded, role in ((target, "model"), (source, "source model")):
        if loaded is None:
            continue
        if tuple(loaded.classifier.input_shape) != shape:
            raise DataError(
                f"the {role} of {str(loaded.checkpoint.path)!r} expects inputs {tuple(loaded.classifier.input_shape)}, "
                f"but the {config.split} split has segments of shape {shape}"
            )
        if int(loaded.classifier.nb_classes) != int(data.n_classes):
            raise DataError(
                f"the {role} of {str(loaded.checkpoint.path)!r} has {loaded.classifier.nb_classes} classes, "
                f"but dataset {data.name!r} has {data.n_classes}"
            )

    order = stratified_order(y=full.y, seed=config.seed)
    index = np.sort(order[: config.limit]) if config.limit is not None else np.arange(len(full))
    split = full.take(index) if config.limit is not None else full
    # Positions within the attacked samples; stored in the result as indices into the split.
    example_idx = np.sort(stratified_order(y=split.y, seed=config.seed)[: config.n_examples])

    model = target.checkpoint.model_name
    source_model = source.checkpoint.model_name if source else None
    out = Path(config.out)
    stem = result_stem(model=model, source_model=source_model, defense=target.defense)
    path = out / f"{stem}.json"
    examples_path = out / f"{stem}-examples.npz"
    key = _resume_key(config)
    previous = _load_previous(path, key)
    existing = [c for c in (previous or {}).get("cells") or [] if isinstance(c, dict)]

    x_split = split.x
    clean_logits = predict_logits(clf, x_split, batch_size=config.batch_size)
    clean = evaluate(logits=clean_logits, y=split.y, track=split.track, n_classes=int(data.n_classes))
    craft = source.classifier if source else clf
    params = config.attack_params()
    swept = [a for a in config.attacks if is_eps_bounded(name=a)]
    minimal = [a for a in config.attacks if not is_eps_bounded(name=a)]

    base = {
        "kind": "attack",
        "config": config.to_dict(),
        "meta": run_metadata(),
        "model": model,
        "dataset": data.name,
        "genres": list(data.genres),
        "source_model": source_model,
        "defense": target.defense,
        "clean": clean,
        "n_samples": int(len(split)),
        "resume_key": key,
    }
    state: dict[str, Any] = {"cells": [], "deepfool": None}

    def write(complete: bool, **extra) -> dict:
        result = {**base, "cells": state["cells"], "deepfool": state["deepfool"], "complete": complete, **extra}
        result = json.loads(json.dumps(to_jsonable(result)))
        atomic_write_json(path, result)
        return result

    def save(cells: list) -> None:
        state["cells"] = cells
        write(False, checks=[], examples=None)

    chosen = _choose_example_cell(swept, config.eps)
    captured: dict[str, np.ndarray] = {}

    def capture(attack: str, eps: float, x_adv: np.ndarray) -> None:
        if chosen is not None and attack == chosen[0] and _same_eps(eps, chosen[1]):
            captured["x"] = np.array(x_adv[example_idx], dtype=np.float32)

    state["cells"] = sweep_cells(
        craft_classifier=craft, eval_classifier=clf, split=split, attacks=swept, eps=config.eps,
        batch_size=config.batch_size, seed=config.seed, params=params, on_adversarial=capture,
        existing_cells=existing, save=save, adaptive=False, clean_logits=clean_logits, progress=progress,
    )

    for attack in minimal:
        old = (previous or {}).get("deepfool")
        if isinstance(old, dict) and old.get("attack", attack) == attack and isinstance(old.get("linf"), dict):
            block = dict(old)
            block["accuracy_at_eps"] = deepfool_accuracy_at_eps(
                linf_values=old["linf"].get("values") or [], n_correct=old["n_correct"], n=old["n"], eps=config.eps
            )
            log.info("%s block reused from %s", attack, path)
        else:
            block = deepfool_block(
                craft_classifier=craft, eval_classifier=clf, split=split, eps=config.eps,
                batch_size=config.batch_size, seed=config.seed, params=params.get(attack),
                clean_logits=clean_logits, progress=progress, attack=attack,
            )
        state["deepfool"] = block
        write(False, checks=[], examples=None)

    whitebox = _whitebox_reference(out, model, target.defense) if source else None
    checks = run_checks(cells=state["cells"], n_classes=int(data.n_classes), whitebox_cells=whitebox,
                        transfer=source is not None)

    examples = None
    if chosen is not None and len(example_idx):
        attack, eps = chosen
        old_ex = (previous or {}).get("examples")
        reuse = ("x" not in captured and isinstance(old_ex, dict) and examples_path.is_file()
                 and old_ex.get("attack") == attack and _same_eps(old_ex.get("eps", -1), eps)
                 and old_ex.get("indices") == [int(i) for i in index[example_idx]])
        if not reuse:
            x_ex = np.asarray(split.x[example_idx], dtype=np.float32)
            if "x" not in captured:
                _seed_cell(config.seed, attack, eps)
                atk = make_attack(attack, craft, eps=eps, batch_size=config.batch_size, params=params.get(attack))
                captured["x"] = atk.generate(x_ex, split.y[example_idx])
            _save_examples(
                examples_path, clean=x_ex, adversarial=captured["x"], y=np.asarray(split.y)[example_idx],
                track=np.asarray(split.track)[example_idx].astype(str), attack=np.array(attack),
                eps=np.array(eps, dtype=np.float64), genres=np.array(list(data.genres), dtype=str),
            )
        examples = {"file": examples_path.name, "indices": [int(i) for i in index[example_idx]],
                    "attack": attack, "eps": float(eps)}

    return write(True, checks=checks, examples=examples, seconds=time.perf_counter() - t_start)


__all__ = [
    "AttackConfig", "DEFAULT_ATTACKS", "DEFAULT_EPS", "deepfool_accuracy_at_eps", "deepfool_block",
    "load_checkpoint_data", "perturbation_norms", "result_stem", "run_attack", "run_checks",
    "stratified_order", "sweep_cells",
]
