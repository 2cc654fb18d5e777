"""The waveform threat model: attacks on the audio windows, budgets, SNR and the WAV round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from artgenre import pass_counts
from artgenre.attacks.audio_examples import save_verified_examples
from artgenre.attacks import ATTACKS
from artgenre.attacks.cells import sweep_cells
from artgenre.attacks.roundtrip import frame_offset, roundtrip_predictions, wav_roundtrip, window_features
from artgenre.data import load_dataset
from artgenre.threats import THREAT_MODELS, threat_model
from artgenre.threats_waveform import parse_snr, snr_db, snr_to_eps

DEVICE = "cpu"  # tests pin the CPU so results do not depend on the machine having a GPU
SNR_TOL = 1e-3


@pytest.fixture(scope="module")
def data():
    # 6.5 s clips give two segments each, so reference groups hold more than one sample.
    return load_dataset(name="synth", clips_per_genre=4, clip_seconds=6.5, progress=False, workers=1)


@pytest.fixture(scope="module")
def model(data):
    """A tiny linear model on 8x8-pooled log-mels, fitted on train and test segments so that most
    test segments are correct on clean input (something for the attack to break)."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.AvgPool2d(16), nn.Flatten(), nn.Linear(64, data.n_classes))
    x = torch.from_numpy(np.concatenate([np.asarray(data.train.x), np.asarray(data.test.x)]))
    y = torch.from_numpy(np.concatenate([data.train.y, data.test.y]))
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    return m.eval()


@pytest.fixture(scope="module")
def clf(model, data):
    return threat_model("waveform").classifier(model, device=DEVICE, model_input_shape=(1, 128, 128),
                                               nb_classes=data.n_classes)


def _sweep(clf, split, *, attacks, eps, norm, on_adversarial=None):
    return sweep_cells(craft_classifier=clf, split=split, attacks=attacks, eps=eps, batch_size=16, seed=0,
                       progress=False, threat="waveform", norm=norm, params={"pgd": {"steps": 5}},
                       on_adversarial=on_adversarial)


def test_registry_entry_reads_budgets():
    tm = THREAT_MODELS["waveform"]
    assert tm.clip_values == (-1.0, 1.0) and tm.budget_kinds == ("linf", "l2rel")
    assert tm.eps_db(0.01, "inf") == pytest.approx(-40.0) and tm.eps_db(0.01, "l2rel") == pytest.approx(40.0)
    assert snr_to_eps(40) == pytest.approx(0.01) and parse_snr("50,30,40") == (30.0, 40.0, 50.0)


def test_clean_audio_through_the_front_end_gives_the_cached_predictions(clf, model, data):
    tm = threat_model("waveform")
    split = data.test
    logits = tm.predict(clf, np.asarray(split.audio), split=split, batch_size=16)
    with torch.no_grad():
        cached = model(torch.from_numpy(np.array(split.x))).numpy()
    assert np.array_equal(logits.argmax(1), cached.argmax(1))
    assert len(tm.groups(split)) == len(np.unique(split.audio_ref)) < len(split.y)


def test_standard_features_of_a_window_are_the_cached_segment(data):
    # Checks the frame offset: the window's centred STFT puts the segment at `frame_offset`.
    split = data.test
    x = window_features(np.asarray(split.audio), ref=np.asarray(split.audio_ref))
    assert frame_offset() == 2
    assert float(np.abs(x - np.asarray(split.x)).max()) <= 1e-5


def test_roundtrip_of_an_unperturbed_window_keeps_the_in_memory_prediction(clf, data):
    split = data.test
    pred, back = roundtrip_predictions(classifier=clf, audio=np.asarray(split.audio), ref=np.asarray(split.audio_ref),
                                       batch_size=16)
    memory = threat_model("waveform").predict(clf, np.asarray(split.audio), split=split, batch_size=16).argmax(1)
    assert np.array_equal(pred, memory)
    assert float(np.abs(back - np.asarray(split.audio)).max()) <= 1 / 32768 + 1e-7


