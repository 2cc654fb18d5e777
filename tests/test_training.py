"""Training: configs, the shared `fit` loop, early stopping, determinism, results and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from artgenre.art_adapter import as_art_classifier
from artgenre.checkpoint import load_checkpoint
from artgenre.data.dataset import Dataset, Split
from artgenre.errors import ParameterError
from artgenre.evaluation import predict_logits
from artgenre.io import to_jsonable
from artgenre.models import build_model
from artgenre.runtime import seed_everything
from artgenre.training import PROFILES, TrainConfig, fit, make_train_config, run_training

SIDE = 32
N_CLASSES = 10


def _split(per_class: int, seed: int, segs_per_track: int = 2) -> Split:
    """Class c = a bright horizontal band at rows 3c..3c+2 on uniform noise: learnable, not trivial."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(N_CLASSES), per_class)
    x = rng.uniform(0.0, 0.5, size=(len(y), 1, SIDE, SIDE)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 3 * c : 3 * c + 3, :] += 0.5
    x = np.clip(x, 0, 1)
    track = np.array([f"s{seed}.c{c}.t{i // segs_per_track}" for i, c in enumerate(y)])
    return Split(x=x, y=y.astype(np.int64), track=track)


def stripes(per_class: int = 6) -> Dataset:
    return Dataset(
        name="stripes",
        genres=tuple(f"g{i}" for i in range(N_CLASSES)),
        train=_split(per_class, 1),
        val=_split(3, 2),
        test=_split(2, 3),
    )


def _config(tmp_path, **kw):
    base = dict(model="cnn", epochs=3, batch_size=16, device="cpu", out=str(tmp_path), eval_batch_size=64)
    return make_train_config(profile="quick", **{**base, **kw})


def _classifier(config, seed=0):
    seed_everything(seed)
    model = build_model(name=config.model, input_size=SIDE)
    return as_art_classifier(model, device="cpu", learning_rate=config.lr, weight_decay=config.weight_decay,
                             input_shape=(1, SIDE, SIDE), nb_classes=N_CLASSES)


def test_profiles_and_overrides():
    paper = make_train_config(profile="paper")
    assert (paper.epochs, paper.patience, paper.batch_size, paper.lr_patience) == (100, 20, 64, 5)
    assert (paper.lr, paper.weight_decay, paper.lr_factor) == (1e-3, 1e-4, 0.5)
    quick = make_train_config(profile="quick", epochs=7, lr=None)
    assert quick.epochs == 7 and quick.lr == PROFILES["quick"]["lr"]
    assert make_train_config(model="resnet18", weights_path="w.pth").pretrained is True
    cfg = make_train_config(profile="paper", model="resnet18", seed=3)
    assert TrainConfig.from_dict(json.loads(json.dumps(to_jsonable(cfg)))) == cfg


@pytest.mark.parametrize(
    "kwargs, match",
    [({"epochs": 0}, "epochs"), ({"lr": 0.0}, "lr"), ({"lr": -1}, "lr"), ({"batch_size": 0}, "batch_size"),
     ({"lr_factor": 1.0}, "lr_factor"), ({"patience": 0}, "patience"), ({"model": "vgg"}, "vgg"),
     ({"device": "gpu"}, "device"), ({"seed": -1}, "seed"), ({"epochs": 2.5}, "epochs"),
     ({"pretrained": True}, "resnet18"), ({"bogus": 1}, "bogus")],
)
def test_bad_config_values(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        make_train_config(**kwargs)


def test_unknown_profile():
    with pytest.raises(ParameterError, match="quick"):
        make_train_config(profile="fast")


def test_fit_learns_the_stripes(tmp_path):
    data = stripes()
    config = _config(tmp_path, epochs=5, batch_size=8)
    clf = _classifier(config)
    before = predict_logits(clf, data.val.x)
    loss0 = torch.nn.functional.cross_entropy(torch.from_numpy(before), torch.from_numpy(data.val.y)).item()
    result = fit(classifier=clf, data=data, config=config, progress=False)
    hist = result.history
    assert result.epochs_run == len(hist) >= 2
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert min(h["val_loss"] for h in hist) < loss0
    best = hist[result.best_epoch - 1]
    assert best["val_loss"] == min(h["val_loss"] for h in hist)
    assert best["val_acc"] > 0.3  # chance is 0.1
    for h in hist:
        assert set(h) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "score", "seconds"}
        assert h["score"] == pytest.approx(-h["val_loss"])
    assert result.train_seconds > 0 and result.ms_per_sample > 0


