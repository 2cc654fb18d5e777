"""Tests of `artgenre report` on a folder of small, schema-complete fixture results (`report_fixtures`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from artgenre.data.features import DEFAULT_FEATURES
from artgenre.errors import ParameterError
from artgenre.io import atomic_write_json
from artgenre.report import build_report, factor_label, improvement_factor, snr_db

from report_fixtures import (
    EPS,
    FIGURES,
    GENRES,
    TABLE_KEYS,
    _attack,
    _cell_of,
    _defense,
    _examples_npz,
    _load,
    _read_csv,
    make_results,
)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = make_results(tmp_path_factory.mktemp("results"))
    summary = build_report(results_dir=root, max_examples=1, n_iter=4)
    return root, summary


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


def test_old_files_say_the_numbers_are_per_attack(full):
    _root, summary = full
    for key in ("table2_robustness", "table4_defense_attack", "table5_improvement", "table6_best_defense"):
        assert "per attack, not a worst case" in summary.tables[key].note, key
        assert not any("robust" in c.name for c in summary.tables[key].columns)
    assert not any(r["attack"] == "robust (worst case)" for r in summary.tables["table5_improvement"].rows)


def test_report_without_waveform_cells_has_no_waveform_block(full):
    root, summary = full
    assert summary.tables["table2_waveform"].not_run
    md = (root / "report" / "report.md").read_text()
    assert "Table 2 (waveform)" not in md and not list((root / "report").glob("fig_accuracy_vs_snr_*"))
    assert summary.audio[0]["source"] == "Griffin-Lim"


def test_a_cascade_attacks_column_is_marked_and_explained(tmp_path):
    """An APGD cell that ran on what FGSM and PGD left (`cascade`) is the ensemble's accuracy:
    Table 2 marks its column and says which attacks came first; a plain cell is not marked."""
    from report_fixtures import _cell

    rng = np.random.default_rng(5)
    plain = _attack(rng, "cnn", 0.8, checks=[], deepfool=False)
    marked = json.loads(json.dumps(plain))
    for result, cascade in ((plain, None), (marked, {"after": ["fgsm", "pgd"], "attacked": [1] * 10})):
        result["cells"] += [{**_cell(rng, "apgd-ce", e, 0.2, 0.8), **({"cascade": cascade} if cascade else {})}
                            for e in EPS]
    out = {}
    for name, result in (("plain", plain), ("marked", marked)):
        atomic_write_json(tmp_path / name / "attack-cnn.json", result)
        build_report(results_dir=tmp_path / name, max_examples=0, n_iter=2)
        out[name] = (tmp_path / name / "report" / "report.md").read_text()
    assert "cnn APGD-CE†" in out["marked"] and "APGD-CE on the segments FGSM, PGD left correct" in out["marked"]
    assert "APGD-CE†" not in out["plain"] and "cnn APGD-CE" in out["plain"]