def test_waveform_pgd_l2rel_lowers_accuracy_within_the_snr_budget(clf, data):
    split = data.test
    captured = {}
    cells = _sweep(clf, split, attacks=["pgd"], eps=[0.0, snr_to_eps(20)], norm="l2rel",
                   on_adversarial=lambda a, e, x: captured.setdefault(e, x))
    clean, attacked = cells
    assert clean["segment_accuracy"]["value"] >= 0.5
    assert attacked["segment_accuracy"]["value"] < clean["segment_accuracy"]["value"]
    assert attacked["threat"] == "waveform" and attacked["norm"] == "l2rel"
    assert attacked["eps_db"] == pytest.approx(20.0) and attacked["snr_db_budget"] == pytest.approx(20.0)
    assert attacked["snr_db"]["min"] >= 20.0 - SNR_TOL
    x_adv = captured[snr_to_eps(20)]
    assert np.all(snr_db(np.asarray(split.audio), x_adv) >= 20.0 - SNR_TOL) and np.abs(x_adv).max() <= 1.0
    for key in ("segment_accuracy", "success_rate"):
        assert {"value", "ci_low", "ci_high", "k", "n"} <= set(attacked["roundtrip"][key])
    assert clean["roundtrip"]["segment_accuracy"] == clean["segment_accuracy"]


@pytest.mark.parametrize("attack", [name for name, spec in ATTACKS.items() if spec.per_sample_budget])
def test_an_snr_budget_is_crafted_in_batches_as_one_example_at_a_time(attack, clf, data, monkeypatch):
    """The batched per-example L2 budget (``scale``) is the per-example path's algorithm: same
    random draws, same steps; only float rounding differs."""
    import dataclasses
    import functools

    from artgenre.attacks import spec as spec_module

    tm, split = threat_model("waveform"), data.test
    audio = np.asarray(split.audio, dtype=np.float32)
    eps = snr_to_eps(20)
    calls = []
    real = ATTACKS[attack]

    @functools.wraps(real.factory)
    def factory(*args, **kwargs):
        calls.append(1)
        return real.factory(*args, **kwargs)

    counted = dataclasses.replace(real, factory=factory)

    def craft(spec):
        monkeypatch.setattr(spec_module, "attack_spec", lambda name: spec)
        np.random.seed(0)
        calls.clear()
        before = pass_counts.snapshot(clf)
        x_adv = tm.craft(attack=attack, classifier=clf, x=audio, y=split.y, split=split, norm="l2rel", eps=eps,
                         batch_size=4, params={}, chunk=8, advance=lambda k: None)
        return x_adv, len(calls), pass_counts.since(before, clf)

    batched, n_batched, passes_batched = craft(counted)
    single, n_single, passes_single = craft(dataclasses.replace(counted, per_sample_budget=False))
    # The per-example classifiers hand their pass counts on: both ways count the same passes.
    assert passes_single == passes_batched
    groups = tm.groups(split)
    assert n_single == len(audio) and n_batched == len(groups) < len(audio)  # one call per reference group
    assert np.abs(batched - audio).max() > 0
    assert np.abs(batched - single).max() <= 1e-4 * np.abs(audio).max()
    assert np.all(snr_db(audio, batched) >= 20.0 - SNR_TOL) and np.abs(batched).max() <= 1.0
    pred = [tm.predict(clf, a, split=split, batch_size=8).argmax(axis=1) for a in (batched, single)]
    assert (pred[0] == pred[1]).mean() >= 0.9


def test_restarts_under_a_per_sample_budget_keep_the_last_start_that_fools(clf, data):
    """PGD restarts with per-sample radii, as ART's generate keeps them: per sample, the last
    start whose prediction differs from the clean one, else the first. One batch per group, so start k draws the k-th
    block of the NumPy stream, like the k-th of three single-start runs."""
    tm, split = threat_model("waveform"), data.test
    audio = np.asarray(split.audio, dtype=np.float32)
    eps = snr_to_eps(30)

    def craft(restarts):
        return tm.craft(attack="pgd", classifier=clf, x=audio, y=split.y, split=split, norm="l2rel", eps=eps,
                        batch_size=len(audio), params={"steps": 3, "restarts": restarts}, chunk=len(audio),
                        advance=lambda k: None)

    def fooled(x_adv):
        return tm.predict(clf, x_adv, split=split, batch_size=8).argmax(axis=1) != split.y

    groups = tm.groups(split)
    np.random.seed(0)
    with_restarts = craft(2)
    # The same draws, group by group: three single-start runs per group.
    expected = np.empty_like(audio)
    np.random.seed(0)
    for g in groups:
        sub = split.take(g)
        runs = [tm.craft(attack="pgd", classifier=clf, x=audio[g], y=split.y[g], split=sub, norm="l2rel",
                         eps=eps, batch_size=len(g), params={"steps": 3}, chunk=len(g), advance=lambda k: None)
                for _ in range(3)]
        best = runs[0].copy()
        clean = tm.predict(clf, audio[g], split=sub, batch_size=8).argmax(axis=1)
        for run in runs[1:]:
            won = tm.predict(clf, run, split=sub, batch_size=8).argmax(axis=1) != clean  # ART's success
            best[won] = run[won]
        expected[g] = best
    assert np.abs(with_restarts - expected).max() <= 1e-6
    assert np.all(snr_db(audio, with_restarts) >= 30.0 - SNR_TOL)
    assert fooled(with_restarts).any()