def test_early_stopping_restores_best_weights(tmp_path):
    data = stripes(per_class=2)
    config = _config(tmp_path, epochs=8, patience=2)
    clf = _classifier(config)
    # The score peaks at epoch 2 and falls after it, so training must stop at epoch 4 and put
    # back the weights seen right after epoch 2.
    scores = iter([1.0, 2.0, 1.5, 1.2, 9.0, 9.0, 9.0, 9.0])
    snapshots = []

    def score_fn(classifier):
        snapshots.append({k: v.clone() for k, v in classifier.model.state_dict().items()})
        return next(scores)

    result = fit(classifier=clf, data=data, config=config, score_fn=score_fn, progress=False)
    assert result.epochs_run == 4 and result.best_epoch == 2 and result.stopped_early
    assert [h["score"] for h in result.history] == [1.0, 2.0, 1.5, 1.2]
    final = clf.model.state_dict()
    assert all(torch.equal(final[k], snapshots[1][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[3][k]) for k in final)


def test_custom_epoch_fn_and_lr_schedule(tmp_path):
    data = stripes(per_class=1)
    config = _config(tmp_path, epochs=4, patience=10, lr_patience=0, lr_factor=0.5)
    clf = _classifier(config)
    calls = []

    def frozen_epoch(classifier, x, y, batch_size):
        # No weight updates: validation loss never improves, so the LR halves every epoch.
        calls.append((x.shape, y.shape, batch_size))

    result = fit(classifier=clf, data=data, config=config, epoch_fn=frozen_epoch, progress=False)
    assert calls == [((10, 1, SIDE, SIDE), (10,), 16)] * 4
    assert [h["lr"] for h in result.history] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    assert np.isnan(result.history[0]["train_loss"])  # epoch_fn bypassed the classifier's loss


def _strip_volatile(result):
    result = json.loads(json.dumps(result))
    for key in ("meta", "train_seconds", "ms_per_sample", "checkpoint"):
        result.pop(key)
    result["config"].pop("out")
    for row in result["history"]:
        row.pop("seconds")
    return result


def test_same_seed_same_weights_and_result(tmp_path):
    data = stripes(per_class=2)
    results, states = [], []
    for run in ("a", "b"):
        config = _config(tmp_path / run, epochs=2, seed=5)
        results.append(run_training(config, data=data, progress=False))
        states.append(load_checkpoint(results[-1]["checkpoint"], device="cpu").model.state_dict())
    assert _strip_volatile(results[0]) == _strip_volatile(results[1])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    other = run_training(_config(tmp_path / "c", epochs=2, seed=6), data=data, progress=False)
    other_state = load_checkpoint(other["checkpoint"], device="cpu").model.state_dict()
    assert not all(torch.equal(states[0][k], other_state[k]) for k in states[0])


def test_run_training_writes_result_and_resumes(tmp_path, monkeypatch):
    data = stripes(per_class=2)
    config = _config(tmp_path, epochs=2)
    result = run_training(config, data=data, progress=False)
    path = tmp_path / "train-cnn.json"
    saved = json.loads(path.read_text())
    assert saved == result
    for key in ("kind", "config", "meta", "model", "dataset", "defense", "metrics", "epochs_run", "best_epoch",
                "train_seconds", "ms_per_sample", "n_params", "history", "checkpoint"):
        assert key in saved
    assert saved["kind"] == "train" and saved["defense"] is None and saved["dataset"] == "stripes"
    assert saved["schema_version"] == 2
    assert saved["metrics"]["test"]["segment_accuracy"]["n"] == len(data.test)
    assert saved["metrics"]["test"]["n_tracks"] == len(np.unique(data.test.track))
    assert saved["n_params"] == sum(p.numel() for p in build_model(name="cnn", input_size=SIDE).parameters())

    ck = load_checkpoint(saved["checkpoint"], device="cpu", expected_model="cnn")
    assert ck.config == saved["config"] and ck.metrics == saved["metrics"]

    # Same config: loaded, not retrained.
    import artgenre.training as training

    def boom(**_):
        raise AssertionError("retrained although the result was finished")

    monkeypatch.setattr(training, "fit", boom)
    assert run_training(config, data=data, progress=False) == saved
    # Different config: refused (the file names the differing field), nothing overwritten.
    from artgenre.io import ResultConflictError

    with pytest.raises(ResultConflictError, match=r"train-cnn\.json.*epochs: file 2, this run 3.*another --out"):
        run_training(_config(tmp_path, epochs=3), data=data, progress=False)
    assert json.loads(path.read_text()) == saved
    # Another device is the same model, not a conflict.
    assert run_training(_config(tmp_path, epochs=2, eval_batch_size=32), data=data, progress=False) == saved


def test_run_training_loads_data_from_config(tmp_path, monkeypatch):
    import artgenre.data

    seen = {}

    def fake_load_dataset(**kwargs):
        seen.update(kwargs)
        return stripes(per_class=1)

    monkeypatch.setattr(artgenre.data, "load_dataset", fake_load_dataset)
    config = _config(tmp_path, epochs=1)
    result = run_training(config, progress=False)
    assert seen == config.data.loader_kwargs()
    assert result["config"]["data"] == json.loads(json.dumps(to_jsonable(config.data)))


def test_cli_train_smoke(tmp_path, monkeypatch):
    import artgenre.cli  # noqa: F401 - attaches the commands
    import artgenre.data
    from typer.testing import CliRunner

    from artgenre.cli.app import app

    seen = {}

    def fake_load_dataset(**kwargs):
        seen.update(kwargs)
        return stripes(per_class=1)

    monkeypatch.setattr(artgenre.data, "load_dataset", fake_load_dataset)
    out = tmp_path / "res"
    args = ["train", "--model", "cnn", "--dataset", "synth", "--epochs", "1", "--batch-size", "8",
            "--device", "cpu", "--seed", "3", "--data-option", "clips_per_genre=4", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert seen["name"] == "synth" and seen["clips_per_genre"] == 4
    saved = json.loads((out / "train-cnn.json").read_text())
    assert saved["config"]["epochs"] == 1 and saved["config"]["seed"] == 3
    assert (out / "checkpoints" / "cnn.pt").is_file()
    assert "cnn" in res.output and "Wilson" in res.output and "%" in res.output

    bad = CliRunner().invoke(app, ["train", "--model", "vgg", "--out", str(out)])
    assert bad.exit_code != 0 and "resnet18" in str(bad.exception)


def test_fit_drives_art_adversarial_trainer_one_epoch_at_a_time(tmp_path):
    from art.attacks.evasion import FastGradientMethod
    from art.defences.trainer import AdversarialTrainer

    from artgenre.art_adapter import train_stats

    data = stripes(per_class=2)
    config = _config(tmp_path, epochs=2, batch_size=8)
    clf = _classifier(config)
    trainer = AdversarialTrainer(clf, attacks=FastGradientMethod(clf, eps=0.01), ratio=0.5)
    result = fit(classifier=clf, data=data, config=config, progress=False,
                 epoch_fn=lambda c, x, y, bs: trainer.fit(x, y, nb_epochs=1, batch_size=bs))
    assert result.epochs_run == 2
    assert all(np.isfinite(h["train_loss"]) and 0 <= h["train_acc"] <= 1 for h in result.history)
    # Crafting runs in eval mode, so only the trainer's fit batches were counted: one per sample.
    assert train_stats(clf)["n"] == len(data.train)
