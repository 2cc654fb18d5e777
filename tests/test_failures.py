

# ---- report: bad inputs (artgenre.report) ----
def test_report_empty_results_dir_raises_data_error(tmp_path):
    import pytest

    from artgenre.errors import DataError
    from artgenre.report import build_report

    (tmp_path / "notes.json").write_text('{"comment": "no kind, not a result"}', encoding="utf-8")
    with pytest.raises(DataError, match="no result files in") as info:
        build_report(results_dir=tmp_path)
    assert str(tmp_path) in str(info.value)
    assert not (tmp_path / "report" / "report.md").exists()


def test_report_only_malformed_json_raises_data_error(tmp_path):
    import pytest

    from artgenre.errors import DataError
    from artgenre.report import build_report

    (tmp_path / "attack-cnn.json").write_text('{"kind": "attack", "cells": [', encoding="utf-8")
    with pytest.raises(DataError, match="1 unreadable"):
        build_report(results_dir=tmp_path)


def test_report_missing_dir_and_bad_options(tmp_path):
    import pytest

    from artgenre.errors import DataError, ParameterError
    from artgenre.report import build_report, invert_pair

    with pytest.raises(DataError, match="does not exist"):
        build_report(results_dir=tmp_path / "nope")
    with pytest.raises(ParameterError, match="max_examples=-1"):
        build_report(results_dir=tmp_path, max_examples=-1)
    with pytest.raises(ParameterError, match="n_iter=0"):
        build_report(results_dir=tmp_path, n_iter=0)
    import numpy as np

    with pytest.raises(DataError, match=r"expected \(128, 128\)"):
        invert_pair(clean=np.zeros((64, 128)), adversarial=np.zeros((64, 128)))


def test_report_odd_schema_data_and_pipeline_fields_do_not_crash(tmp_path):
    from artgenre.io import atomic_write_json
    from artgenre.report import build_report

    # A string data config counts as "not recorded"; a non-integer schema_version as 1; a
    # pipeline.json without a usable config picks nothing.
    train = {"kind": "train", "model": "cnn", "schema_version": "two", "config": {"data": "synth"},
             "meta": {"created": 5}, "dataset": "synth", "metrics": {"test": {"segment_accuracy": 0.5}}}
    other = {**train, "model": "resnet18", "config": {"data": {"dataset": "gtzan", "options": "x"}}}
    atomic_write_json(tmp_path / "train-cnn.json", train)
    atomic_write_json(tmp_path / "train-resnet18.json", other)
    atomic_write_json(tmp_path / "pipeline.json", {"kind": "pipeline", "config": ["not", "a", "dict"]})
    summary = build_report(results_dir=tmp_path, max_examples=0)
    assert [r["model"] for r in summary.tables["table1_clean"].rows] == ["resnet18"]
    assert [(e["file"], "gtzan" in e["reason"]) for e in summary.excluded] == [("train-cnn.json", True)]


# ---- models / checkpoints / training / evaluation: bad inputs ----
def test_train_block_bad_model_options(tmp_path, monkeypatch):
    import pytest
    import torch

    from artgenre.errors import CheckpointError, ParameterError
    from artgenre.models import build_model

    with pytest.raises(ParameterError, match=r"'vgg'.*cnn, resnet18"):
        build_model(name="vgg")
    with pytest.raises(ParameterError, match="input_size=8"):
        build_model(name="cnn", input_size=8)
    with pytest.raises(ParameterError, match="num_classes=1"):
        build_model(name="resnet18", num_classes=1)
    with pytest.raises(ParameterError, match="pretrained"):
        build_model(name="cnn", pretrained=True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    with pytest.raises(CheckpointError, match="not found.*copy torchvision"):
        build_model(name="resnet18", pretrained=True)
    with pytest.raises(CheckpointError, match="missing.pth"):
        build_model(name="resnet18", weights_path=tmp_path / "missing.pth")


def test_train_block_bad_checkpoints(tmp_path):
    import pytest
    import torch

    from artgenre.checkpoint import load_checkpoint, save_checkpoint
    from artgenre.errors import CheckpointError, ParameterError
    from artgenre.models import build_model

    with pytest.raises(CheckpointError, match="absent.pt"):
        load_checkpoint(tmp_path / "absent.pt", device="cpu")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage, device="cpu")
    with pytest.raises(ParameterError, match="'lenet'"):
        save_checkpoint(tmp_path / "x.pt", model=torch.nn.Linear(2, 2), model_name="lenet", config={}, metrics={})
    path = save_checkpoint(tmp_path / "cnn.pt", model=build_model(name="cnn", input_size=16), model_name="cnn",
                           config={}, metrics={}, build_kwargs={"input_size": 16})
    with pytest.raises(CheckpointError, match="'cnn'.*'resnet18'"):
        load_checkpoint(path, device="cpu", expected_model="resnet18")
    with pytest.raises(ParameterError, match="device"):
        load_checkpoint(path, device="tpu")


def test_train_block_bad_training_config():
    import pytest

    from artgenre.errors import ParameterError
    from artgenre.training import make_train_config, run_training

    for kwargs, match in [({"epochs": 0}, "epochs=0"), ({"lr": 0}, "lr=0"), ({"lr": float("nan")}, "lr=nan"),
                          ({"weight_decay": -0.1}, "weight_decay"), ({"lr_factor": 0}, "lr_factor"),
                          ({"batch_size": -4}, "batch_size=-4"), ({"lr_patience": -1}, "lr_patience"),
                          ({"model": "vgg"}, "vgg"), ({"device": "gpu:0"}, "gpu:0"),
                          ({"learning_rate": 1e-3}, "learning_rate.*valid options")]:
        with pytest.raises(ParameterError, match=match):
            make_train_config(**kwargs)
    with pytest.raises(ParameterError, match="'slow'.*quick"):
        make_train_config(profile="slow")
    with pytest.raises(ParameterError, match="TrainConfig"):
        run_training({"model": "cnn"})