def test_waveform_linf_cells_stay_within_the_amplitude(clf, data):
    cells = _sweep(clf, data.test, attacks=["fgsm", "pgd", "noise"], eps=[0.003], norm="inf")
    for c in cells:
        assert c["norm"] == "inf" and c["eps_db"] == pytest.approx(20 * np.log10(0.003))
        assert c["linf"]["max"] <= 0.003 + 1e-6, c["attack"]
        assert "snr_db_budget" not in c and c["snr_db"]["min"] is not None


def test_wav_roundtrip_snr_matches_the_in_memory_snr(clf, data):
    split = data.test
    captured = {}
    _sweep(clf, split, attacks=["pgd"], eps=[snr_to_eps(40)], norm="l2rel",
           on_adversarial=lambda a, e, x: captured.setdefault("x", x))
    x = np.asarray(split.audio)
    memory, wav = snr_db(x, captured["x"]), snr_db(x, wav_roundtrip(captured["x"]))
    assert np.all(np.abs(memory - wav) <= 0.5), (memory, wav)


def test_verified_examples_are_successful_after_the_round_trip(clf, data, tmp_path):
    split = data.test
    eps = snr_to_eps(20)
    captured = {}
    _sweep(clf, split, attacks=["pgd"], eps=[eps], norm="l2rel", on_adversarial=lambda a, e, x: captured.setdefault("x", x))
    tm = threat_model("waveform")
    clean_pred = tm.predict(clf, np.asarray(split.audio), split=split, batch_size=16).argmax(1)
    path = tmp_path / "ex.npz"
    entry = save_verified_examples(path=path, threat=tm, classifier=clf, split=split, x_adv=captured["x"],
                                   clean_pred=clean_pred, n_examples=3, seed=0, attack="pgd", eps=eps, norm="l2rel",
                                   genres=data.genres, batch_size=16, index=np.arange(len(split.y)))
    assert entry is not None and entry["norm"] == "l2rel" and json.loads(json.dumps(entry)) == entry
    z = np.load(path)
    n = len(z["y"])
    assert 1 <= n <= 3 and z["audio_clean"].shape == z["audio_adv"].shape == (n, split.audio.shape[1])
    assert z["clean"].shape == z["adversarial"].shape == (n, 1, 128, 128)
    assert np.all(z["pred_clean"] == z["y"]) and np.all(z["pred_adv"] != z["y"]) and np.all(z["pred_roundtrip"] != z["y"])
    assert np.all(z["snr_db"] >= 20.0 - SNR_TOL)
    # One per genre first: no genre repeats while another successful one is missing.
    assert len(set(z["y"].tolist())) == n or n == 3


def test_spectrogram_cells_record_norm_inf_and_no_waveform_fields(data):
    from artgenre.art_adapter import as_art_classifier

    torch.manual_seed(0)
    m = nn.Sequential(nn.AvgPool2d(16), nn.Flatten(), nn.Linear(64, data.n_classes)).eval()
    clf = as_art_classifier(m, device=DEVICE, input_shape=(1, 128, 128), nb_classes=data.n_classes)
    (cell,) = sweep_cells(craft_classifier=clf, split=data.test, attacks=["fgsm"], eps=[0.01], batch_size=16,
                          seed=0, progress=False)
    assert cell["threat"] == "spectrogram" and cell["norm"] == "inf" and cell["eps_db"] == pytest.approx(0.8)
    assert "roundtrip" not in cell and "snr_db" not in cell


