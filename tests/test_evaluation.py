"""Segment/track accuracy, Wilson intervals, confusion matrix, batched prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artgenre.errors import DataError
from artgenre.evaluation import cross_entropy, evaluate, predict_logits
from artgenre.stats import wilson_interval


def _onehot_logits(pred, n_classes):
    logits = np.zeros((len(pred), n_classes))
    logits[np.arange(len(pred)), pred] = 5.0
    return logits


def test_segment_and_track_accuracy_by_hand():
    # Track a (label 0): predictions 0, 0, 1 -> vote 0 (right).
    # Track b (label 1): predictions 0, 2, 2 -> vote 2 (wrong).
    # Track c (label 2): predictions 2, 1 -> tie between 1 and 2 -> lowest index 1 (wrong).
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    track = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])
    pred = np.array([0, 0, 1, 0, 2, 2, 2, 1])
    res = evaluate(logits=_onehot_logits(pred, 3), y=y, track=track, n_classes=3)
    seg = res["segment_accuracy"]
    assert (seg["k"], seg["n"]) == (3, 8) and seg["value"] == pytest.approx(3 / 8)
    assert (seg["ci_low"], seg["ci_high"]) == pytest.approx(wilson_interval(3, 8))
    assert (res["track_accuracy_vote"]["k"], res["track_accuracy_vote"]["n"]) == (1, 3)
    assert res["n_segments"] == 8 and res["n_tracks"] == 3
    conf = np.array(res["confusion"])
    assert conf.shape == (3, 3) and conf.sum() == 8 and np.trace(conf) == 3
    assert conf[1, 2] == 2  # two label-1 segments predicted as 2


def test_mean_logit_vote_can_differ_from_majority_vote():
    # Two weak votes for class 1 against one very confident vote for class 0.
    logits = np.array([[0.0, 1.0], [0.0, 1.0], [10.0, 0.0]])
    res = evaluate(logits=logits, y=np.array([0, 0, 0]), track=np.array(["t"] * 3), n_classes=2)
    assert res["track_accuracy_vote"]["k"] == 0
    assert res["track_accuracy_mean"]["k"] == 1


def test_cross_entropy_matches_torch():
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(7, 4)) * 3, rng.integers(0, 4, 7)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(y)).item()
    assert cross_entropy(logits, y) == pytest.approx(expected, rel=1e-9)
    res = evaluate(logits=logits, y=y, track=np.arange(7).astype(str), n_classes=4)
    assert res["loss"] == pytest.approx(expected, rel=1e-9)


def test_track_with_two_labels_is_a_data_error():
    with pytest.raises(DataError, match="different labels"):
        evaluate(logits=np.zeros((2, 3)), y=np.array([0, 1]), track=np.array(["t", "t"]), n_classes=3)


def test_shape_mismatches_are_data_errors():
    with pytest.raises(DataError, match="expected"):
        evaluate(logits=np.zeros((2, 4)), y=np.array([0, 1]), track=np.array(["a", "b"]), n_classes=3)
    with pytest.raises(DataError, match="same length"):
        evaluate(logits=np.zeros((3, 3)), y=np.array([0, 1]), track=np.array(["a", "b"]), n_classes=3)
    with pytest.raises(DataError, match="labels"):
        evaluate(logits=np.zeros((2, 3)), y=np.array([0, 3]), track=np.array(["a", "b"]), n_classes=3)


def test_predict_logits_chunks_read_only_input():
    from artgenre.art_adapter import as_art_classifier

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    clf = as_art_classifier(model, device="cpu", input_shape=(1, 4, 4), nb_classes=3)
    x = np.random.default_rng(0).random((37, 1, 4, 4), dtype=np.float32)
    x.setflags(write=False)
    out = predict_logits(clf, x, batch_size=2)  # 37 samples -> chunks of 32 and 5
    expected = model(torch.from_numpy(np.array(x))).detach().numpy()
    assert out.shape == (37, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
