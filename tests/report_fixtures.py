"""Builders of small, schema-complete result folders for the report tests."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from artgenre.data.dataset import GENRES
from artgenre.data.features import DEFAULT_FEATURES, waveform_to_segments
from artgenre.io import atomic_write_json
from artgenre.stats import proportion

N = 200  # attacked test segments in every fixture result
EPS = (0.001, 0.003, 0.01, 0.03, 0.1)
META = {"artgenre": "0.1.0", "git_sha": None, "created": "2024-01-01T00:00:00+00:00"}
DATASET = "synth"


# ---------------------------------------------------------------- fixture builder


def _evaluate(rng, acc: float, n: int = N) -> dict:
    k = int(round(acc * n))
    conf = np.zeros((10, 10), dtype=int)
    labels = np.arange(n) % 10
    wrong = rng.choice(n, size=n - k, replace=False)
    pred = labels.copy()
    pred[wrong] = (labels[wrong] + rng.integers(1, 10, size=wrong.size)) % 10
    np.add.at(conf, (labels, pred), 1)
    tracks = n // 10
    kt = int(round(min(1.0, acc + 0.05) * tracks))
    return {
        "segment_accuracy": proportion(k, n),
        "track_accuracy_vote": proportion(kt, tracks),
        "track_accuracy_mean": proportion(kt, tracks),
        "confusion": conf.tolist(),
    }


def _cell(rng, attack: str, eps: float, acc: float, clean_acc: float, *, adaptive=False) -> dict:
    ev = _evaluate(rng, acc)
    k_clean = int(round(clean_acc * N))
    k = ev["segment_accuracy"]["k"]
    return {
        "attack": attack, "eps": eps, "eps_db": 80 * eps, "adaptive": adaptive,
        "segment_accuracy": ev["segment_accuracy"], "track_accuracy": ev["track_accuracy_vote"],
        "success_rate": proportion(max(0, k_clean - k), max(1, k_clean)),
        "l2": {"mean": eps * 100.0, "median": eps * 95.0}, "linf": {"mean": eps, "median": eps},
        "perturbation_db": {"mean_abs": 60 * eps, "max_abs": 80 * eps},
        "seconds": 0.5, "confusion": ev["confusion"],
    }


def _curve(clean: float, eps: float, attack: str) -> float:
    # Accuracy falls with ε; PGD is stronger than FGSM and reaches 0 at ε = 0.1.
    scale = 0.02 if attack == "pgd" else 0.04
    acc = clean * math.exp(-eps / scale)
    return 0.0 if attack == "pgd" and eps >= 0.1 else acc


def _train(rng, model: str, clean: float) -> dict:
    hist = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": 0.5 + e / 40, "val_loss": 2.1 / e,
             "val_acc": 0.45 + e / 40, "lr": 1e-3, "seconds": 3.0} for e in range(1, 6)]
    return {
        "kind": "train", "config": {"model": model, "epochs": 5}, "meta": META, "model": model,
        "dataset": DATASET, "defense": None,
        "metrics": {"val": _evaluate(rng, clean - 0.02), "test": _evaluate(rng, clean)},
        "epochs_run": 5, "best_epoch": 4, "train_seconds": 15.0 + rng.random(),
        "ms_per_sample": 0.8, "n_params": 123_456 if model == "cnn" else 11_172_810,
        "history": hist, "checkpoint": f"checkpoints/{model}.pt",
    }


def _examples_npz(path: Path, rng, n: int = 3, *, labels=None, preds=None) -> None:
    sr = DEFAULT_FEATURES.sr
    t = np.arange(int(3.1 * sr)) / sr
    clean = []
    for i in range(n):
        y = 0.4 * np.sin(2 * np.pi * (220 * (i + 1)) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        y = y + 0.02 * rng.standard_normal(t.size)
        clean.append(waveform_to_segments(y.astype(np.float32))[0])
    clean = np.stack(clean).astype(np.float32)
    adv = np.clip(clean + 0.01 * np.sign(rng.standard_normal(clean.shape)), 0, 1).astype(np.float32)
    labels = np.arange(n) % 10 if labels is None else np.asarray(labels)
    extra = {} if preds is None else {"pred_clean": np.asarray(preds[0]), "pred_adv": np.asarray(preds[1])}
    np.savez(path, clean=clean, adversarial=adv, y=labels,
             track=np.array([f"{GENRES[i % 10]}.0000{i}" for i in range(n)]),
             attack=np.array("pgd"), eps=np.array(0.01), genres=np.array(GENRES), **extra)  # scalars, as sweep writes


def _attack(rng, model: str, clean: float, *, checks, examples=None, source=None, eps=EPS,
            deepfool=True) -> dict:
    cells = [_cell(rng, a, e, _curve(clean, e, a), clean) for a in ("fgsm", "pgd") for e in eps]
    df = None
    if deepfool:
        l2 = rng.lognormal(mean=0.0, sigma=0.4, size=50)
        linf = rng.lognormal(mean=-4.5, sigma=0.4, size=50)
        df = {"overshoot": 0.02, "success_rate": proportion(48, 50),
              "l2": {"mean": float(l2.mean()), "median": float(np.median(l2)), "values": l2.tolist()},
              "linf": {"mean": float(linf.mean()), "median": float(np.median(linf)), "values": linf.tolist()},
              "accuracy_at_eps": [{"eps": e, "accuracy": proportion(int(round(N * _curve(clean, e, "pgd") * 1.1)) if e < 0.1 else 2, N)} for e in eps]}
    return {
        "kind": "attack", "config": {"model": model, "eps": list(eps)}, "meta": META,
        "model": model, "dataset": DATASET, "source_model": source, "defense": None,
        "clean": _evaluate(rng, clean), "cells": cells, "deepfool": df, "checks": checks,
        "examples": examples,
    }


def _defense(rng, model: str, defense: str, clean: float, *, robust: dict, adaptive: dict | None,
             detector=False) -> dict:
    cells = [_cell(rng, a, e, v, clean) for (a, e), v in robust.items()]
    if adaptive:
        cells += [_cell(rng, a, e, v, clean, adaptive=True) for (a, e), v in adaptive.items()]
    det = None
    if detector:
        per = []
        for a in ("fgsm", "pgd"):
            for e in (0.01, 0.03):
                for ad in (False, True):
                    fpr = np.linspace(0, 1, 21)
                    power = 0.3 if not ad else 0.7
                    per.append({"attack": a, "eps": e, "adaptive": ad,
                                "tpr": proportion(int(N * (1 - power / 2)), N), "auc": 1 - power / 2,
                                "reject_accuracy": proportion(int(N * 0.6), N),
                                "roc": {"fpr": fpr.tolist(), "tpr": (fpr**power).tolist()}})
        det = {"threshold": 0.42, "target_fpr": 0.05, "fpr_val": proportion(10, 200),
               "fpr_test": proportion(12, 200), "per_attack": per}
    return {
        "kind": "defense", "config": {"model": model, "defense": defense}, "meta": META,
        "model": model, "dataset": DATASET, "defense": defense,
        "clean": _evaluate(rng, clean), "baseline_clean": _evaluate(rng, CLEAN[model]),
        "train_seconds": 40.0, "baseline_train_seconds": 15.0, "cells": cells, "detector": det,
    }


CLEAN = {"cnn": 0.72, "resnet18": 0.8}
PAPER = [(a, e) for a in ("fgsm", "pgd") for e in (0.01, 0.03, 0.1)]


def make_results(root: Path, *, only_training: bool = False, seed: int = 0) -> Path:
    """Write a realistic results folder (every result kind and block) under ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for m in CLEAN:
        atomic_write_json(root / f"train-{m}.json", _train(rng, m, CLEAN[m]))
    if only_training:
        return root
    _examples_npz(root / "examples-cnn.npz", rng)
    checks_cnn = [
        {"name": "pgd_not_weaker_than_fgsm", "passed": True, "detail": "PGD ≤ FGSM at every ε"},
        {"name": "accuracy_falls_with_eps", "passed": False, "detail": "FGSM accuracy rose from ε=0.01 to ε=0.03"},
        {"name": "noise_weaker_than_fgsm", "passed": None, "detail": "skipped: no noise cells"},
    ]
    checks_res = [{"name": "pgd_not_weaker_than_fgsm", "passed": True, "detail": "ok"}]
    atomic_write_json(root / "attack-cnn.json", _attack(
        rng, "cnn", CLEAN["cnn"], checks=checks_cnn,
        examples={"file": "examples-cnn.npz", "indices": [3, 17, 42]}))
    atomic_write_json(root / "attack-resnet18.json", _attack(rng, "resnet18", CLEAN["resnet18"], checks=checks_res))
    transfer = _attack(rng, "resnet18", CLEAN["resnet18"], checks=[], source="cnn", eps=(0.01, 0.03), deepfool=False)
    atomic_write_json(root / "attack-resnet18-from-cnn.json", {**transfer, "complete": False})
    for m in CLEAN:
        c = CLEAN[m] - 0.06
        robust = {(a, e): min(c, 0.2 + _curve(CLEAN[m], e, a)) for a, e in PAPER}
        atomic_write_json(root / f"defense-{m}-adv_train.json",
                          _defense(rng, m, "adv_train", c, robust=robust, adaptive=None))
    sq_clean = CLEAN["cnn"] - 0.02
    sq_na = {(a, e): min(sq_clean, 0.3 + _curve(CLEAN["cnn"], e, a)) for a, e in PAPER}
    sq_ad = {(a, e): 0.5 * v for (a, e), v in sq_na.items()}
    squeeze = _defense(rng, "cnn", "squeeze", sq_clean, robust=sq_na, adaptive=sq_ad, detector=True)
    # Squeezing trains nothing itself: its cost is the baseline's training.
    squeeze.update(train_seconds=0.0, total_train_seconds=squeeze["baseline_train_seconds"])
    atomic_write_json(root / "defense-cnn-squeeze.json", squeeze)
    (root / "broken.json").write_text('{"kind": "attack", "cells": [', encoding="utf-8")
    (root / "notes.json").write_text('{"comment": "not a result"}', encoding="utf-8")
    return root


