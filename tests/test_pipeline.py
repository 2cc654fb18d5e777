"""End-to-end pipeline: config handling, a tiny full run, and kill-and-resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from artgenre.errors import ParameterError
from artgenre.pipeline import PipelineConfig, make_pipeline_config, run_pipeline

TINY = {"clips_per_genre": 5, "clip_seconds": 3.5}


def tiny_config(tmp_path: Path, **overrides) -> PipelineConfig:
    values = dict(
        data_options=TINY, cache_dir=str(tmp_path / "cache"), models=("cnn",), epochs=1,
        attacks=("fgsm", "pgd", "noise"), eps=(0.0, 0.01, 0.1), transfer_attacks=(),
        defenses=("squeeze",), defense_models=("cnn",), defense_eps=(0.03,), limit=6,
        waveform_attacks=(), out=str(tmp_path / "results"),
    )
    values.update(overrides)
    return make_pipeline_config(**values)


def test_config_file_and_overrides(tmp_path):
    cfg_file = tmp_path / "exp.toml"
    cfg_file.write_text('models = ["cnn"]\neps = [0.0, 0.01]\ndefenses = []\nout = "x"\n')
    cfg = make_pipeline_config(config_file=cfg_file, out=str(tmp_path / "y"))
    assert cfg.models == ("cnn",) and cfg.eps == (0.0, 0.01) and cfg.defenses == ()
    assert cfg.out == str(tmp_path / "y")


def test_experiment_files_are_valid():
    root = Path(__file__).resolve().parents[1] / "experiments"
    for path in sorted(root.glob("*.toml")):
        cfg = make_pipeline_config(config_file=path)
        assert cfg.models and cfg.defenses, path


@pytest.mark.slow
def test_tiny_pipeline_end_to_end_and_resume(tmp_path, monkeypatch):
    import artgenre.attacks.run as sweep

    cfg = tiny_config(tmp_path)
    calls = {"n": 0}
    real_run_attack = sweep.run_attack

    def killed(*args, **kwargs):
        calls["n"] += 1
        raise KeyboardInterrupt  # the run is killed right after training finished

    monkeypatch.setattr(sweep, "run_attack", killed)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, progress=False)
    out = Path(cfg.out)
    status = json.loads((out / "pipeline.json").read_text())
    assert status["finished"] is False
    assert [s["stage"] for s in status["stages"]] == ["prepare", "train cnn"]
    trained = json.loads((out / "train-cnn.json").read_text())

    import artgenre.training as training

    def no_retrain(*args, **kwargs):
        raise AssertionError("finished training must be resumed, not recomputed")

    monkeypatch.setattr(sweep, "run_attack", real_run_attack)
    monkeypatch.setattr(training, "fit", no_retrain)
    result = run_pipeline(cfg, progress=False)

    assert json.loads((out / "train-cnn.json").read_text())["metrics"] == trained["metrics"]
    status = json.loads((out / "pipeline.json").read_text())
    assert status["finished"] is True
    attack = json.loads((out / "attack-cnn.json").read_text())
    assert {(c["attack"], c["eps"]) for c in attack["cells"]} >= {("fgsm", 0.01), ("pgd", 0.1), ("noise", 0.0)}
    assert (out / "defense-cnn-squeeze.json").exists()
    assert result.report.report_md.exists()
    assert "Table 1" in result.report.report_md.read_text() or "table 1" in result.report.report_md.read_text().lower()

    # A third run recomputes nothing: every cell (with its own timing) is read back as it was.
    defended = json.loads((out / "defense-cnn-squeeze.json").read_text())
    again = run_pipeline(cfg, progress=False)
    assert json.loads((out / "attack-cnn.json").read_text())["cells"] == attack["cells"]
    assert json.loads((out / "defense-cnn-squeeze.json").read_text())["cells"] == defended["cells"]
    assert again.report.report_md.exists()


def test_cli_run_smoke(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import artgenre.cli  # noqa: F401 - attaches the commands
    import artgenre.pipeline as pipeline
    from artgenre.cli.app import app

    seen = {}

    def fake_run(config, progress=True, **run_options):
        seen["config"] = config
        seen["run_options"] = run_options
        return pipeline.PipelineResult(config=config, stages=[{"stage": "prepare", "seconds": 0.1}], seconds=0.1)

    monkeypatch.setattr(pipeline, "run_pipeline", fake_run)
    res = CliRunner().invoke(app, ["run", "--models", "cnn", "--defenses", "", "--eps", "0,0.01", "--out", str(tmp_path),
                                   "--param", "pgd.steps=2", "--data-seed", "3"])
    assert res.exit_code == 0, res.output
    assert seen["config"].models == ("cnn",) and seen["config"].defenses == ()
    # The quick profile's APGD iterations come first; the user's entry is kept as given.
    assert seen["config"].attack_params == (*pipeline.PROFILE_ATTACK_PARAMS["quick"], ("pgd", "steps", 2))
    assert seen["config"].data_seed == 3
    assert "Pipeline stages" in res.output


@pytest.mark.slow
def test_attack_params_reach_every_sweep(tmp_path, monkeypatch):
    # pgd.steps=2 must reach the white-box, transfer and defense (non-adaptive and adaptive)
    # sweeps, and be recorded in each result's config.
    from art.attacks.evasion import ProjectedGradientDescent

    seen = []
    real_init = ProjectedGradientDescent.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("max_iter"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(ProjectedGradientDescent, "__init__", spy)
    cfg = tiny_config(tmp_path, models=("cnn", "resnet18"), attacks=("pgd",), eps=(0.0, 0.03),
                      transfer_attacks=("pgd",), transfer_eps=(0.03,), defense_attacks=("pgd",),
                      defense_eps=(0.03,), limit=4, attack_params=("pgd.steps=2",),
                      strength_check=False)  # its stronger PGD (4x the steps) is on purpose not the user's
    run_pipeline(cfg, progress=False)
    out = Path(cfg.out)
    files = ["attack-cnn.json", "attack-resnet18.json", "attack-cnn-from-resnet18.json",
             "attack-resnet18-from-cnn.json"]
    for name in files:
        result = json.loads((out / name).read_text())
        assert ["pgd", "steps", 2] in result["config"]["params"], name
    defense = json.loads((out / "defense-cnn-squeeze.json").read_text())
    assert ["pgd", "steps", 2] in defense["config"]["attack_params"]
    assert [c["adaptive"] for c in defense["cells"]] == [False, True]
    assert {c["name"] for c in defense["checks"]} >= {"pgd: adaptive not weaker than non-adaptive"}
    # One PGD per crafted ε > 0 cell, each with 2 steps: the 2 white-box cells and the defense's
    # adaptive pass. The transfers and the defense's non-adaptive pass read the white-box sets
    # (`artgenre.attacks.store`), whose key holds the parameters: a hit means they asked for 2 steps.
    assert seen == [2] * 3
    for name in files[2:]:
        (cell,) = [c for c in json.loads((out / name).read_text())["cells"] if c["eps"]]
        assert cell["reused_adversarial"] is True, name
    assert [c.get("reused_adversarial", False) for c in defense["cells"]] == [True, False]


def test_profile_attack_params_yield_to_the_users_and_survive_a_reload():
    import dataclasses

    from artgenre.pipeline import PROFILE_ATTACK_PARAMS

    quick = make_pipeline_config(attack_params=("apgd-ce.max_iter=5",))
    assert ("apgd-ce", "max_iter", 5) in quick.attack_params
    assert ("apgd-ce", "max_iter", 20) not in quick.attack_params
    assert ("apgd-dlr", "max_iter", 20) in quick.attack_params
    assert PipelineConfig(**dataclasses.asdict(quick)).attack_params == quick.attack_params
    assert make_pipeline_config(profile="paper").attack_params == PROFILE_ATTACK_PARAMS["paper"]
    assert make_pipeline_config().attack_params == PROFILE_ATTACK_PARAMS["quick"]


def test_comma_separated_strings_in_the_python_api_read_as_on_the_command_line():
    c = make_pipeline_config(waveform_snr_db="50,30", eps="0,0.01", models="cnn", defenses="",
                             defense_models="cnn", waveform_attacks="pgd")
    assert c.waveform_snr_db == (30.0, 50.0) and c.eps == (0.0, 0.01)
    assert c.models == ("cnn",) and c.defenses == () and c.waveform_attacks == ("pgd",)


def test_transfer_and_detector_read_the_white_box_adversarial_sets(tmp_path, monkeypatch):
    """The detector's non-adaptive pass and the transfer sweep craft nothing the white-box sweeps
    crafted: they read the stored sets, and their cells equal the white-box ones."""
    from artgenre.attacks.store import STORE_DIR
    from artgenre.threats import THREAT_MODELS

    cfg = tiny_config(tmp_path, models=("cnn", "resnet18"), attacks=("fgsm", "pgd"), eps=(0.0, 0.03),
                      transfer_attacks=("pgd",), transfer_eps=(0.03,), defenses=("detector",),
                      defense_attacks=("fgsm", "pgd"), attack_params=("pgd.steps=2",), strength_check=False)
    crafted = []
    spectrogram = type(THREAT_MODELS["spectrogram"])
    real = spectrogram.craft
    monkeypatch.setattr(spectrogram, "craft",
                        lambda self, **kw: crafted.append((kw["attack"], kw["eps"])) or real(self, **kw))
    run_pipeline(cfg, progress=False)
    out = Path(cfg.out)
    assert not (out / STORE_DIR).exists()  # removed once every unit finished
    # White-box: fgsm + pgd at 0.03 per model; the detector (fgsm, pgd non-adaptive; detector-pgd)
    # crafts only detector-pgd; the transfers craft nothing.
    assert sorted(crafted) == sorted(
        [("fgsm", 0.03), ("pgd", 0.03)] * 2 + [("detector-pgd", 0.03)])
    white = {(c["attack"], c["eps"]): c for c in json.loads((out / "attack-cnn.json").read_text())["cells"]}
    det = json.loads((out / "defense-cnn-detector.json").read_text())
    for c in det["cells"]:
        if c["eps"]:
            assert c["reused_adversarial"] is True and c["pred"] == white[(c["attack"], c["eps"])]["pred"]
            assert c["linf"] == white[(c["attack"], c["eps"])]["linf"]
    transfer = json.loads((out / "attack-resnet18-from-cnn.json").read_text())
    (cell,) = [c for c in transfer["cells"] if c["eps"]]
    assert cell["reused_adversarial"] is True and cell["linf"] == white[("pgd", 0.03)]["linf"]

