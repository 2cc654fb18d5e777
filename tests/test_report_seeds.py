"""Report tests of seed replicates (`seed-<s>` folders): mean ± std tables, per-seed CSVs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from artgenre.io import atomic_write_json
from artgenre.report import build_report
from artgenre.stats import proportion

from report_fixtures import (
    CLEAN,
    N,
    TABLE_KEYS,
    _attack,
    _data,
    _load,
    _placed,
    _read_csv,
    _train,
    make_results,
)


# ---------------------------------------------------------------- seed replicates

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    for s in SEEDS:
        make_results(root / f"seed-{s}", seed=s)
        # The fixture's accuracies do not depend on its seed; the replicates' must differ.
        train = _load(root / f"seed-{s}", "train-cnn.json")
        train["metrics"]["test"]["segment_accuracy"] = proportion(130 + 7 * s * s, N)
        atomic_write_json(root / f"seed-{s}" / "train-cnn.json", train)
    return root, build_report(results_dir=root, max_examples=1, n_iter=2)


def test_tables_show_mean_and_std_over_seeds(replicated):
    root, summary = replicated
    out = root / "report"
    values = [_load(root / f"seed-{s}", "train-cnn.json")["metrics"]["test"]["segment_accuracy"]["value"]
              for s in SEEDS]
    t1 = {r["model"]: r for r in summary.tables["table1_clean"].rows}
    assert len(t1) == 2
    st = t1["cnn"]["segment_accuracy"]
    assert st["mean"] == pytest.approx(np.mean(values)) and st["std"] == pytest.approx(np.std(values, ddof=1))
    assert st["n_seeds"] == 3
    row = next(r for r in _read_csv(out / "table1_clean.csv") if r["model"] == "cnn")
    assert float(row["segment_accuracy_mean"]) == pytest.approx(np.mean(values))
    assert float(row["segment_accuracy_std"]) == pytest.approx(np.std(values, ddof=1))
    assert row["segment_accuracy_n_seeds"] == "3" and "segment_accuracy" not in row
    md = (out / "report.md").read_text()
    assert f"| cnn | standard | {100 * np.mean(values):.1f} ± {100 * np.std(values, ddof=1):.1f} |" in md
    per_seed = _read_csv(out / "table1_clean_per_seed.csv")
    assert [(r["seed"], r["model"]) for r in per_seed] == [(str(s), m) for s in SEEDS for m in CLEAN]
    assert [float(r["segment_accuracy"]) for r in per_seed if r["model"] == "cnn"] == pytest.approx(values)
    # Table 5 rows of the three seeds are matched on model, defense, attack and ε.
    t5 = summary.tables["table5_improvement"].rows
    assert len(t5) == len(_read_csv(out / "table5_improvement_per_seed.csv")) // 3
    assert all(r["gain_pts"]["n_seeds"] == 3 for r in t5)


def test_first_section_states_the_seeds_and_nothing_is_left_out_for_them(replicated):
    root, summary = replicated
    setup = {r["setting"]: r["value"] for r in summary.setup.rows}
    assert setup["Seed replicates"].startswith("3 seeds: 0, 1, 2")
    assert summary.excluded == ()
    md = (root / "report" / "report.md").read_text()
    assert md.index("Seed replicates") < md.index("## Table 1 ")
    assert json.loads((root / "report" / "report.json").read_text())["seeds"] == list(SEEDS)
    # Every replicate's failed check is listed, with its folder; checks are not averaged.
    assert sorted(c["file"] for c in summary.failed_checks) == [f"seed-{s}/attack-cnn.json" for s in SEEDS]
    assert summary.tables["table_checks"].seeds == ()


def test_seed_replicates_are_kept_but_other_samples_are_not(tmp_path):
    # Replicates attack a seeded subset (limit 50): their samples differ by seed on purpose.
    root = tmp_path / "results"
    rng = np.random.default_rng(9)
    for s in SEEDS:
        folder = root / f"seed-{s}"
        folder.mkdir(parents=True)
        atomic_write_json(folder / "train-cnn.json", _placed(_train(rng, "cnn", 0.7), root=folder, data=_data()))
        attack = _placed(_attack(rng, "cnn", 0.7, checks=[], deepfool=False), root=folder, data=_data(), limit=50,
                         n_samples=50 if s < 2 else 40)
        attack["config"]["seed"] = s
        atomic_write_json(folder / "attack-cnn.json", attack)
    stray = _placed(_attack(rng, "resnet18", 0.7, checks=[], deepfool=False), root=root, data=_data(), limit=50,
                    n_samples=50)
    stray["config"]["seed"] = 5
    atomic_write_json(root / "attack-resnet18.json", stray)
    summary = build_report(results_dir=root, max_examples=0)
    reasons = {e["file"]: e["reason"] for e in summary.excluded}
    assert set(reasons) == {"seed-2/attack-cnn.json", "attack-resnet18.json"}
    assert "n_samples 40" in reasons["seed-2/attack-cnn.json"]
    assert reasons["attack-resnet18.json"].startswith("belongs to no seed replicate (seed 5")
    t2 = {r["eps"]: r for r in summary.tables["table2_robustness"].rows}
    assert t2[0.01]["cnn/pgd"]["n_seeds"] == 2


def test_a_single_seed_folder_renders_as_before(tmp_path):
    plain = make_results(tmp_path / "plain")
    single = make_results(tmp_path / "one" / "seed-0")
    a = build_report(results_dir=plain, max_examples=0)
    b = build_report(results_dir=tmp_path / "one", max_examples=0)
    for key in TABLE_KEYS[:-1]:
        if key != "table_checks":  # names the files, whose folder differs
            assert (plain / "report" / f"{key}.csv").read_text() == \
                (tmp_path / "one" / "report" / f"{key}.csv").read_text(), key
    assert a.tables["table1_clean"].seeds == b.tables["table1_clean"].seeds == ()
    md = (tmp_path / "one" / "report" / "report.md").read_text()
    assert "±" not in md and "Seed replicates" not in md
    assert not list((tmp_path / "one" / "report").glob("*_per_seed.csv")) and single.exists()


def test_odd_robust_threat_and_seed_fields_do_not_crash(tmp_path):
    root = tmp_path / "results"
    rng = np.random.default_rng(10)
    for s in ("0", "x"):
        (root / f"seed-{s}").mkdir(parents=True)
        attack = _attack(rng, "cnn", 0.7, checks=[], deepfool=False, eps=(0.01,))
        attack["robust"] = [{"eps": "a", "robust_accuracy": 0.1}, "junk", {"eps": 0.01, "robust_accuracy": 0.25,
                                                                            "attacks": "pgd", "threat": 5}]
        attack["cells"][0]["threat"], attack["cells"][0]["norm"] = None, ["inf"]
        attack["config"]["seed"] = True
        atomic_write_json(root / f"seed-{s}" / "attack-cnn.json", attack)
    summary = build_report(results_dir=root, max_examples=0)
    # One seed-<int> folder is no replicate set; the bare number is a robust accuracy without CI.
    assert summary.tables["table2_robustness"].seeds == ()
    row = next(r for r in summary.tables["table2_robustness"].rows if r["eps"] == 0.01)
    assert row["cnn/robust"]["value"] == pytest.approx(0.25) and row["cnn/robust"]["ci_low"] is None


def test_rows_that_differ_only_in_a_label_column_are_one_row_over_seeds():
    from artgenre.report.seeds import aggregate_table
    from artgenre.report.table import Column, Table

    cols = (Column("model", "Model"), Column("acc", "Acc", "prop"), Column("factor", "Factor", "label"))

    def table(acc, factor):
        return Table(key="t", title="T", columns=cols, rows=({"model": "cnn", "acc": acc, "factor": factor},))

    agg = aggregate_table(per_seed={0: table(0.5, "1.58×"), 1: table(0.7, "0.94×")})
    (row,) = agg.rows
    assert row["acc"]["n_seeds"] == 2 and abs(row["acc"]["mean"] - 0.6) < 1e-12
    assert row["factor"] == "1.58× / 0.94×"