# ---------------------------------------------------------------- helpers


def _load(root: Path, name: str) -> dict:
    return json.loads((root / name).read_text())


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _cell_of(result: dict, attack: str, eps: float, adaptive: bool = False) -> dict:
    return next(c for c in result["cells"] if c["attack"] == attack and abs(c["eps"] - eps) < 1e-9
                and bool(c["adaptive"]) == adaptive)


TABLE_KEYS = (
    "table1_clean", "table2_robustness", "table3_defense_clean", "table4_defense_attack",
    "table5_improvement", "table6_best_defense", "table_adaptive", "table_deepfool",
    "table_detector", "table_transfer", "table_checks", "table_audio",
)
FIGURES = (
    "fig_accuracy_vs_eps_cnn.png", "fig_accuracy_vs_eps_resnet18.png", "fig_deepfool_norms.png",
    "fig_spectrograms.png", "fig_detector_roc.png", "fig_confusion_cnn.png", "fig_confusion_resnet18.png",
)


# ---------------------------------------------------------------- schema 2, consistency, examples

VERSIONED_META = {**META, "python": "3.11.7", "torch": "2.4.0", "torchvision": "0.19.0",
                  "adversarial-robustness-toolbox": "1.18.0", "numpy": "2.0.1", "librosa": "0.10.2",
                  "git_sha": "0123abc"}