def test_cli_attack_waveform_snr_smoke(data, tmp_path, monkeypatch):
    import artgenre.cli  # noqa: F401  (attaches the commands)
    from typer.testing import CliRunner

    import artgenre.attacks.run as attack_run
    from artgenre.checkpoint import save_checkpoint
    from artgenre.cli.app import app
    from artgenre.models import build_model

    torch.manual_seed(0)
    ckpt = tmp_path / "cnn.pt"
    save_checkpoint(ckpt, model=build_model(name="cnn", num_classes=data.n_classes, input_size=128), model_name="cnn",
                    config={"model": "cnn", "data": {"dataset": "synth", "seed": 0}}, metrics={},
                    build_kwargs={"num_classes": data.n_classes, "input_size": 128})
    monkeypatch.setattr(attack_run, "load_checkpoint_data", lambda **kw: data)
    res = CliRunner().invoke(app, [
        "attack", "--checkpoint", str(ckpt), "--threat", "waveform", "--snr-db", "40", "--attack", "pgd",
        "--limit", "2", "--batch-size", "2", "--device", DEVICE, "--out", str(tmp_path), "--param", "pgd.steps=1",
        "--n-examples", "1",
    ])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "attack-cnn-waveform.json").read_text())
    assert result["threat"] == "waveform" and result["complete"]
    assert [(c["norm"], round(c["eps_db"], 6)) for c in result["cells"]] == [("l2rel", 40.0)]
    assert not (tmp_path / "attack-cnn.json").exists()


def test_pipeline_adds_one_waveform_sweep_per_model(tmp_path):
    """One sweep per waveform model: by default the CNN's (like the defenses), with
    ``waveform_models=()`` every model's."""
    from artgenre.grid import build_units
    from artgenre.pipeline import make_pipeline_config

    kw = dict(models=("cnn", "resnet18"), waveform_attacks=("pgd",), waveform_snr_db=(50, 30, 40), defenses=(),
              transfer_attacks=(), out=str(tmp_path))
    default = make_pipeline_config(**kw)
    assert [u.name for u in build_units(default) if u.name.endswith("waveform")] == ["attack cnn waveform"]
    cfg = make_pipeline_config(**kw, waveform_models=())
    waveform = [u for u in build_units(cfg) if u.name.endswith("waveform")]
    assert [u.name for u in waveform] == ["attack cnn waveform", "attack resnet18 waveform"]
    config = waveform[0].kwargs["config"]
    assert config.threat == "waveform" and config.snr_db == (30.0, 40.0, 50.0) and config.eps == ()
    assert [n for n, _ in config.budgets()] == ["l2rel"]
    off = make_pipeline_config(models=("cnn",), defenses=(), waveform_attacks=(), out=str(tmp_path))
    on = make_pipeline_config(models=("cnn",), defenses=(), out=str(tmp_path))  # the default run has one
    assert [u.kwargs["config"].snr_db for u in build_units(on) if u.name.endswith("waveform")] == [(40.0,)]
    assert not [u for u in build_units(off) if u.name.endswith("waveform")]


def test_deepfool_on_audio_reports_its_minimal_perturbations_as_snr(clf, data):
    from artgenre.attacks.minimal import minimal_norm_block

    block = minimal_norm_block(craft_classifier=clf, split=data.test, eps=[0.001], batch_size=8, seed=0,
                               params={"max_iter": 5, "nb_grads": 3}, progress=False, threat="waveform")
    n_ok = round(block["success_rate"]["value"] * block["success_rate"]["n"])
    assert n_ok >= 1 and len(block["snr_db"]["values"]) == len(block["l2"]["values"]) == n_ok
    assert block["snr_db"]["min"] == pytest.approx(min(block["snr_db"]["values"])) and block["snr_db"]["min"] > 0


def test_deepfool_on_audio_side_by_side_is_the_one_thread_block(clf, data):
    """Waveform DeepFool runs one-sample calls side by side on a CPU (`generate_chunks`): the
    block (norms, SNRs, accuracies) is the one crafted one call after another on one thread."""
    from artgenre.attacks.minimal import minimal_norm_block
    from artgenre.runtime import torch_threads

    kwargs = dict(craft_classifier=clf, split=data.test, eps=[0.001], batch_size=8, seed=0,
                  params={"max_iter": 5, "nb_grads": 3}, progress=False, threat="waveform")
    with torch_threads(2):
        side_by_side = minimal_norm_block(**kwargs)
    with torch_threads(1):
        one_by_one = minimal_norm_block(**kwargs)
    side_by_side.pop("seconds"), one_by_one.pop("seconds")
    assert side_by_side == one_by_one and side_by_side["l2"]["values"]