def test_train_block_bad_evaluation_inputs():
    import numpy as np
    import pytest

    from artgenre.errors import DataError
    from artgenre.evaluation import evaluate

    with pytest.raises(DataError, match=r"\(N, 3\)"):
        evaluate(logits=np.zeros((4, 2)), y=np.zeros(4, int), track=np.arange(4), n_classes=3)
    with pytest.raises(DataError, match="same length"):
        evaluate(logits=np.zeros((4, 3)), y=np.zeros(3, int), track=np.arange(4), n_classes=3)
    with pytest.raises(DataError, match="-1"):
        evaluate(logits=np.zeros((2, 3)), y=np.array([-1, 0]), track=np.arange(2), n_classes=3)


def test_train_block_cli_bad_options(tmp_path):
    import artgenre.cli  # noqa: F401 - attaches the commands
    from typer.testing import CliRunner

    from artgenre.cli import main
    from artgenre.cli.app import app

    for args, match in [(["--model", "alexnet"], "alexnet"), (["--profile", "huge"], "huge"),
                        (["--epochs", "0"], "epochs=0"), (["--data-option", "novalue"], "KEY=VALUE"),
                        (["--model", "cnn", "--pretrained"], "resnet18")]:
        res = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path)])
        assert res.exit_code != 0 and match in str(res.exception), (args, res.exception)
    assert main(["train", "--model", "alexnet", "--out", str(tmp_path)]) == 1


# ---- data layer: bad inputs (artgenre.data) ----
def test_data_unknown_dataset_lists_valid_names(tmp_path):
    import pytest

    from artgenre.data import DataConfig, load_dataset
    from artgenre.errors import ParameterError

    with pytest.raises(ParameterError, match="'nope'.*synth.*gtzan"):
        load_dataset(name="nope", cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="'nope'"):
        DataConfig(dataset="nope")


def test_data_root_without_genre_folders_names_both_layouts(tmp_path):
    import pytest

    from artgenre.data import load_dataset
    from artgenre.errors import DataError

    (tmp_path / "audio" / "misc").mkdir(parents=True)
    with pytest.raises(DataError) as info:
        load_dataset(name="gtzan", root=tmp_path / "audio", cache_dir=tmp_path / "c", progress=False)
    message = str(info.value)
    assert "genres/" in message and "genres_original/" in message and "audio" in message
    with pytest.raises(DataError, match="not an existing folder"):
        load_dataset(name="gtzan", root=tmp_path / "absent", cache_dir=tmp_path / "c", progress=False)


def test_data_gtzan_without_root_and_synth_with_root(tmp_path):
    import pytest

    from artgenre.data import load_dataset
    from artgenre.errors import ParameterError

    with pytest.raises(ParameterError, match="needs root"):
        load_dataset(name="gtzan", cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="not used by dataset 'synth'"):
        load_dataset(name="synth", root=tmp_path, cache_dir=tmp_path)


def test_data_bad_split_scheme_seed_and_options(tmp_path):
    import pytest

    from artgenre.data import DataConfig, load_dataset
    from artgenre.errors import ParameterError

    with pytest.raises(ParameterError, match="'kfold'.*random.*filtered"):
        load_dataset(name="synth", split_scheme="kfold", cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="only applies to dataset 'gtzan'"):
        load_dataset(name="synth", split_scheme="filtered", cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="seed=-1"):
        load_dataset(name="synth", seed=-1, cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="'clip_len'.*clips_per_genre"):
        load_dataset(name="synth", clip_len=3, cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="clips_per_genre"):
        load_dataset(name="gtzan", root=tmp_path, clips_per_genre=2, cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="'kfold'"):
        DataConfig(split_scheme="kfold")
    with pytest.raises(ParameterError, match="workers=0"):
        load_dataset(name="synth", workers=0, cache_dir=tmp_path)


def test_data_bad_fractions(tmp_path):
    import pytest

    from artgenre.data import load_dataset
    from artgenre.errors import ParameterError

    for bad in [(0.5, 0.5), (0.7, 0.2, 0.2), (0.0, 0.5, 0.5), (0.9, -0.05, 0.15), "0.8,0.1,0.1"]:
        with pytest.raises(ParameterError, match="fractions"):
            load_dataset(name="synth", fractions=bad, cache_dir=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="only apply to split_scheme='random'"):
        load_dataset(name="gtzan", root=tmp_path, split_scheme="filtered", fractions=(0.8, 0.1, 0.1),
                     cache_dir=tmp_path)


def test_data_prepare_cli_bad_dataset_exits_with_message(tmp_path):
    import artgenre.cli  # noqa: F401 - attaches the commands
    from artgenre.cli import main

    assert main(["prepare", "--dataset", "nope", "--cache-dir", str(tmp_path)]) == 1


# ---- attacks / sweep: bad inputs (artgenre.attacks, artgenre attack) ----
def _attack_block_classifier():
    import torch
    from torch import nn

    from artgenre.art_adapter import as_art_classifier

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    return as_art_classifier(model, device="cpu", input_shape=(1, 8, 8), nb_classes=3)


