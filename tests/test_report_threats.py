"""Report tests of robust (worst-case) accuracy and of the waveform threat model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from artgenre.report import build_report

from report_fixtures import (
    EPS,
    WAVE_L2,
    _add_robust,
    _cell_of,
    _evaluate,
    _read_csv,
    _waveform_folder,
    make_results,
)


@pytest.fixture(scope="module")
def robust(tmp_path_factory):
    root = make_results(tmp_path_factory.mktemp("robust"))
    want = _add_robust(root)
    return root, want, build_report(results_dir=root, max_examples=0)


def test_table2_leads_with_the_worst_case(robust):
    root, want, summary = robust
    t2 = summary.tables["table2_robustness"]
    names = [c.name for c in t2.columns]
    assert names.index("cnn/robust") < names.index("cnn/fgsm") < names.index("cnn/pgd")
    assert "resnet18/robust" not in names  # its file records no robust accuracy
    rows = {r["eps"]: r for r in t2.rows}
    for e in EPS:
        assert rows[e]["cnn/robust"]["value"] == pytest.approx(want[("none", e)])
        assert rows[e]["cnn/robust"]["value"] <= min(rows[e]["cnn/fgsm"]["value"], rows[e]["cnn/pgd"]["value"])
    assert "worst case" in t2.note and "resnet18: per attack only" in t2.note
    assert "cnn robust (worst case)" in (root / "report" / "report.md").read_text()
    # The worst-case line of the ε figure was drawn (a failed drawing leaves no file).
    assert (root / "report" / "fig_accuracy_vs_eps_cnn.png").stat().st_size > 15_000


def test_defenses_are_credited_with_their_robust_accuracy(robust):
    _root, want, summary = robust
    t4 = {(r["model"], r["strategy"]): r for r in summary.tables["table4_defense_attack"].rows}
    names = [c.name for c in summary.tables["table4_defense_attack"].columns]
    assert names[3:6] == ["robust@0.01", "robust@0.03", "robust@0.1"]
    # The union entry (adaptive null) is credited, not the higher adaptive / non-adaptive ones.
    assert t4[("cnn", "squeeze")]["robust@0.03"]["value"] == pytest.approx(want[("squeeze", 0.03)])
    assert t4[("cnn", "none")]["robust@0.03"]["value"] == pytest.approx(want[("none", 0.03)])
    assert t4[("resnet18", "adv_train")].get("robust@0.03") is None
    t5 = {(r["model"], r["defense"], r["attack"], r["eps"]): r for r in summary.tables["table5_improvement"].rows}
    row = t5[("cnn", "squeeze", "robust (worst case)", 0.03)]
    assert row["defended"]["value"] == pytest.approx(want[("squeeze", 0.03)])
    assert row["undefended"]["value"] == pytest.approx(want[("none", 0.03)])
    assert row["gain_pts"] == pytest.approx(want[("squeeze", 0.03)] - want[("none", 0.03)])
    assert ("resnet18", "adv_train", "robust (worst case)", 0.03) not in t5
    assert ("cnn", "squeeze", "pgd", 0.03) in t5  # per-attack rows stay
    first = summary.tables["table5_improvement"].rows[0]
    assert first["attack"] == "robust (worst case)"
    t6 = {(r["model"], r["attack"], r["eps"]): r for r in summary.tables["table6_best_defense"].rows}
    for e in (0.01, 0.03, 0.1):
        assert want[("adv_train", e)] > want[("squeeze", e)]
        best = t6[("cnn", "robust (worst case)", e)]
        assert best["best_defense"] == "adv_train"
        assert best["defended"]["value"] == pytest.approx(want[("adv_train", e)])
    assert "credited with it" in summary.tables["table4_defense_attack"].note


def test_waveform_block_and_snr_figure(tmp_path):
    root, attack = _waveform_folder(tmp_path / "results")
    summary = build_report(results_dir=root, max_examples=2)
    out = root / "report"
    # The spectrogram table still reads the spectrogram cells only.
    t2 = {r["eps"]: r for r in summary.tables["table2_robustness"].rows}
    assert set(t2) == {0.0, 0.01, 0.03}
    assert t2[0.01]["cnn/pgd"]["value"] == pytest.approx(_cell_of(attack, "pgd", 0.01)["segment_accuracy"]["value"])
    assert "cnn PGD ε=0.01: of the saved examples that fool the model on the log-mels, 3 of 8 still do" in \
        summary.tables["table2_robustness"].note
    rows = summary.tables["table2_waveform"].rows
    wave = {(r["norm"], r["attack"], r["eps"]): r for r in rows}
    assert len(rows) == 2 * 3 + 2 * 2 + 3  # l2rel and L∞ cells + robust rows at the l2rel budgets
    for e in WAVE_L2:
        r = wave[("l2rel", "pgd", e)]
        cell = next(c for c in attack["cells"] if c.get("norm") == "l2rel" and c["attack"] == "pgd" and c["eps"] == e)
        assert r["budget_db"] == pytest.approx(-20 * math.log10(e)) and r["budget_unit"] == "dB SNR"
        assert r["accuracy"]["value"] == pytest.approx(cell["segment_accuracy"]["value"])
        assert r["roundtrip_accuracy"]["value"] == pytest.approx(cell["roundtrip"]["segment_accuracy"]["value"])
        assert r["snr_median"] == pytest.approx(cell["snr_db"]["median"])
        assert wave[("l2rel", "robust (worst case)", e)]["accuracy"]["value"] == pytest.approx(0.3)
    assert wave[("inf", "fgsm", 0.001)]["budget_db"] == pytest.approx(-60.0)
    assert wave[("inf", "fgsm", 0.001)]["budget_unit"] == "dBFS"
    fig = out / "fig_accuracy_vs_snr_cnn.png"
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 15_000
    md = (out / "report.md").read_text()
    assert "Table 2 (waveform)" in md and "](fig_accuracy_vs_snr_cnn.png)" in md
    assert _read_csv(out / "table2_waveform.csv")[0]["model"] == "cnn"


def test_waveform_examples_are_written_as_the_attacked_audio(tmp_path):
    import soundfile as sf

    from artgenre.report.audio import snr_db as snr

    root, _attack_result = _waveform_folder(tmp_path / "results")
    summary = build_report(results_dir=root, max_examples=2)
    z = np.load(root / "examples-cnn.npz")
    assert len(summary.audio) == 2
    for i, row in enumerate(summary.audio):
        assert row["source"] == "attacked audio"
        want = snr(clean=z["audio_clean"][i], other=z["audio_adv"][i])
        assert row["snr_db"] == pytest.approx(want) and abs(row["snr_db"] - 99.0) > 10
        clean, sr = sf.read(root / "report" / row["clean_wav"])
        assert sr == 22050 and sf.info(root / "report" / row["clean_wav"]).subtype == "PCM_16"
        assert np.allclose(clean, z["audio_clean"][i], atol=1 / 2**15)


def test_a_waveform_result_beside_the_spectrogram_one_is_no_duplicate(tmp_path, caplog):
    """``attack-<model>-waveform.json`` next to ``attack-<model>.json`` (the default run) is
    another threat model, not a second result: no warning, and the spectrogram result stands
    for the model whichever is read first."""
    import json

    from artgenre.io import atomic_write_json
    from artgenre.report.collect import BASELINE, accuracy, load_results
    from artgenre.report.index import build_index

    root, attack = _waveform_folder(tmp_path / "results")
    wave = {**json.loads((root / "attack-cnn.json").read_text()), "threat": "waveform",
            "clean": _evaluate(np.random.default_rng(1), 0.2)}
    for name in ("attack-cnn-waveform.json", "attack-cnn-z-waveform.json"):
        atomic_write_json(root / name, wave)
        with caplog.at_level("WARNING", logger="artgenre"):
            idx = build_index(results=load_results(results_dir=root))
        assert "two attack results" not in caplog.text
        assert idx.baseline_files["cnn"].name == "attack-cnn.json"
        assert idx.clean[("cnn", BASELINE)] == accuracy(attack["clean"])
        (root / name).unlink()
