"""Checkpoints: exact round trip, no code execution on load, clear architecture mismatches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artgenre.checkpoint import load_checkpoint, save_checkpoint
from artgenre.errors import CheckpointError
from artgenre.models import build_model

KW = {"num_classes": 10, "input_size": 32}


def _trained_cnn():
    torch.manual_seed(0)
    model = build_model(name="cnn", **KW)
    # Move BatchNorm statistics away from their defaults so the round trip has to carry them.
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 1, 32, 32))
    return model.eval()


def test_round_trip_gives_identical_predictions(tmp_path):
    model = _trained_cnn()
    config = {"model": "cnn", "data": {"dataset": "synth", "seed": 0}, "lr": 1e-3, "tags": ("a", "b")}
    metrics = {"test": {"segment_accuracy": {"value": 0.5}}, "nan": float("nan")}
    path = save_checkpoint(tmp_path / "ck" / "cnn.pt", model=model, model_name="cnn", config=config,
                           metrics=metrics, build_kwargs=KW)
    ck = load_checkpoint(path, device="cpu", expected_model="cnn")
    assert not ck.model.training
    x = torch.rand(5, 1, 32, 32)
    assert torch.equal(model(x), ck.model(x))
    assert ck.model_name == "cnn" and ck.build_kwargs == KW
    assert ck.config["data"] == {"dataset": "synth", "seed": 0} and ck.config["tags"] == ["a", "b"]
    assert ck.metrics["nan"] is None and ck.metrics["test"]["segment_accuracy"]["value"] == 0.5
    assert not list(tmp_path.glob("ck/.*.tmp"))  # atomic write left no temp file


class _Payload:
    """Unpickling this would create the marker file: the load must never get that far."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "artgenre-checkpoint/1", "model_name": "cnn", "x": _Payload(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(evil, device="cpu")
    assert not marker.exists()


def test_expected_model_mismatch_names_both(tmp_path):
    path = save_checkpoint(tmp_path / "cnn.pt", model=_trained_cnn(), model_name="cnn", config={}, metrics={},
                           build_kwargs=KW)
    with pytest.raises(CheckpointError, match="'cnn'.*'resnet18'"):
        load_checkpoint(path, device="cpu", expected_model="resnet18")


def test_weights_of_another_architecture_fail_clearly(tmp_path):
    # CNN weights saved under the resnet18 name: the state dict cannot fit.
    path = save_checkpoint(tmp_path / "wrong.pt", model=_trained_cnn(), model_name="resnet18", config={},
                           metrics={}, build_kwargs=KW)
    with pytest.raises(CheckpointError, match="does not fit model 'resnet18'"):
        load_checkpoint(path, device="cpu")
    # Same architecture, different input size: the first linear layer no longer fits.
    path = save_checkpoint(tmp_path / "size.pt", model=_trained_cnn(), model_name="cnn", config={},
                           metrics={}, build_kwargs={"num_classes": 10, "input_size": 64})
    with pytest.raises(CheckpointError, match="different architecture"):
        load_checkpoint(path, device="cpu")


def test_missing_and_corrupt_files_name_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt", device="cpu")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"this is not a zip file" * 10)
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        load_checkpoint(bad, device="cpu")
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(3)}, plain)
    with pytest.raises(CheckpointError, match="not an artgenre checkpoint"):
        load_checkpoint(plain, device="cpu")


def test_truncated_checkpoint_is_rejected(tmp_path):
    path = save_checkpoint(tmp_path / "cnn.pt", model=_trained_cnn(), model_name="cnn", config={}, metrics={},
                           build_kwargs=KW)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cnn.pt"):
        load_checkpoint(path, device="cpu")


def test_resnet_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_model(name="resnet18", **KW).eval()
    path = save_checkpoint(tmp_path / "r.pt", model=model, model_name="resnet18", config={}, metrics={},
                           build_kwargs=KW)
    ck = load_checkpoint(path, device="cpu")
    x = torch.rand(2, 1, 32, 32)
    np.testing.assert_array_equal(model(x).detach().numpy(), ck.model(x).detach().numpy())