def _defend_under_waveform(defense: str, data, out, *, eps, attacks="fgsm"):
    """Defense ``defense`` on a tiny CNN, evaluated under the waveform threat on 4 segments."""
    from artgenre.data import DataConfig
    from artgenre.defenses import make_defense_config, run_defense

    cfg = make_defense_config(
        model="cnn", defense=defense, threat="waveform", data=DataConfig(
            dataset="synth", options={"clips_per_genre": 4, "clip_seconds": 6.5}), epochs=1, attacks=attacks,
        eps=eps, limit=4, device=DEVICE, out=str(out), strength_check=False)
    return cfg, run_defense(cfg, data=data, progress=False)


def test_adversarial_training_is_evaluated_under_the_waveform_threat(data, tmp_path):
    from artgenre.defenses import result_path

    _, result = _defend_under_waveform("adv-mixed", data, tmp_path, eps=(0.0, 0.01))
    path = result_path(tmp_path, model="cnn", defense="adv-mixed", threat="waveform")
    assert path.exists() and json.loads(path.read_text())["threat"] == "waveform"
    assert not result_path(tmp_path, model="cnn", defense="adv-mixed").exists()
    cells = {c["eps"]: c for c in result["cells"]}
    assert all(c["threat"] == "waveform" and c["adaptive"] for c in cells.values())
    # ε = 0 is the clean audio through the front end: the defended model's clean accuracy.
    assert cells[0.0]["segment_accuracy"]["value"] == result["clean"]["segment_accuracy"]["value"]
    assert cells[0.01]["linf"]["max"] <= 0.01 + 1e-6
    from artgenre.report import ReportConfig, run_report

    summary = run_report(ReportConfig(results_dir=str(tmp_path), audio=False))
    report = summary.report_md.read_text()
    assert "waveform" in report and not summary.excluded


