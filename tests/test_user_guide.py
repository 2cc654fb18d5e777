"""The user guide's examples, in order, on tiny data: nothing an earlier command wrote is lost.

Each command is the guide's (its text must still be in docs/user-guide.md) with tiny-size
options appended (a small synthetic set, one epoch, a few attacked segments). After every
command the cells of every result file are recorded; at the end every recorded cell must
still be in the result files and in the report's tables.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"
DATA = ["--data-option", "clips_per_genre=5", "--data-option", "clip_seconds=3.5", "--cache-dir", "cache"]
ATTACK = ["--limit", "3", "--device", "cpu", "--batch-size", "8"]

#: (the guide's command, tiny options appended, expected exit status)
STEPS = [
    ("artgenre train --model cnn --profile quick --out results", [*DATA, "--epochs", "1", "--device", "cpu"], 0),
    ("artgenre attack --checkpoint results/checkpoints/cnn.pt --attacks fgsm,pgd,deepfool,noise",
     ["--eps", "0,0.01,0.1", *ATTACK], 0),
    # Other PGD parameters into the same folder: refused (another configuration) ...
    ("artgenre attack --checkpoint results/checkpoints/cnn.pt --attacks pgd --param pgd.steps=50 --param pgd.restarts=5",
     ["--eps", "0.01", *ATTACK], 1),
    # ... and kept apart with the guide's --out.
    ("artgenre attack --checkpoint results/checkpoints/cnn.pt --attacks pgd --param pgd.steps=50 --param pgd.restarts=5",
     ["--out", "results-pgd50", "--eps", "0.01", *ATTACK], 0),
    ("artgenre defend --model cnn --defense squeeze", [*DATA, "--eps", "0.03", *ATTACK[:4]], 0),
    ("artgenre defend --model cnn --defense adv-mixed", [*DATA, "--eps", "0.03", "--epochs", "1", *ATTACK[:4]], 0),
    ("artgenre report results", [], 0),
    ("artgenre run --config", ["tiny.toml", "--models", "cnn", "--defenses", "", "--eps", "0,0.01,0.1",
                               "--limit", "3", "--epochs", "1", "--device", "cpu", "--out", "results"], 0),
]

TINY_TOML = 'data_options = { clips_per_genre = 5, clip_seconds = 3.5 }\ncache_dir = "cache"\ntransfer_attacks = []\nwaveform_attacks = []\n'


def _cells(folder: Path) -> set[tuple]:
    found = set()
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        if result.get("kind") not in ("attack", "defense"):
            continue
        for key in ("cells", "detector_cells"):
            for c in result.get(key) or []:
                found.add((path.name, key, c["attack"], round(float(c["eps"]), 9), bool(c.get("adaptive"))))
        if result.get("deepfool"):
            found.add((path.name, "deepfool", result["deepfool"].get("attack", "deepfool"), None, False))
    return found


@pytest.mark.slow
def test_user_guide_examples_in_order_lose_nothing(tmp_path, monkeypatch, capsys):
    from artgenre.cli import main
    from artgenre.report import build_report

    guide = " ".join(GUIDE.read_text(encoding="utf-8").replace("\\\n", " ").split())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    seen: set[tuple] = set()
    for command, extra, expected in STEPS:
        assert command in guide, f"the user guide no longer shows {command!r}"
        code = main(shlex.split(command)[1:] + extra)
        err = capsys.readouterr().err
        assert code == expected, (command, err[-2000:])
        if expected == 1:
            assert "attack-cnn.json" in err and "params.pgd" in err and "another --out" in err
        now = _cells(tmp_path / "results")
        assert seen <= now, f"{command!r} lost cells: {sorted(seen - now)}"
        seen = now

    assert {("attack-cnn.json", "cells", a, e, False) for a in ("fgsm", "pgd", "noise")
            for e in (0.0, 0.01, 0.1)} <= seen
    assert any(c[0] == "defense-cnn-squeeze.json" for c in seen)
    assert any(c[0] == "defense-cnn-adv-mixed.json" for c in seen)
    assert _cells(tmp_path / "results-pgd50")

    summary = build_report(results_dir=tmp_path / "results", out_dir=tmp_path / "results" / "report")
    assert summary.excluded == ()
    table2 = summary.tables["table2_robustness"]
    for name, key, attack, eps, _adaptive in seen:
        if name == "attack-cnn.json" and key == "cells" and eps:
            row = next(r for r in table2.rows if abs(r["eps"] - eps) < 1e-9)
            assert row.get(f"cnn/{attack}") is not None, (attack, eps)
    defended = {r.get("defense") or r.get("strategy") for r in summary.tables["table3_defense_clean"].rows}
    assert {"squeeze", "adv-mixed"} <= {str(d) for d in defended}, defended


@pytest.mark.slow
def test_folder_reused_with_other_data_reports_what_it_excluded(tmp_path):
    from artgenre.data import DataConfig
    from artgenre.report import build_report
    from artgenre.training import make_train_config, run_training

    out = tmp_path / "results"
    for model, clips in (("cnn", 5), ("resnet18", 6)):
        data = DataConfig(options={"clips_per_genre": clips, "clip_seconds": 3.5}, cache_dir=str(tmp_path / "cache"))
        run_training(make_train_config(profile="quick", model=model, data=data, epochs=1, device="cpu",
                                       out=str(out)), progress=False)
    summary = build_report(results_dir=out, out_dir=out / "report")
    assert len(summary.excluded) == 1, summary.excluded
    (entry,) = summary.excluded
    assert entry["file"] in ("train-cnn.json", "train-resnet18.json") and "clips_per_genre" in entry["reason"]
    assert entry["file"] in summary.report_md.read_text(encoding="utf-8")