def test_attack_block_bad_eps_everywhere():
    import math

    import numpy as np
    import pytest

    from artgenre.attacks import ATTACKS, make_attack
    from artgenre.data.dataset import Split
    from artgenre.errors import ParameterError
    from artgenre.attacks.cells import sweep_cells
    from artgenre.attacks.run import AttackConfig

    clf = _attack_block_classifier()
    split = Split(x=np.zeros((3, 1, 8, 8), np.float32), y=np.array([0, 1, 2]), track=np.array(["a", "b", "c"]))
    for bad in (-0.01, 1.5, math.nan, math.inf):
        with pytest.raises(ParameterError, match="eps"):
            AttackConfig(checkpoint="m.pt", eps=(0.0, bad))
        for name in ATTACKS:
            with pytest.raises(ParameterError, match="eps"):
                ATTACKS[name](clf, eps=bad, batch_size=4)
        with pytest.raises(ParameterError, match="eps"):
            sweep_cells(craft_classifier=clf, split=split, attacks=["fgsm"], eps=[bad], batch_size=4, seed=0,
                        progress=False)
    with pytest.raises(ParameterError, match=r"'-0\.5'.*\[0, 1\]"):
        AttackConfig(checkpoint="m.pt", eps="0,-0.5")
    with pytest.raises(ParameterError, match="'abc' is not a number"):
        AttackConfig(checkpoint="m.pt", eps="0,abc")
    with pytest.raises(ParameterError, match="eps is empty"):
        AttackConfig(checkpoint="m.pt", eps="")
    with pytest.raises(ParameterError, match="eps"):
        make_attack("art:BasicIterativeMethod", clf, eps=2.0, batch_size=4)


def test_attack_block_unknown_attacks_and_parameters():
    import numpy as np
    import pytest

    from artgenre.attacks import make_attack, parse_params
    from artgenre.data.dataset import Split
    from artgenre.errors import ParameterError
    from artgenre.attacks.cells import sweep_cells
    from artgenre.attacks.run import AttackConfig

    clf = _attack_block_classifier()
    with pytest.raises(ParameterError, match=r"unknown attack 'cw'.*fgsm, pgd, deepfool, noise"):
        AttackConfig(checkpoint="m.pt", attacks="fgsm,cw")
    with pytest.raises(ParameterError, match="unknown attack 'cw'"):
        make_attack("cw", clf, eps=0.1, batch_size=4)
    with pytest.raises(ParameterError, match=r"unknown ART evasion attack 'art:SquareAtack'.*art:SquareAttack"):
        make_attack("art:SquareAtack", clf, eps=0.1, batch_size=4)
    with pytest.raises(ParameterError, match=r"'art:NoSuchThing'.*e\.g\. art:FastGradientMethod"):
        AttackConfig(checkpoint="m.pt", attacks="art:NoSuchThing")
    with pytest.raises(ParameterError, match=r"art:SquareAttack.*no parameter 'iterations'.*max_iter"):
        make_attack("art:SquareAttack", clf, eps=0.1, batch_size=4, params={"iterations": 3})
    with pytest.raises(ParameterError, match=r"'pgd' has no parameter 'max_iter'.*steps"):
        make_attack("pgd", clf, eps=0.1, batch_size=4, params={"max_iter": 3})
    with pytest.raises(ParameterError, match=r"'fgsm' has no parameter 'steps'.*\(none\)"):
        AttackConfig(checkpoint="m.pt", attacks="fgsm", params=("fgsm.steps=3",))
    with pytest.raises(ParameterError, match="set by the sweep"):
        make_attack("pgd", clf, eps=0.1, batch_size=4, params={"eps": 0.2})
    with pytest.raises(ParameterError, match="accepted by none of the attacks"):
        AttackConfig(checkpoint="m.pt", attacks="fgsm,pgd", params=("nb_grads=3",))
    with pytest.raises(ParameterError, match="not in this run's attacks"):
        AttackConfig(checkpoint="m.pt", attacks="fgsm", params=("pgd.steps=3",))
    with pytest.raises(ParameterError, match="expected KEY=VALUE"):
        parse_params(items=["pgd.steps"])
    with pytest.raises(ParameterError, match="steps=0"):
        make_attack("pgd", clf, eps=0.1, batch_size=4, params={"steps": 0})
    with pytest.raises(ParameterError, match="rejected its parameters"):
        make_attack("art:SquareAttack", clf, eps=0.1, batch_size=4, params={"norm": 7})
    split = Split(x=np.zeros((3, 1, 8, 8), np.float32), y=np.array([0, 1, 2]), track=np.array(["a", "b", "c"]))
    with pytest.raises(ParameterError, match="minimal_norm_block"):
        sweep_cells(craft_classifier=clf, split=split, attacks=["deepfool"], eps=[0.1], batch_size=4, seed=0,
                    progress=False)


def test_attack_block_bad_config_fields_and_files(tmp_path):
    import pytest

    from artgenre.errors import CheckpointError, ParameterError
    from artgenre.attacks.run import AttackConfig, run_attack

    for kw, pattern in ((dict(limit=0), "limit=0"), (dict(batch_size=0), "batch_size=0"),
                        (dict(seed=-1), "seed=-1"), (dict(partition="dev"), "partition='dev'"),
                        (dict(device="tpu"), "device='tpu'"), (dict(n_examples=-1), "n_examples=-1")):
        with pytest.raises(ParameterError, match=pattern):
            AttackConfig(checkpoint="m.pt", **kw)
    with pytest.raises(CheckpointError, match="does not exist"):
        run_attack(AttackConfig(checkpoint=str(tmp_path / "missing.pt"), device="cpu", out=str(tmp_path)),
                   progress=False)