def _data(seed: int = 0) -> dict:
    return {"dataset": DATASET, "root": None, "split_scheme": "random", "seed": seed, "cache_dir": None,
            "options": [["clips_per_genre", 4], ["workers", 2]]}


def _placed(result: dict, *, root: Path, data: dict | None = None, limit=None, n_samples: int = N,
            created: str = "2024-01-01T00:00:00+00:00", checkpoint: str | None = None) -> dict:
    """``result`` as a schema-2 file of a run on ``data`` with ``limit`` and ``created`` time."""
    out = {**result, "schema_version": 2, "meta": {**VERSIONED_META, "created": created}}
    cfg = dict(out["config"])
    if data is not None:
        cfg["data"] = data
    if out["kind"] == "train":
        out["checkpoint"] = str(root / "checkpoints" / f"{out['model']}.pt")
        out["metrics"] = {k: {**v, "n_segments": N, "n_tracks": N // 10} for k, v in out["metrics"].items()}
    else:
        cfg.update(limit=limit, seed=0)
        out["n_samples"] = n_samples
        if checkpoint is not None:
            cfg["checkpoint"] = checkpoint
    out["config"] = cfg
    return out


# ---------------------------------------------------------------- robust accuracy, waveform threat model


def _robust_entry(value: float, eps: float, *, adaptive=None, threat="spectrogram", norm="inf") -> dict:
    return {"threat": threat, "norm": norm, "eps": eps, "robust_accuracy": proportion(int(round(value * N)), N),
            "attacks": ["fgsm", "pgd"], "adaptive": adaptive}


def _add_robust(root: Path) -> dict:
    """Robust entries below every per-attack cell: for the cnn baseline, and for both cnn
    defenses a union, an adaptive and a non-adaptive entry (adv_train ends up the best)."""
    want = {}
    base = _load(root, "attack-cnn.json")
    for e in EPS:
        # The per-sample worst case can be lower than the lowest per-attack accuracy.
        low = min(_cell_of(base, a, e)["segment_accuracy"]["value"] for a in ("fgsm", "pgd"))
        want[("none", e)] = max(0.0, low - 0.02)
    base["robust"] = [_robust_entry(want[("none", e)], e) for e in EPS]
    atomic_write_json(root / "attack-cnn.json", base)
    for name in ("squeeze", "adv_train"):
        d = _load(root, f"defense-cnn-{name}.json")
        d["robust"] = []
        for e in (0.01, 0.03, 0.1):
            low = min(c["segment_accuracy"]["value"] for c in d["cells"] if abs(c["eps"] - e) < 1e-9)
            want[(name, e)] = max(0.0, low - 0.01)
            d["robust"] += [_robust_entry(want[(name, e)], e),
                            _robust_entry(min(1.0, want[(name, e)] + 0.05), e, adaptive=False),
                            _robust_entry(min(1.0, want[(name, e)] + 0.02), e, adaptive=True)]
        atomic_write_json(root / f"defense-cnn-{name}.json", d)
    return {k: proportion(int(round(v * N)), N)["value"] for k, v in want.items()}


WAVE_L2 = (0.01, 0.03, 0.1)  # SNR budgets of 40, 30.5 and 20 dB
WAVE_INF = (0.001, 0.003)  # −60 and −50.5 dBFS


def _wave_cell(rng, attack: str, eps: float, norm: str, acc: float) -> dict:
    c = _cell(rng, attack, eps, acc, 0.7)
    snr = -20 * math.log10(eps) if norm == "l2rel" else 35.0 - 2000 * eps
    c.update(threat="waveform", norm=norm, snr_db={"median": snr + 0.5, "min": snr, "mean": snr + 0.7},
             roundtrip={"segment_accuracy": proportion(int(round((acc + 0.1) * N)), N),
                        "success_rate": proportion(10, 40)})
    if norm == "l2rel":
        c["snr_db_budget"] = snr
    return c


def _waveform_folder(root: Path) -> tuple[Path, dict]:
    rng = np.random.default_rng(8)
    root.mkdir(parents=True)
    atomic_write_json(root / "train-cnn.json", _train(rng, "cnn", 0.7))
    _examples_npz(root / "examples-cnn.npz", rng, n=2, labels=[0, 1], preds=([0, 1], [3, 4]))
    z = dict(np.load(root / "examples-cnn.npz"))
    t = np.arange(2 * 22050) / 22050
    audio = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (220, 330)]).astype(np.float32)
    noise = (0.003 * rng.standard_normal(audio.shape)).astype(np.float32)
    np.savez(root / "examples-cnn.npz", **z, audio_clean=audio, audio_adv=audio + noise,
             snr_db=np.array([99.0, 99.0]))  # deliberately wrong: the report recomputes it
    attack = _attack(rng, "cnn", 0.7, checks=[], deepfool=False, eps=(0.01, 0.03),
                     examples={"file": "examples-cnn.npz", "indices": [0, 1], "attack": "pgd", "eps": 0.01,
                               "roundtrip": {"method": "griffin-lim", "n": 8, "fooled_in_memory": 8,
                                             "clean_right": 5, "adversarial_wrong": 6,
                                             "success_rate": proportion(3, 8)}})
    for norm, grid in (("l2rel", WAVE_L2), ("inf", WAVE_INF)):
        for a in ("fgsm", "pgd"):
            attack["cells"] += [_wave_cell(rng, a, e, norm, 0.6 - 4 * e - (a == "pgd") * 0.1) for e in grid]
    attack["robust"] = [_robust_entry(0.3, e, threat="waveform", norm="l2rel") for e in WAVE_L2]
    atomic_write_json(root / "attack-cnn.json", attack)
    return root, attack
