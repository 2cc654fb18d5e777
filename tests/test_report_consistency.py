"""Report tests of schema-2 files: consistency filter, first section, checks and verified examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from artgenre.io import atomic_write_json
from artgenre.report import build_report

from report_fixtures import (
    DATASET,
    GENRES,
    META,
    N,
    VERSIONED_META,
    _attack,
    _data,
    _defense,
    _examples_npz,
    _load,
    _placed,
    _train,
)


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
