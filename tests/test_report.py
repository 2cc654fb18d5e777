"""Tests of `artgenre report` on a folder of small, schema-complete fixture results."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from artgenre.data.dataset import GENRES
from artgenre.data.features import DEFAULT_FEATURES, waveform_to_segments
from artgenre.errors import ParameterError
from artgenre.io import atomic_write_json
from artgenre.report import (
    build_report,
    factor_label,
    improvement_factor,
    snr_db,
)
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


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = make_results(tmp_path_factory.mktemp("results"))
    summary = build_report(results_dir=root, max_examples=1, n_iter=4)
    return root, summary


TABLE_KEYS = (
    "table1_clean", "table2_robustness", "table3_defense_clean", "table4_defense_attack",
    "table5_improvement", "table6_best_defense", "table_adaptive", "table_deepfool",
    "table_detector", "table_transfer", "table_checks", "table_audio",
)
FIGURES = (
    "fig_accuracy_vs_eps_cnn.png", "fig_accuracy_vs_eps_resnet18.png", "fig_deepfool_norms.png",
    "fig_spectrograms.png", "fig_detector_roc.png", "fig_confusion_cnn.png", "fig_confusion_resnet18.png",
)


# ---------------------------------------------------------------- tests


def test_every_table_and_figure_is_written(full):
    root, summary = full
    out = root / "report"
    assert summary.out_dir == out
    md = (out / "report.md").read_text()
    for key in TABLE_KEYS:
        table = summary.tables[key]
        assert table.rows, f"{key} is empty: {table.not_run}"
        assert table.title in md
        rows = _read_csv(out / f"{key}.csv")
        assert len(rows) == len(table.rows)
    for n in range(1, 7):
        assert f"## Table {n} " in md
    for name in FIGURES:
        path = out / name
        assert path.exists(), name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 15_000, f"{name} looks empty ({path.stat().st_size} bytes)"
        assert f"]({name})" in md
    assert "not run" not in md
    report = json.loads((out / "report.json").read_text())
    assert set(TABLE_KEYS) <= set(report["tables"])
    assert summary.report_md in summary.files and summary.report_json in summary.files


def test_failed_check_is_at_the_top(full):
    root, summary = full
    md = (root / "report" / "report.md").read_text()
    assert [c["name"] for c in summary.failed_checks] == ["accuracy_falls_with_eps"]
    assert "FAILED" in md
    assert md.index("accuracy_falls_with_eps") < md.index("## Table 1 ")
    checks = _read_csv(root / "report" / "table_checks.csv")
    assert checks[0]["passed"] == "false" and all(r["passed"] in ("true", "") for r in checks[1:])
    # A skipped check is shown as skipped, never as a failure.
    assert "noise_weaker_than_fgsm" not in md[: md.index("## Table 1 ")]
    assert "| skipped |" in md


def test_malformed_and_non_result_json(full):
    root, summary = full
    assert [Path(p).name for p, _ in summary.unreadable] == ["broken.json"]
    md = (root / "report" / "report.md").read_text()
    assert "broken.json" in md and "notes.json" not in md
    assert md.index("broken.json") < md.index("## Table 1 ")
    assert md.index("attack-resnet18-from-cnn.json") < md.index("## Table 1 ")  # incomplete run


def test_table1_and_table2_values_come_from_the_results(full):
    root, summary = full
    rows = {r["model"]: r for r in _read_csv(root / "report" / "table1_clean.csv")}
    for m in ("cnn", "resnet18"):
        train = _load(root, f"train-{m}.json")
        acc = train["metrics"]["test"]["segment_accuracy"]
        assert float(rows[m]["segment_accuracy"]) == pytest.approx(acc["value"], abs=1e-6)
        assert float(rows[m]["segment_accuracy_ci_low"]) == pytest.approx(acc["ci_low"], abs=1e-6)
        assert int(rows[m]["n_params"]) == train["n_params"]
    t2 = {float(r["eps"]): r for r in _read_csv(root / "report" / "table2_robustness.csv")}
    attack = _load(root, "attack-resnet18.json")
    assert set(t2) == {0.0, *EPS}
    assert float(t2[0.0]["resnet18/pgd"]) == pytest.approx(attack["clean"]["segment_accuracy"]["value"], abs=1e-6)
    for e in EPS:
        assert float(t2[e]["eps_db"]) == pytest.approx(80 * e)
        want = _cell_of(attack, "pgd", e)["segment_accuracy"]["value"]
        assert float(t2[e]["resnet18/pgd"]) == pytest.approx(want, abs=1e-6)


def test_table3_clean_cost_is_difference_to_baseline(full):
    root, summary = full
    rows = [r for r in summary.tables["table3_defense_clean"].rows if r["strategy"] == "squeeze"]
    assert len(rows) == 1
    d = _load(root, "defense-cnn-squeeze.json")
    want = d["clean"]["segment_accuracy"]["value"] - d["baseline_clean"]["segment_accuracy"]["value"]
    assert rows[0]["diff_pts"] == pytest.approx(want)
    assert rows[0]["train_cost"] == pytest.approx(d["total_train_seconds"] / d["baseline_train_seconds"])
    adv = next(r for r in summary.tables["table3_defense_clean"].rows
               if r["model"] == "cnn" and r["strategy"] == "adv_train")
    d = _load(root, "defense-cnn-adv_train.json")
    assert adv["train_cost"] == pytest.approx(d["train_seconds"] / d["baseline_train_seconds"])


def test_adaptive_number_is_credited_and_compared(full):
    root, summary = full
    d = _load(root, "defense-cnn-squeeze.json")
    t4 = {(r["model"], r["strategy"]): r for r in summary.tables["table4_defense_attack"].rows}
    got = t4[("cnn", "squeeze")]["pgd@0.03"]
    assert got["adaptive"] is True
    assert got["value"] == pytest.approx(_cell_of(d, "pgd", 0.03, True)["segment_accuracy"]["value"])
    assert t4[("cnn", "adv_train")]["pgd@0.03"]["adaptive"] is False
    side = {(r["defense"], r["attack"], r["eps"]): r for r in summary.tables["table_adaptive"].rows}
    row = side[("squeeze", "fgsm", 0.01)]
    na = _cell_of(d, "fgsm", 0.01)["segment_accuracy"]["value"]
    ad = _cell_of(d, "fgsm", 0.01, True)["segment_accuracy"]["value"]
    assert row["diff_pts"] == pytest.approx(ad - na)
    assert "(a)" in (root / "report" / "report.md").read_text()


def test_improvement_factor_on_fixture_values(full):
    root, summary = full
    undef = _load(root, "attack-cnn.json")
    sq = _load(root, "defense-cnn-squeeze.json")
    rows = {(r["defense"], r["attack"], r["eps"]): r for r in summary.tables["table5_improvement"].rows}
    u = _cell_of(undef, "fgsm", 0.03)["segment_accuracy"]["value"]
    d = _cell_of(sq, "fgsm", 0.03, True)["segment_accuracy"]["value"]
    assert u > 0
    row = rows[("squeeze", "fgsm", 0.03)]
    assert row["factor"] == pytest.approx(d / u)
    assert row["gain_pts"] == pytest.approx(d - u)
    assert row["factor_label"] == f"{d / u:.2f}×"
    # The fixture's PGD at ε = 0.1 leaves the undefended model at 0 %: the ratio is undefined.
    u0 = _cell_of(undef, "pgd", 0.1)["segment_accuracy"]["value"]
    d0 = _cell_of(sq, "pgd", 0.1, True)["segment_accuracy"]["value"]
    assert u0 == 0 and d0 > 0
    row0 = rows[("squeeze", "pgd", 0.1)]
    assert row0["factor_label"] == "∞" and row0["gain_pts"] == pytest.approx(d0)
    csv_row = next(r for r in _read_csv(root / "report" / "table5_improvement.csv")
                   if r["defense"] == "squeeze" and r["attack"] == "pgd" and float(r["eps"]) == 0.1)
    assert csv_row["factor_label"] == "∞"


def test_best_defense_is_the_highest_credited_accuracy(full):
    root, summary = full
    t4 = summary.tables["table4_defense_attack"].rows
    for row in summary.tables["table6_best_defense"].rows:
        col = f"{row['attack']}@{row['eps']:g}"
        cands = {r["strategy"]: r[col]["value"] for r in t4
                 if r["model"] == row["model"] and r["strategy"] != "none" and r[col] is not None}
        top = max(cands.values())
        assert row["best_defense"] == sorted(s for s in cands if cands[s] == top)[0]
        assert row["defended"]["value"] == pytest.approx(max(cands.values()))
        assert row["gain_pts"] == pytest.approx(row["defended"]["value"] - row["baseline"]["value"])
    assert len(summary.tables["table6_best_defense"].rows) == 2 * 2 * 3  # models × attacks × ε


def test_deepfool_detector_and_transfer_sections(full):
    root, summary = full
    a = _load(root, "attack-cnn.json")["deepfool"]
    df = next(r for r in summary.tables["table_deepfool"].rows if r["model"] == "cnn")
    assert df["linf_median_db"] == pytest.approx(80 * a["linf"]["median"])
    assert df["success_rate"]["value"] == pytest.approx(a["success_rate"]["value"])
    det = summary.tables["table_detector"].rows
    assert len(det) == 8 and {r["adaptive"] for r in det} == {True, False}
    tr = summary.tables["table_transfer"].rows
    assert {(r["source"], r["target"]) for r in tr} == {("cnn", "resnet18")}
    assert all(r["white_box"] is not None for r in tr)


def test_audio_pairs_are_valid_wavs_with_finite_snr(full):
    import soundfile as sf

    root, summary = full
    assert len(summary.audio) == 1
    hop, sr = DEFAULT_FEATURES.hop_length, DEFAULT_FEATURES.sr
    for row in summary.audio:
        clean, sr_c = sf.read(root / "report" / row["clean_wav"])
        adv, sr_a = sf.read(root / "report" / row["adversarial_wav"])
        assert sr_c == sr_a == sr
        assert sf.info(root / "report" / row["clean_wav"]).subtype == "PCM_16"
        assert abs(clean.size - 127 * hop) <= hop and adv.size == clean.size
        assert np.all(np.isfinite(clean)) and np.max(np.abs(clean)) > 0.1
        assert math.isfinite(row["snr_db"]) and row["snr_db"] > 0
        # The number in the report describes the files that were written (16-bit rounding aside).
        assert snr_db(clean=clean, other=adv) == pytest.approx(row["snr_db"], abs=0.5)
        assert row["mean_abs_db"] == pytest.approx(0.8, abs=0.1)  # fixture: ±0.01 (0.8 dB) per bin
        assert (row["attack"], row["eps"], row["genre"]) == ("pgd", 0.01, GENRES[0])
    assert Path(summary.tables["table_audio"].rows[0]["clean_wav"]).name == "0_clean.wav"


def test_only_training_marks_the_rest_not_run(tmp_path):
    root = make_results(tmp_path / "results", only_training=True)
    summary = build_report(results_dir=root, out_dir=tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert summary.tables["table1_clean"].rows
    for key in TABLE_KEYS[1:]:
        assert summary.tables[key].not_run, key
        assert (tmp_path / "out" / f"{key}.csv").exists()
    assert md.count("_not run_") >= len(TABLE_KEYS) - 1
    assert not list((tmp_path / "out").glob("*.png"))
    assert not (tmp_path / "out" / "audio").exists()
    assert summary.failed_checks == ()


def test_report_folder_inside_results_is_not_read_back(full):
    root, _ = full
    again = build_report(results_dir=root, max_examples=0)
    assert len(again.tables["table1_clean"].rows) == 2
    assert [Path(p).name for p, _ in again.unreadable] == ["broken.json"]


def test_improvement_factor_known_numbers():
    assert improvement_factor(defended=0.6, undefended=0.2) == pytest.approx(3.0)
    assert improvement_factor(defended=0.1, undefended=0.4) == pytest.approx(0.25)
    assert math.isinf(improvement_factor(defended=0.3, undefended=0.0))
    assert math.isnan(improvement_factor(defended=0.0, undefended=0.0))
    assert factor_label(factor=3.0) == "3.00×" and factor_label(factor=math.inf) == "∞"
    assert factor_label(factor=math.nan) == "n/a" and factor_label(factor=None) == "n/a"
    with pytest.raises(ParameterError, match="undefended"):
        improvement_factor(defended=0.5, undefended=1.5)


def test_snr_known_signal():
    clean = np.ones(1000)
    assert snr_db(clean=clean, other=clean + 0.1) == pytest.approx(20.0)
    assert math.isinf(snr_db(clean=clean, other=clean))


def test_cli_report_smoke(tmp_path):
    import artgenre.cli  # noqa: F401  (attaches the commands)
    from typer.testing import CliRunner

    from artgenre.cli.app import app

    root = make_results(tmp_path / "results", only_training=True)
    res = CliRunner().invoke(app, ["report", str(root), "--out", str(tmp_path / "rep"), "--no-audio"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rep" / "report.md").exists()
    assert "cnn clean acc." in res.output


def test_white_box_examples_come_before_transfer_examples(tmp_path):
    # A transfer file's examples are the source model's white-box ones again; with room for two
    # examples, both must come from the two white-box files.
    from artgenre.report.collect import load_results
    from artgenre.report.examples import load_examples
    from artgenre.report.index import build_index

    rng = np.random.default_rng(3)
    for name in ("cnn", "resnet18", "cnn-from-resnet18"):
        _examples_npz(tmp_path / f"examples-{name}.npz", rng, n=2)
    for model, source, name in (("cnn", None, "cnn"), ("resnet18", None, "resnet18"),
                                ("cnn", "resnet18", "cnn-from-resnet18")):
        atomic_write_json(tmp_path / f"attack-{name}.json", _attack(
            rng, model, 0.8, checks=[], source=source, deepfool=False,
            examples={"file": f"examples-{name}.npz", "indices": [0, 1]}))
    index = build_index(results=load_results(results_dir=tmp_path))
    selection = load_examples(index=index, max_examples=2)
    assert not selection.unreadable
    assert [e["source_model"] for e in selection.examples] == [None, None]
    every = load_examples(index=index, max_examples=10).examples
    assert [e["source_model"] for e in every] == [None] * 4 + ["resnet18"] * 2


def test_defense_is_credited_with_its_strongest_attack(tmp_path):
    # Where the adaptive attack happens to be weaker than the non-adaptive one, crediting it
    # would overstate robustness: the lower accuracy is credited.
    from artgenre.report.collect import load_results
    from artgenre.report.index import build_index

    rng = np.random.default_rng(4)
    robust = {("fgsm", 0.01): 0.40, ("pgd", 0.01): 0.30}
    adaptive = {("fgsm", 0.01): 0.45, ("pgd", 0.01): 0.20}
    atomic_write_json(tmp_path / "defense-cnn-squeeze.json",
                      _defense(rng, "cnn", "squeeze", 0.7, robust=robust, adaptive=adaptive))
    index = build_index(results=load_results(results_dir=tmp_path))
    fgsm = index.credited("cnn", "squeeze", "fgsm", 0.01)
    pgd = index.credited("cnn", "squeeze", "pgd", 0.01)
    assert fgsm.adaptive is False and fgsm.accuracy["value"] == pytest.approx(0.40, abs=0.01)
    assert pgd.adaptive is True and pgd.accuracy["value"] == pytest.approx(0.20, abs=0.01)


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


def _two_groups(root: Path, *, pipeline_seed: int | None = None) -> Path:
    """Root: a newer run on data seed 0 (train-cnn, attack-cnn found through its checkpoint,
    defense-cnn-squeeze) plus attack-resnet18 on 50 samples only; ``old/``: an older run on
    data seed 1."""
    rng = np.random.default_rng(5)
    root.mkdir(parents=True)
    (root / "old").mkdir()
    new, old = "2024-02-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00"
    atomic_write_json(root / "train-cnn.json", _placed(_train(rng, "cnn", 0.7), root=root, data=_data(0), created=new))
    atomic_write_json(root / "attack-cnn.json", _placed(
        _attack(rng, "cnn", 0.7, checks=[], deepfool=False), root=root, created=new,
        checkpoint=str(root / "checkpoints" / "cnn.pt")))
    robust = {("pgd", 0.01): 0.3}
    atomic_write_json(root / "defense-cnn-squeeze.json", _placed(
        _defense(rng, "cnn", "squeeze", 0.65, robust=robust, adaptive=None), root=root, data=_data(0), created=new))
    atomic_write_json(root / "attack-resnet18.json", _placed(
        _attack(rng, "resnet18", 0.8, checks=[], deepfool=False), root=root, data=_data(0), limit=50,
        n_samples=50, created=new))
    atomic_write_json(root / "old" / "train-cnn.json", _placed(
        _train(rng, "cnn", 0.9), root=root / "old", data=_data(1), created=old))
    atomic_write_json(root / "old" / "attack-cnn.json", _placed(
        _attack(rng, "cnn", 0.9, checks=[], deepfool=False), root=root / "old", created=old,
        checkpoint=str(root / "old" / "checkpoints" / "cnn.pt")))
    if pipeline_seed is not None:
        atomic_write_json(root / "pipeline.json", {
            "kind": "pipeline", "meta": META, "config": {
                "dataset": DATASET, "root": None, "split_scheme": "random", "data_seed": pipeline_seed,
                "cache_dir": None, "data_options": [["clips_per_genre", 4]], "limit": None, "seed": 0}})
    return root


def test_inconsistent_results_are_left_out_with_reasons(tmp_path):
    root = _two_groups(tmp_path / "results")
    summary = build_report(results_dir=root, max_examples=0)
    reasons = {e["file"]: e["reason"] for e in summary.excluded}
    assert set(reasons) == {"old/train-cnn.json", "old/attack-cnn.json", "attack-resnet18.json"}
    assert "seed 1" in reasons["old/train-cnn.json"] and "seed 1" in reasons["old/attack-cnn.json"]
    assert "limit 50" in reasons["attack-resnet18.json"]
    md = (root / "report" / "report.md").read_text()
    assert md.index("## Data, settings and software") < md.index("Results left out") < md.index("## Table 1 ")
    for name in reasons:
        assert name in md[: md.index("## Table 1 ")]
    # Tables use only the kept group: one cnn training row (the root one), no resnet18 column.
    kept_train = _load(root, "train-cnn.json")["metrics"]["test"]["segment_accuracy"]["value"]
    t1 = summary.tables["table1_clean"].rows
    assert [(r["model"], r["segment_accuracy"]["value"]) for r in t1] == [("cnn", pytest.approx(kept_train))]
    t2_columns = {c.name for c in summary.tables["table2_robustness"].columns}
    assert "cnn/pgd" in t2_columns and not any(c.startswith("resnet18/") for c in t2_columns)
    report = json.loads((root / "report" / "report.json").read_text())
    assert {e["file"] for e in report["excluded"]} == set(reasons)
    assert "attack-resnet18.json" not in report["result_files"]["attack"]


def test_pipeline_json_picks_the_reference_group(tmp_path):
    # The older subfolder run is the one pipeline.json describes, so it wins over recency.
    root = _two_groups(tmp_path / "results", pipeline_seed=1)
    summary = build_report(results_dir=root, max_examples=0)
    excluded = {e["file"] for e in summary.excluded}
    assert excluded == {"train-cnn.json", "attack-cnn.json", "defense-cnn-squeeze.json", "attack-resnet18.json"}
    old_train = _load(root / "old", "train-cnn.json")["metrics"]["test"]["segment_accuracy"]["value"]
    assert summary.tables["table1_clean"].rows[0]["segment_accuracy"]["value"] == pytest.approx(old_train)
    assert "pipeline.json" in (root / "report" / "report.md").read_text()


def test_setup_section_states_data_settings_and_versions(tmp_path):
    root = _two_groups(tmp_path / "results")
    summary = build_report(results_dir=root, max_examples=0)
    rows = {r["setting"]: r["value"] for r in summary.setup.rows}
    assert rows["Dataset"] == DATASET
    assert "seed=0" in rows["Data configuration"] and "clips_per_genre" in rows["Data configuration"]
    assert "limit=none" in rows["Evaluated (attacked) samples"]
    assert f"n_samples={N}" in rows["Evaluated (attacked) samples"]
    for key, label in (("torch", "torch"), ("adversarial-robustness-toolbox", "ART"), ("librosa", "librosa"),
                       ("numpy", "numpy"), ("python", "Python"), ("torchvision", "torchvision")):
        assert rows[label] == VERSIONED_META[key]
    assert rows["git SHA"] == VERSIONED_META["git_sha"]
    assert rows["Epochs"].startswith("cnn: 5 run of 5 max")
    test = _load(root, "train-cnn.json")["metrics"]["test"]
    assert f"test: {test['n_segments']} segments / {test['n_tracks']} tracks" in rows["Split sizes"]
    assert "train: not recorded" in rows["Split sizes"]
    assert (root / "report" / "table_setup.csv").exists()


def _v2_folder(root: Path) -> Path:
    rng = np.random.default_rng(6)
    root.mkdir(parents=True)
    atomic_write_json(root / "train-cnn.json", _placed(_train(rng, "cnn", 0.7), root=root, data=_data()))
    # y, clean and adversarial predictions: examples 0, 1, 4, 5 are successful attacks (genres
    # 0, 0, 2, 3); 2 did not change the prediction and 3 was wrong already.
    y, pc, pa = [0, 0, 1, 2, 2, 3], [0, 0, 1, 5, 2, 3], [4, 7, 1, 6, 9, 8]
    _examples_npz(root / "examples-cnn.npz", rng, n=6, labels=y, preds=(pc, pa))
    atomic_write_json(root / "attack-cnn.json", _placed(_attack(
        rng, "cnn", 0.7, checks=[], deepfool=False,
        examples={"file": "examples-cnn.npz", "indices": list(range(6))}), root=root, data=_data()))
    d = _defense(rng, "cnn", "squeeze", 0.65, robust={("pgd", 0.01): 0.3}, adaptive=None)
    d["checks"] = [{"name": "pgd ≤ fgsm", "passed": False, "detail": "PGD 40 % above FGSM 30 %"},
                   {"name": "noise weaker than fgsm", "passed": None, "detail": "no noise cells"}]
    atomic_write_json(root / "defense-cnn-squeeze.json", _placed(d, root=root, data=_data()))
    return root


def test_schema_2_defense_checks_and_successful_examples_only(tmp_path):
    root = _v2_folder(tmp_path / "results")
    summary = build_report(results_dir=root, max_examples=3, n_iter=2)
    assert [(c["name"], c["file"], c["model"], c["defense"]) for c in summary.failed_checks] == [
        ("pgd ≤ fgsm", "defense-cnn-squeeze.json", "cnn", "squeeze")]
    md = (root / "report" / "report.md").read_text()
    top = md[: md.index("## Table 1 ")]
    assert "pgd ≤ fgsm" in top and "squeeze" in top and "defense-cnn-squeeze.json" in top
    assert "noise weaker than fgsm" not in top
    rows = summary.tables["table_audio"].rows
    assert [r["genre"] for r in rows] == [GENRES[0], GENRES[2], GENRES[3]]  # one per genre
    npz = np.load(root / "examples-cnn.npz")
    for r in rows:
        i = next(i for i in range(6) if GENRES[npz["y"][i]] == r["genre"] and npz["pred_clean"][i] == npz["y"][i]
                 and npz["pred_adv"][i] != npz["y"][i])
        assert r["verified"] is True
        assert r["predicted"] == f"{GENRES[npz['pred_clean'][i]]} → {GENRES[npz['pred_adv'][i]]}"
    assert "Every example shown is a successful attack" in md
    assert "not verified" not in md
    # With room for more, the second successful blues example fills the fourth place; the
    # unsuccessful ones (genres 1 and the wrongly classified 2) never appear.
    more = build_report(results_dir=root, out_dir=tmp_path / "more", max_examples=6, audio=False)
    report = json.loads((tmp_path / "more" / "report.json").read_text())
    assert report["examples"] == {**report["examples"], "saved": 6, "successful": 4, "shown": 4}
    assert more.tables["table_audio"].not_run


def test_no_successful_example_is_said_not_drawn(tmp_path):
    root = tmp_path / "results"
    root.mkdir()
    rng = np.random.default_rng(7)
    _examples_npz(root / "examples-cnn.npz", rng, n=2, labels=[0, 1], preds=([0, 1], [0, 1]))
    atomic_write_json(root / "attack-cnn.json", _attack(
        rng, "cnn", 0.7, checks=[], deepfool=False, examples={"file": "examples-cnn.npz", "indices": [0, 1]}))
    summary = build_report(results_dir=root, max_examples=2, n_iter=2)
    assert not (root / "report" / "fig_spectrograms.png").exists()
    assert "None of the 2 saved example(s) is a successful attack" in summary.tables["table_audio"].not_run


def test_v1_examples_are_marked_not_verified(full, tmp_path):
    root, summary = full
    assert summary.tables["table_audio"].rows[0]["predicted"] == "not recorded"
    assert summary.tables["table_audio"].rows[0]["verified"] is None
    assert summary.excluded == ()
    # The fixture writes no schema_version (= 1) and no predictions in its examples file.
    build_report(results_dir=root, out_dir=tmp_path / "v1", max_examples=1, audio=False)
    assert "not verified as successful" in (tmp_path / "v1" / "report.md").read_text()


def test_rerun_removes_temporary_files_of_a_killed_report(tmp_path):
    root = make_results(tmp_path / "results", only_training=True)
    out = tmp_path / "out"
    (out / "audio").mkdir(parents=True)
    stale = [out / ".report.md.k3j2.tmp", out / "audio" / ".0_clean.wav.x9.tmp"]
    for p in stale:
        p.write_text("partial")
    keep = out / "notes.txt"
    keep.write_text("mine")
    build_report(results_dir=root, out_dir=out)
    assert not any(p.exists() for p in stale)
    assert keep.exists() and (out / "report.md").exists()