def test_attack_block_cli_reports_bad_options(tmp_path, capsys):
    from artgenre.cli import main

    code = main(["attack", "--checkpoint", str(tmp_path / "m.pt"), "--eps", "0,1.5", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "eps='1.5'" in err and "[0, 1]" in err
    code = main(["attack", "--checkpoint", str(tmp_path / "m.pt"), "--attack", "fgsm,nope"])
    assert code == 1 and "unknown attack 'nope'" in capsys.readouterr().err


# ---- defenses: bad inputs (artgenre.defenses, artgenre defend) ----
def test_defense_bad_ratio_bit_depth_and_fpr_name_value_and_range():
    import pytest

    from artgenre.defenses import make_defense_config

    cases = [
        (dict(defense="adv-mixed", ratio=0), r"ratio=0 .*\(0, 1\]"),
        (dict(defense="adv-pure", ratio=1.5), r"ratio=1\.5 .*\(0, 1\]"),
        (dict(defense="adv-mixed", ratio=-0.2), r"ratio=-0\.2 .*\(0, 1\]"),
        (dict(defense="squeeze", ratio=2.0), r"ratio=2\.0 .*\(0, 1\]"),  # validated even where unused
        (dict(defense="squeeze", bit_depth=0), r"bit_depth=0 .*integer in 1\.\.64"),
        (dict(defense="squeeze", bit_depth=65), r"bit_depth=65 .*integer in 1\.\.64"),
        (dict(defense="squeeze-mixed", bit_depth=4.5), r"bit_depth=4\.5 .*integer in 1\.\.64"),
        (dict(defense="detector", target_fpr=0.0), r"target_fpr=0\.0 .*\(0, 1\)"),
        (dict(defense="detector", target_fpr=1.0), r"target_fpr=1\.0 .*\(0, 1\)"),
        (dict(defense="detector", target_fpr=float("nan")), r"target_fpr=nan"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(ValueError, match=pattern) as info:
            make_defense_config(**kwargs)
        assert type(info.value).__name__ == "ParameterError"


def test_defense_bad_names_and_options():
    import pytest

    from artgenre.defenses import make_defense_config
    from artgenre.defenses.detector import calibrate_threshold, detector_scores
    from artgenre.defenses.squeeze import make_squeezer
    from artgenre.errors import DataError, ParameterError

    for kwargs, pattern in ((dict(defense="nope"), "valid defenses: adv-mixed"),
                            (dict(model="vgg"), "unknown model 'vgg'"),
                            (dict(init="warm"), "init='warm'.*finetune, scratch"),
                            (dict(epochs=0), "epochs=0"),
                            (dict(train_eps=0.0), r"train_eps=0\.0"),
                            (dict(eps=(0.01, 2.0)), r"eps=2\.0"),
                            (dict(attacks=("deepfool",)), "no ε budget"),
                            (dict(attacks=("fgsm", "bim")), "unknown attack 'bim'"),
                            (dict(attack_params=("fgsm.steps=2",)), "'fgsm' has no parameter 'steps'"),
                            (dict(limit=0), "limit=0"),
                            (dict(bogus=1), "unknown defense option"),
                            (dict(device="tpu"), "device='tpu'")):
        with pytest.raises(ParameterError, match=pattern):
            make_defense_config(**kwargs)
    with pytest.raises(ParameterError, match="bit_depth=True"):
        make_squeezer(bit_depth=True)
    with pytest.raises(ParameterError, match="target_fpr=1.5"):
        calibrate_threshold(scores=[0.1, 0.2], target_fpr=1.5)
    with pytest.raises(DataError, match="non-empty"):
        calibrate_threshold(scores=[], target_fpr=0.05)
    with pytest.raises(DataError, match=r"shape \(N, C, H, W\)"):
        detector_scores(classifier=None, x=[[0.1, 0.2]], squeezers=[make_squeezer()])


def test_defense_bad_run_inputs(tmp_path):
    import json

    import numpy as np
    import pytest

    from artgenre.data.dataset import Dataset, Split
    from artgenre.defenses import make_defense_config, run_defense
    from artgenre.errors import DataError, ParameterError

    with pytest.raises(ParameterError, match="DefenseConfig"):
        run_defense({"defense": "squeeze"})
    # A baseline trained on other data must not be silently reused.
    (tmp_path / "train-cnn.json").write_text(json.dumps({
        "kind": "train", "checkpoint": str(tmp_path / "c.pt"),
        "config": {"data": {"dataset": "synth", "split_scheme": "random", "seed": 7}},
    }))
    split = Split(x=np.zeros((2, 1, 32, 32), np.float32), y=np.array([0, 1]), track=np.array(["a", "b"]))
    data = Dataset(name="tiny", genres=("a", "b"), train=split, val=split, test=split)
    with pytest.raises(DataError, match="trained on data"):
        run_defense(make_defense_config(defense="squeeze", device="cpu", out=str(tmp_path)), data=data,
                    progress=False)


def test_defend_cli_reports_bad_options(tmp_path, capsys):
    from artgenre.cli import main

    code = main(["defend", "--defense", "adv-mixed", "--ratio", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "ratio=0" in err and "(0, 1]" in err
    code = main(["defend", "--defense", "squeeze", "--bit-depth", "0", "--out", str(tmp_path)])
    assert code == 1 and "bit_depth=0" in capsys.readouterr().err
    code = main(["defend", "--defense", "detector", "--target-fpr", "1", "--out", str(tmp_path)])
    assert code == 1 and "target_fpr=1" in capsys.readouterr().err
    code = main(["defend", "--defense", "shield", "--out", str(tmp_path)])
    assert code == 1 and "unknown defense 'shield'" in capsys.readouterr().err
    code = main(["defend", "--defense", "squeeze", "--eps", "0.01,x", "--out", str(tmp_path)])
    assert code == 1 and "--eps" in capsys.readouterr().err


# --- pipeline -----------------------------------------------------------------------------
def test_pipeline_rejects_unknown_setting_and_names(tmp_path):
    import pytest as _pytest

    from artgenre.errors import ParameterError as _PE
    from artgenre.pipeline import make_pipeline_config

    with _pytest.raises(_PE, match="unknown pipeline setting.*'modles'"):
        make_pipeline_config(modles=("cnn",))
    with _pytest.raises(_PE, match="unknown model 'vgg'.*cnn"):
        make_pipeline_config(models=("vgg",))
    with _pytest.raises(_PE, match="defense_models"):
        make_pipeline_config(models=("cnn",), defense_models=("resnet18",))
    bad = tmp_path / "bad.toml"
    bad.write_text("models = [")
    with _pytest.raises(_PE, match="not valid TOML"):
        make_pipeline_config(config_file=bad)
    with _pytest.raises(_PE, match="does not exist"):
        make_pipeline_config(config_file=tmp_path / "missing.toml")


def test_cli_run_bad_value_is_one_line_exit_1(tmp_path):
    from artgenre.cli import main

    assert main(["run", "--models", "vgg", "--out", str(tmp_path)]) == 1


# ---- data layer: bad waveforms and cache folders (issue 14) ----
def test_data_non_finite_waveform_is_a_data_error_not_librosas():
    import librosa
    import numpy as np
    import pytest

    from artgenre.data.features import logmel, waveform_to_segments
    from artgenre.errors import DataError

    for bad in (np.nan, np.inf, -np.inf):
        y = np.zeros(30_000, np.float32)
        y[123] = bad
        for fn in (logmel, waveform_to_segments):
            with pytest.raises(DataError, match=r"1 non-finite sample.*index 123") as err:
                fn(y)
            assert not isinstance(err.value, librosa.util.exceptions.ParameterError)


def test_data_waveform_of_wrong_kind_is_a_data_error():
    import numpy as np
    import pytest

    from artgenre.data.features import waveform_to_segments
    from artgenre.errors import DataError

    with pytest.raises(DataError, match="real-valued.*complex"):
        waveform_to_segments(np.zeros(30_000, np.complex64))
    with pytest.raises(DataError, match=r"mono waveform of shape \(n,\).*\(30000, 2\)"):
        waveform_to_segments(np.zeros((30_000, 2), np.float32))
    with pytest.raises(DataError, match="float32 range"):
        waveform_to_segments(np.full(30_000, 1e300))


def test_data_bad_feature_params_are_parameter_errors():
    import pytest

    from artgenre.data.features import FeatureParams
    from artgenre.errors import ParameterError

    for field, value in (("sr", 0), ("hop_length", 0), ("n_fft", -1), ("frames", 1.5), ("top_db", 0)):
        with pytest.raises(ParameterError, match=f"{field}={value}"):
            FeatureParams(**{field: value})


def test_data_cache_dir_that_is_a_file_names_the_path_and_the_fix(tmp_path, monkeypatch):
    import pytest

    from artgenre.data import load_dataset
    from artgenre.errors import DataError

    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    tiny = dict(name="synth", clips_per_genre=1, clip_seconds=3.5, progress=False)
    with pytest.raises(DataError, match=r"cache_dir '.*blocker' exists and is not a folder.*--cache-dir"):
        load_dataset(cache_dir=blocker, **tiny)
    # Below a file the entry folder cannot be created: said before any feature is computed.
    with pytest.raises(DataError, match=r"cannot create the feature cache folder '.*blocker/sub/.*--cache-dir"):
        load_dataset(cache_dir=blocker / "sub", **tiny)
    monkeypatch.setenv("ARTGENRE_CACHE", str(blocker))
    with pytest.raises(DataError, match=r"from \$ARTGENRE_CACHE\) '.*blocker' exists and is not a folder"):
        load_dataset(**tiny)


def test_data_unwritable_cache_dir_is_a_data_error(tmp_path):
    import os

    import pytest

    from artgenre.data import load_dataset
    from artgenre.errors import DataError

    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(DataError, match=r"cannot create the feature cache folder '.*locked/"):
            load_dataset(name="synth", clips_per_genre=1, clip_seconds=3.5, progress=False, cache_dir=locked)
    finally:
        locked.chmod(0o700)


# ---- waveform front end and test-segment audio (issue 12) ----
def test_frontend_bad_inputs_name_the_value_and_what_fits():
    import numpy as np
    import pytest
    import torch

    from artgenre.data.dataset import Split
    from artgenre.data.features import DEFAULT_FEATURES, FeatureParams
    from artgenre.data.windows import segment_windows
    from artgenre.errors import CheckpointError, DataError, ParameterError
    from artgenre.frontend import WaveformModel, build_frontend, check_compatible, reference_groups

    front = build_frontend()
    with pytest.raises(ParameterError, match=r"shape \(2, 1000\).*\(batch, 67072\)"):
        front(torch.zeros(2, 1000), 1.0)
    other = FeatureParams(n_mels=64)
    with pytest.raises(CheckpointError, match=r"'n_mels': 64.*'n_mels': 128.*differing: n_mels"):
        check_compatible(trained=other.as_dict(), frontend=DEFAULT_FEATURES)
    with pytest.raises(CheckpointError, match="differing: n_mels"):
        check_compatible(trained=None, frontend=other)
    with pytest.raises(ParameterError, match="bogus.*expected the keys of FeatureParams"):
        build_frontend(params={"bogus": 1})
    wave = WaveformModel(model=torch.nn.Flatten(), frontend=front)
    with pytest.raises(ParameterError, match="set_reference"):
        wave(torch.zeros(1, front.length))
    for bad in (-1.0, float("nan"), float("inf"), "loud"):
        with pytest.raises(ParameterError, match="reference=.*finite power >= 0"):
            wave.set_reference(bad)
    with pytest.raises(ParameterError, match=r"shape \(2, 2\).*shape \(N,\)"):
        reference_groups(ref=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"mono waveform.*\(10, 2\)"):
        segment_windows(y=np.zeros((10, 2), np.float32))
    with pytest.raises(DataError, match="non-finite"):
        segment_windows(y=np.full(70_000, np.nan, np.float32))
    x, y, track = np.zeros((2, 1, 8, 8), np.float32), np.array([0, 1]), np.array(["a", "b"])
    with pytest.raises(DataError, match="together"):
        Split(x=x, y=y, track=track, audio=np.zeros((2, 5), np.float32))
    with pytest.raises(DataError, match=r"\(3, 5\).*2 segments"):
        Split(x=x, y=y, track=track, audio=np.zeros((3, 5), np.float32), audio_ref=np.ones(3, np.float32))


def test_data_damaged_test_audio_is_reported_and_rebuilt(tmp_path, caplog):
    import logging

    import numpy as np

    from artgenre.data import load_dataset

    tiny = dict(name="synth", clips_per_genre=2, clip_seconds=3.5, progress=False, workers=1, cache_dir=tmp_path)
    first = load_dataset(**tiny)
    audio = np.array(first.test.audio)
    path = first.cache_dir / "test_audio.npy"
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size - 4000)
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        again = load_dataset(**tiny)
    assert not again.from_cache and path.stat().st_size == size
    assert any("damaged" in r.getMessage() and "test_audio.npy" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(again.test.audio, audio)


def test_adapter_class_gradient_rejects_out_of_range_labels():
    import numpy as np
    import pytest
    import torch

    from artgenre.art_adapter import as_art_classifier
    from artgenre.models import build_model

    torch.manual_seed(0)
    clf = as_art_classifier(build_model(name="cnn", input_size=32), device="cpu", input_shape=(1, 32, 32))
    x = np.random.default_rng(0).random((2, 1, 32, 32), dtype=np.float32)
    for bad in (10, -1, np.array([0, 10]), np.array([0, 1, 2])):
        with pytest.raises(ValueError, match=r"label=.*expected None, an int in \[0, 10\)"):
            clf.class_gradient(x, label=bad)


# ---- paths, configs and conflicting results (issues 14.2, 16.1, 16.3, 16.4) ----
import pytest  # noqa: E402 - the tests above import it locally

from artgenre.errors import ParameterError  # noqa: E402


def _cli(argv, capsys):
    from artgenre.cli import main

    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Usage:" not in err
    return code, err


def test_out_that_is_an_existing_file_exits_1_and_writes_nothing(tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("x")
    code, err = _cli(["train", "--out", str(target), "--epochs", "1"], capsys)
    assert code == 1 and f"--out '{target}' is an existing file" in err and "choose a folder path" in err
    assert target.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_out_below_a_file_cannot_be_created_exits_1(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"x")
    code, err = _cli(["attack", "--checkpoint", str(ckpt), "--out", str(tmp_path / "f" / "sub")], capsys)
    assert code == 1 and "cannot be created" in err and "is a file" in err


def test_cache_dir_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "cache").write_text("x")
    code, err = _cli(["train", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and "--cache-dir" in err and "is an existing file" in err
    assert not (tmp_path / "out").exists()


def test_attack_missing_checkpoint_is_refused_before_any_work(tmp_path, capsys):
    code, err = _cli(["attack", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and "--checkpoint" in err and "does not exist" in err and "artgenre train" in err
    assert not (tmp_path / "o").exists()


def test_train_config_built_directly_is_validated():
    from artgenre.training import TrainConfig

    with pytest.raises(ParameterError, match=r"epochs=-2 is not valid; expected an integer >= 1"):
        TrainConfig(epochs=-2)


def test_train_config_bad_lr_factor_built_directly():
    from artgenre.training import TrainConfig

    with pytest.raises(ParameterError, match=r"lr_factor=1\.5 is out of range; expected a number in \(0, 1\)"):
        TrainConfig(lr_factor=1.5)


def test_pipeline_config_rejects_negative_epochs_before_any_work(tmp_path):
    from artgenre.pipeline import make_pipeline_config

    # Refused where the config is built, so nothing downstream ever sees it.
    with pytest.raises(ParameterError, match=r"epochs=-2 is not valid"):
        make_pipeline_config(epochs=-2, out=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_validate_pipeline_rejects_an_out_that_is_a_file(tmp_path):
    from artgenre.pipeline import make_pipeline_config
    from artgenre.validate import validate_pipeline

    (tmp_path / "o").write_text("x")
    with pytest.raises(ParameterError, match=r"--out .* is an existing file"):
        validate_pipeline(make_pipeline_config(out=str(tmp_path / "o")))


def test_usage_error_unknown_option_is_one_line_exit_1(capsys):
    code, err = _cli(["attack", "--bogus"], capsys)
    assert code == 1 and err.startswith("error: No such option: --bogus") and "artgenre attack --help" in err
    assert len(err.strip().splitlines()) == 1


def test_usage_error_missing_value_is_one_line_exit_1(capsys):
    code, err = _cli(["train", "--epochs"], capsys)
    assert code == 1 and err.startswith("error: Option '--epochs' requires an argument")


def test_usage_error_bad_integer_is_one_line_exit_1(capsys):
    code, err = _cli(["train", "--epochs", "x"], capsys)
    assert code == 1 and err.startswith("error: Invalid value for '--epochs'")


def test_usage_error_missing_required_option_is_one_line_exit_1(capsys):
    code, err = _cli(["attack"], capsys)
    assert code == 1 and err.startswith("error: Missing option '--checkpoint'")


def _fake_train_result(out, **config):
    from artgenre.io import atomic_write_json
    from artgenre.training import make_train_config

    saved = make_train_config(profile="quick", out=str(out), **config)
    atomic_write_json(out / "train-cnn.json", {"kind": "train", "config": saved, "checkpoint": "x.pt"})
    return (out / "train-cnn.json").read_text()


def test_train_result_of_another_config_is_never_overwritten(tmp_path, capsys):
    before = _fake_train_result(tmp_path, epochs=2)
    code, err = _cli(["train", "--epochs", "3", "--out", str(tmp_path)], capsys)
    assert code == 1 and "train-cnn.json" in err and "epochs: file 2, this run 3" in err
    assert "another --out" in err and "remove that file" in err
    assert (tmp_path / "train-cnn.json").read_text() == before


def test_train_result_with_other_data_options_is_never_overwritten(tmp_path):
    from artgenre.data import DataConfig
    from artgenre.training import make_train_config
    from artgenre.validate import validate_training

    _fake_train_result(tmp_path, data=DataConfig(options={"clips_per_genre": 4}))
    config = make_train_config(profile="quick", out=str(tmp_path), data=DataConfig(options={"clips_per_genre": 8}))
    with pytest.raises(ParameterError, match=r"train-cnn\.json.*data\.options"):
        validate_training(config)


def test_attack_result_of_another_toolkit_key_names_the_fields(tmp_path):
    from artgenre.io import ResultConflictError, atomic_write_json, read_previous_result

    path = tmp_path / "attack-cnn.json"
    atomic_write_json(path, {"kind": "attack", "resume_key": {"checkpoint_sha256": "ab", "seed": 0}})
    with pytest.raises(ResultConflictError, match=r"attack-cnn\.json' holds an attack result.*checkpoint_digest: "
                                                  r"file absent, this run 'cd'; checkpoint_sha256: file 'ab', this "
                                                  r"run absent\).*remove that file"):
        read_previous_result(path, kind="attack", resume_key={"checkpoint_digest": "cd", "seed": 0})


def test_attack_params_of_another_attack_merge_but_a_changed_one_conflicts(tmp_path):
    from artgenre.io import ResultConflictError, atomic_write_json, read_previous_result

    path = tmp_path / "attack-cnn.json"
    atomic_write_json(path, {"kind": "attack", "resume_key": {"seed": 0, "params": {"pgd": {"steps": 3}}}})
    assert read_previous_result(path, kind="attack", resume_key={"seed": 0, "params": {"fgsm": {}}},
                                per_item=("params",)) is not None
    with pytest.raises(ResultConflictError, match=r"params\.pgd\.steps: file 3, this run 50"):
        read_previous_result(path, kind="attack", resume_key={"seed": 0, "params": {"pgd": {"steps": 50}}},
                             per_item=("params",))


# ---- waveform threat model: bad budgets and incompatible checkpoints ----
def test_snr_budget_for_the_spectrogram_threat_model_is_refused():
    from artgenre.attacks.run import AttackConfig
    from artgenre.errors import ParameterError

    with pytest.raises(ParameterError, match=r"snr_db=\[40\.0\].*'spectrogram'.*accepts linf.*--threat waveform"):
        AttackConfig(checkpoint="m.pt", snr_db="40")


@pytest.mark.parametrize(("eps", "snr", "match"), [
    ("-0.1", None, r"-0\.1.*\[0, 1\]"), ("1.5", None, r"1\.5.*\[0, 1\]"), ("nan", None, r"nan"),
    ("0", "nan", r"snr_db='nan'.*finite SNR in dB >= 0"), ("0", "-3", r"snr_db='-3'.*>= 0"),
])
def test_bad_waveform_budgets_are_refused(eps, snr, match):
    from artgenre.attacks.run import AttackConfig
    from artgenre.errors import ParameterError

    with pytest.raises(ParameterError, match=match):
        AttackConfig(checkpoint="m.pt", threat="waveform", eps=eps, snr_db=snr or ())


def test_unknown_threat_model_lists_the_valid_ones():
    from artgenre.attacks.run import AttackConfig
    from artgenre.errors import ParameterError

    with pytest.raises(ParameterError, match=r"'audio'.*spectrogram.*waveform"):
        AttackConfig(checkpoint="m.pt", threat="audio")


def test_waveform_classifier_refuses_a_checkpoint_of_other_features():
    from torch import nn

    from artgenre.errors import CheckpointError
    from artgenre.threats import threat_model

    other = {"sr": 22050, "n_fft": 1024, "hop_length": 512, "n_mels": 128, "frames": 128, "top_db": 80.0}
    with pytest.raises(CheckpointError, match=r"trained on features .*'n_fft': 1024.*front end computes .*'n_fft': 2048"
                                              r".*differing: n_fft"):
        threat_model("waveform").classifier(nn.Linear(2, 2), device="cpu", model_input_shape=(1, 128, 128),
                                            nb_classes=10, features=other)


def test_waveform_threat_on_a_split_without_audio_is_a_data_error():
    import numpy as np

    from artgenre.data.dataset import Split
    from artgenre.errors import DataError
    from artgenre.threats import threat_model

    split = Split(x=np.zeros((2, 1, 4, 4), np.float32), y=np.zeros(2, np.int64), track=np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"no audio windows.*--partition test"):
        threat_model("waveform").arrays(split)


def test_attack_without_a_norm_cannot_take_an_snr_budget():
    from artgenre.errors import ParameterError
    from artgenre.threats import threat_model

    with pytest.raises(ParameterError, match=r"'art:BasicIterativeMethod' has no norm parameter.*l2rel"):
        threat_model("waveform").attack_params(attack="art:BasicIterativeMethod", norm="l2rel", params={})


def test_defense_threat_must_be_a_threat_model_and_every_defense_runs_under_each():
    from artgenre.defenses import DEFENSES, make_defense_config
    from artgenre.errors import ArtGenreError
    from artgenre.threats import THREAT_MODELS

    with pytest.raises(ArtGenreError, match=r"'audio'.*spectrogram.*waveform"):
        make_defense_config(model="cnn", defense="detector", threat="audio")
    for threat in THREAT_MODELS:
        for defense in DEFENSES:
            make_defense_config(model="cnn", defense=defense, threat=threat)


def test_detector_pgd_rejects_an_unknown_norm():
    from artgenre.art_adapter import as_art_classifier
    from artgenre.attacks import make_attack
    from artgenre.errors import ParameterError
    from artgenre.models import build_model

    clf = as_art_classifier(build_model(name="cnn", input_size=32), input_shape=(1, 32, 32))
    with pytest.raises(ParameterError, match=r"norm='1'.*'inf' or 2"):
        make_attack("detector-pgd", clf, eps=0.01, batch_size=4, params={"norm": "1"})


def test_a_per_sample_budget_on_arts_numpy_pgd_path_is_refused_naming_the_preprocessing():
    import numpy as np
    from art.defences.preprocessor import FeatureSqueezing

    from artgenre.art_adapter import as_art_classifier
    from artgenre.attacks import ATTACKS
    from artgenre.errors import ParameterError
    from artgenre.models import build_model

    clf = as_art_classifier(build_model(name="cnn", input_size=32), input_shape=(1, 32, 32),
                            preprocessing_defences=FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=5))
    with pytest.raises(ParameterError, match=r"per-sample budget.*\(FeatureSqueezing\)"):
        ATTACKS["pgd"].factory(clf, eps=0.01, batch_size=4, scale=np.ones(3))


def test_pipeline_waveform_models_must_be_trained_in_the_run():
    from artgenre.errors import ParameterError
    from artgenre.pipeline import make_pipeline_config

    with pytest.raises(ParameterError, match=r"waveform_models=\['resnet18'\].*models=\['cnn'\]"):
        make_pipeline_config(models=("cnn",), waveform_attacks=("pgd",), waveform_models=("resnet18",))
    with pytest.raises(ParameterError, match=r"snr_db=.*finite SNR"):
        make_pipeline_config(models=("cnn",), waveform_attacks=("pgd",), waveform_snr_db=("x",))
    # The default waveform model is the CNN: without it the message says how to choose or skip.
    with pytest.raises(ParameterError, match=r"waveform_models=\['cnn'\].*--waveform-models.*--waveform-attacks"):
        make_pipeline_config(models=("resnet18",), defenses=())
    assert make_pipeline_config(models=("resnet18",), defenses=(), waveform_models=("resnet18",)).waveform_models \
        == ("resnet18",)


# ---- stronger attacks, robust accuracy, strength check: bad inputs ----
def test_strong_attacks_reject_bad_settings():
    from torch import nn

    from artgenre.art_adapter import as_art_classifier
    from artgenre.attacks import ATTACKS
    from artgenre.errors import ParameterError

    two = as_art_classifier(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)), device="cpu", input_shape=(1, 4, 4),
                            nb_classes=2)
    with pytest.raises(ParameterError, match=r"apgd-dlr needs at least 3 classes; the classifier has 2"):
        ATTACKS["apgd-dlr"](two, eps=0.1, batch_size=4)
    with pytest.raises(ParameterError, match=r"norm.*'1'.*inf"):
        ATTACKS["apgd-ce"](two, eps=0.1, batch_size=4, norm=1)
    with pytest.raises(ParameterError, match=r"max_iter"):
        ATTACKS["square"](two, eps=0.1, batch_size=4, max_iter=0)
    with pytest.raises(ParameterError, match=r"targeted='yes' is not valid; expected true or false"):
        ATTACKS["autoattack"](two, eps=0.1, batch_size=4, targeted="yes")


def test_strength_check_switch_and_robust_inputs_are_validated():
    from artgenre.attacks.robust import robust_entries
    from artgenre.attacks.run import AttackConfig
    from artgenre.defenses import make_defense_config
    from artgenre.errors import DataError, ParameterError

    with pytest.raises(ParameterError, match=r"strength_check='no' is not valid; expected true or false"):
        AttackConfig(checkpoint="m.pt", strength_check="no")
    with pytest.raises(ParameterError, match=r"strength_check=1 is not valid"):
        make_defense_config(model="cnn", defense="squeeze", strength_check=1)
    with pytest.raises(DataError, match=r"clean_correct has 3 samples but track has 2"):
        robust_entries(cells=[], clean_correct=[1, 0, 1], track=["a", "b"])


@pytest.mark.parametrize("share", [("pgd",), [("pgd", "x")], 5])
def test_attack_config_share_must_be_attack_eps_pairs(share):
    from artgenre.attacks.run import AttackConfig
    from artgenre.errors import ArtGenreError

    with pytest.raises(ArtGenreError, match="share="):
        AttackConfig(checkpoint="m.pt", share=share)