def test_the_squeezer_sits_behind_the_front_end_and_passes_gradients(model, data):
    from artgenre.defenses.squeeze import make_squeezer

    tm = threat_model("waveform")
    squeezer = make_squeezer(bit_depth=3)
    plain = tm.classifier(model, device=DEVICE, model_input_shape=(1, 128, 128), nb_classes=data.n_classes)
    squeezed = tm.classifier(model, device=DEVICE, model_input_shape=(1, 128, 128), nb_classes=data.n_classes,
                             preprocessing_defences=[squeezer])
    split = data.test
    g = tm.groups(split)[0]
    tm.prepare(plain, split=split, group=g)
    tm.prepare(squeezed, split=split, group=g)
    audio = np.asarray(split.audio[g], dtype=np.float32)
    with torch.no_grad():
        spec = plain.model.frontend(torch.from_numpy(audio), plain.model.reference).numpy()
        want = model(torch.from_numpy(squeezer(spec)[0])).numpy()
    np.testing.assert_allclose(squeezed.predict(audio), want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(squeezed.predict(audio), plain.predict(audio))
    grad = squeezed.loss_gradient(audio, np.eye(data.n_classes, dtype=np.float32)[split.y[g]])
    assert grad.shape == audio.shape and np.isfinite(grad).all() and np.abs(grad).max() > 0


def test_squeezing_is_evaluated_under_the_waveform_threat(data, tmp_path):
    _, result = _defend_under_waveform("squeeze", data, tmp_path, eps=(0.01,))
    assert {(c["attack"], c["adaptive"], c["threat"]) for c in result["cells"]} == {
        ("fgsm", False, "waveform"), ("fgsm", True, "waveform")}


def test_model_inputs_are_the_front_ends_log_mels(clf, data):
    split = data.test
    z = threat_model("waveform").model_inputs(clf, np.asarray(split.audio), split=split, batch_size=5)
    assert z.shape == np.shape(split.x) and float(np.abs(z - np.asarray(split.x)).max()) <= 1e-4
    x = np.asarray(split.x[:3])
    assert np.array_equal(threat_model("spectrogram").model_inputs(None, x, split=split, batch_size=2), x)


def test_detector_aware_pgd_on_audio_keeps_its_budget_and_squeezes_the_spectrogram(clf, model, data):
    from artgenre.attacks import make_attack
    from artgenre.defenses.detector import detector_scores
    from artgenre.defenses.squeeze import detector_squeezers

    tm = threat_model("waveform")
    split = data.test
    squeezers = detector_squeezers(bit_depth=4, median=True)
    spec = threat_model("spectrogram").classifier(model, device=DEVICE, model_input_shape=(1, 128, 128),
                                                  nb_classes=data.n_classes)
    clf.detector_guard = (squeezers, 0.5)
    try:
        audio = np.asarray(split.audio, dtype=np.float32)
        for norm, eps in (("inf", 0.002), ("l2rel", snr_to_eps(30))):
            x_adv = tm.craft(attack="detector-pgd", classifier=clf, x=audio, y=split.y, split=split, norm=norm,
                             eps=eps, batch_size=8, params={"steps": 3}, chunk=8, advance=lambda k: None)
            d = (x_adv - audio).astype(np.float64)
            assert np.abs(x_adv).max() <= 1.0 and np.abs(d).max() > 0
            if norm == "inf":
                assert np.abs(d).max() <= eps + 1e-6
            else:
                ratio = np.linalg.norm(d, axis=1) / np.linalg.norm(audio.astype(np.float64), axis=1)
                assert ratio.max() <= eps * (1 + 1e-5)
        scores = detector_scores(classifier=spec, x=tm.model_inputs(clf, x_adv, split=split, batch_size=8),
                                 squeezers=squeezers)
        assert scores.shape == (len(split.y),) and np.isfinite(scores).all()
    finally:
        del clf.detector_guard


def test_the_squeezing_detector_is_evaluated_under_the_waveform_threat(data, tmp_path):
    from artgenre.defenses import result_path

    cfg, result = _defend_under_waveform("detector", data, tmp_path, eps=(0.001,))
    assert result_path(tmp_path, model="cnn", defense="detector", threat="waveform").exists()
    det = result["detector"]
    assert 0 <= det["fpr_val"]["value"] <= cfg.target_fpr + 1e-9 and det["threshold"] >= 0
    rows = {(p["attack"], p["adaptive"]) for p in det["per_attack"]}
    assert rows == {("fgsm", False), ("detector-pgd", True)}
    assert all(c["threat"] == "waveform" for c in result["cells"] + result["detector_cells"])
    assert all(c["linf"]["max"] <= 0.001 + 1e-6 for c in result["detector_cells"])
    # The detector-aware attack counts its steps through the front end's classifier too.
    assert all(c["passes"]["gradient"] > 0 for c in result["detector_cells"] if c["eps"] > 0)
    assert det["worst_case"] and det["worst_case"][0]["eps"] == pytest.approx(0.001)


class _Brightness(torch.nn.Module):
    """Class 1 when a log-mel segment's mean is above 0.5, else class 0."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(100.0))

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1) * self.gain


def test_griffin_lim_round_trip_inverts_only_pairs_fooled_in_memory(monkeypatch):
    import artgenre.report.audio as audio
    from artgenre.art_adapter import as_art_classifier
    from artgenre.attacks.roundtrip import griffin_lim_roundtrip

    clf = as_art_classifier(_Brightness(), device="cpu", nb_classes=2)
    rng = np.random.default_rng(0)
    dark = np.clip(0.3 + 0.05 * rng.standard_normal((3, 1, 128, 128)), 0, 1).astype(np.float32)
    clean, adversarial = dark.copy(), dark.copy()
    adversarial[0] += 0.4  # pair 0 fools the model in memory; pairs 1 and 2 do not
    inverted = []
    real = audio.invert_pair
    monkeypatch.setattr(audio, "invert_pair", lambda **kw: inverted.append(kw) or real(**kw))
    trip = griffin_lim_roundtrip(classifier=clf, clean=clean, adversarial=adversarial, y=np.zeros(3, int),
                                 batch_size=4, n_iter=2)
    assert len(inverted) == 1 and trip["n"] == 3 and trip["fooled_in_memory"] == 1
    assert trip["success_rate"]["n"] == 1
    assert trip["success_rate"]["k"] == int(trip["clean_right"] == 1 and trip["adversarial_wrong"] == 1)
    small = griffin_lim_roundtrip(classifier=clf, clean=clean[:, :, :32, :32], adversarial=clean[:, :, :32, :32],
                                  y=np.zeros(3, int), batch_size=4)
    assert "skipped" in small and "success_rate" not in small
