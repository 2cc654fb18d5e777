

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
