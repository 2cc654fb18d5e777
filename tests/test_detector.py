"""Feature squeezing (ART's squeezer, BPDA gradients) and the squeezing detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from artgenre.art_adapter import as_art_classifier
from artgenre.defenses.detector import (
    SqueezeEnsemble,
    calibrate_threshold,
    detection_metrics,
    detector_scores,
    thin_roc,
)
from artgenre.defenses.squeeze import detector_squeezers, make_median_filter, make_squeezer

SIDE = 32


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread; with two on a busy shared machine, OpenMP
    spin-waiting makes a 0.4 ms backward pass take ~100 ms."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
K = 3


def _data(n: int, seed: int, amp: float = 0.1):
    """Class c = a slightly brighter band at rows 8c..8c+5 on uniform noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), n)
    x = rng.uniform(0.0, 0.6, size=(len(y), 1, SIDE, SIDE)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 8 * c : 8 * c + 6, :] += amp
    return np.clip(x, 0, 1), y.astype(np.int64)


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Linear(8 * 8 * 8, K))


def _wrap(model, **kw):
    return as_art_classifier(model, device="cpu", input_shape=(1, SIDE, SIDE), nb_classes=K, **kw)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    np.random.seed(0)
    x, y = _data(20, 1)
    clf = _wrap(_net())
    clf.fit(x, y, batch_size=16, nb_epochs=10, verbose=False)
    return clf


# ---------------------------------------------------------------------------- squeezer


def test_squeezer_maps_to_2_pow_bits_levels_and_keeps_dtype():
    x = np.linspace(0, 1, 10_000, dtype=np.float32).reshape(1, 1, 100, 100)
    out, _ = make_squeezer(bit_depth=5)(x)
    levels = np.unique(out)
    assert out.dtype == np.float32  # ART alone returns float64, which a float32 model rejects
    assert levels.size == 32
    np.testing.assert_allclose(levels, np.arange(32) / 31, atol=1e-6)
    assert np.abs(out - x).max() <= 0.5 / 31 + 1e-6  # rounding to the nearest level
    assert set(np.unique(make_squeezer(bit_depth=1)(x)[0])) == {0.0, 1.0}


def test_squeezer_gradient_is_the_identity_bpda(trained):
    """ART back-propagates through FeatureSqueezing as the identity: the squeezed classifier's
    gradient at x is the raw model's gradient at squeeze(x)."""
    squeezer = make_squeezer(bit_depth=5)
    squeezed = _wrap(trained.model, preprocessing_defences=[squeezer])
    x, y = _data(2, 5)
    g_squeezed = squeezed.loss_gradient(x, np.eye(K)[y])
    g_raw_at_squeezed = trained.loss_gradient(squeezer(x)[0], np.eye(K)[y])
    np.testing.assert_allclose(g_squeezed, g_raw_at_squeezed, rtol=1e-5, atol=1e-8)
    assert np.abs(g_squeezed).sum() > 0
    assert not np.allclose(g_squeezed, trained.loss_gradient(x, np.eye(K)[y]))


def test_median_filter_is_spatial_only():
    x = np.zeros((1, 1, 6, 6), dtype=np.float32)
    x[0, 0, 2, 2] = 1.0  # an isolated spike is removed by a 2x2 median
    out, _ = make_median_filter(window=2)(x)
    assert out.shape == x.shape and out.max() == 0.0
    block = np.zeros((1, 1, 6, 6), dtype=np.float32)
    block[0, 0, 1:5, 1:5] = 1.0  # a large patch survives
    assert make_median_filter(window=2)(block)[0].sum() >= 9


# ---------------------------------------------------------------------------- threshold


@pytest.mark.parametrize("n", [7, 20, 101])
@pytest.mark.parametrize("target", [0.01, 0.05, 0.1, 0.25, 0.5])
def test_threshold_meets_target_fpr_on_calibration_data(n, target):
    rng = np.random.default_rng(n)
    scores = rng.exponential(size=n)
    t = calibrate_threshold(scores=scores, target_fpr=target)
    fpr = float(np.mean(scores > t))
    assert fpr <= target + 1.0 / n
    # Not trivially conservative: with distinct scores it flags floor(target * n) of them.
    assert fpr >= target - 1.0 / n


def test_threshold_with_ties_never_exceeds_target():
    scores = np.array([0.0] * 15 + [0.3] * 5)
    t = calibrate_threshold(scores=scores, target_fpr=0.1)
    assert np.mean(scores > t) <= 0.1


# ---------------------------------------------------------------------------- scores and metrics


def test_scores_are_l1_distances_in_range(trained):
    x, _ = _data(4, 7)
    squeezers = detector_squeezers(bit_depth=5, median=True)
    s = detector_scores(classifier=trained, x=x, squeezers=squeezers)
    assert s.shape == (len(x),) and np.all((s >= 0) & (s <= 2))
    # By hand for one input and the bit-depth squeezer alone.
    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    p_raw = softmax(trained.predict(x[:1]).astype(np.float64))
    p_sq = softmax(trained.predict(squeezers[0](x[:1])[0]).astype(np.float64))
    s_bits = detector_scores(classifier=trained, x=x[:1], squeezers=squeezers[:1])
    np.testing.assert_allclose(s_bits, np.abs(p_raw - p_sq).sum(1), rtol=1e-5)
    assert s[0] >= s_bits[0] - 1e-9  # max over squeezers


def test_scores_of_a_read_only_memory_map_equal_the_array_s_without_a_warning(trained, tmp_path):
    import warnings

    x, _ = _data(4, 9)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")  # as a cached split is opened
    squeezers = detector_squeezers(bit_depth=5, median=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = detector_scores(classifier=trained, x=mapped, squeezers=squeezers)
    np.testing.assert_array_equal(s, detector_scores(classifier=trained, x=x, squeezers=squeezers))


def test_score_is_zero_when_squeezing_changes_nothing(trained):
    x, _ = _data(4, 8)
    on_grid = np.round(x * 31) / 31  # already 5-bit values
    s = detector_scores(classifier=trained, x=on_grid.astype(np.float32),
                        squeezers=detector_squeezers(bit_depth=5, median=False))
    assert np.all(s < 1e-6)


def test_detection_metrics_by_hand():
    # Six adversarial inputs (labels 0): successful = clean right & adversarial wrong: 0, 1, 2.
    y = np.zeros(6, dtype=int)
    clean_pred = np.array([0, 0, 0, 1, 0, 0])
    adv_pred = np.array([1, 1, 2, 1, 0, 0])
    adv_scores = np.array([0.9, 0.1, 0.8, 0.9, 0.05, 0.7])
    clean_scores = np.array([0.0, 0.2, 0.1, 0.6])
    m = detection_metrics(threshold=0.5, clean_scores=clean_scores, adv_scores=adv_scores, y=y,
                          clean_pred=clean_pred, adv_pred=adv_pred)
    assert m["n_successful"] == 3
    assert (m["tpr"]["k"], m["tpr"]["n"]) == (2, 3)          # inputs 0 and 2 are flagged
    assert (m["tpr_all"]["k"], m["tpr_all"]["n"]) == (4, 6)
    assert (m["fpr_test"]["k"], m["fpr_test"]["n"]) == (1, 4)
    # Rejected (0, 2, 3, 5) or accepted and right (4): 5 of 6; input 1 fooled it.
    assert (m["reject_accuracy"]["k"], m["reject_accuracy"]["n"]) == (5, 6)
    # AUC: successful {0.9, 0.8, 0.1} vs clean {0, 0.1, 0.2, 0.6}: 4 + 4 + (1 + tie 0.5) of 12 pairs.
    assert m["auc"] == pytest.approx(9.5 / 12)
    assert m["roc"]["fpr"][0] == 0 and m["roc"]["tpr"][-1] == 1


def test_thin_roc_keeps_ends():
    fpr = np.linspace(0, 1, 500)
    r = thin_roc(fpr, fpr ** 0.5, max_points=20)
    assert len(r["fpr"]) <= 20 and r["fpr"][0] == 0 and r["fpr"][-1] == 1


def test_detector_end_to_end_on_a_trained_model(trained):
    from artgenre.attacks import ATTACKS

    squeezers = detector_squeezers(bit_depth=5, median=True)
    x_val, _ = _data(10, 2)
    x_test, y_test = _data(10, 3)
    val_scores = detector_scores(classifier=trained, x=x_val, squeezers=squeezers)
    t = calibrate_threshold(scores=val_scores, target_fpr=0.1)
    assert np.mean(val_scores > t) <= 0.1 + 1 / len(val_scores)
    clean_scores = detector_scores(classifier=trained, x=x_test, squeezers=squeezers)
    x_adv = ATTACKS["pgd"](trained, eps=0.05, batch_size=32).generate(x_test, y_test)
    m = detection_metrics(
        threshold=t, clean_scores=clean_scores,
        adv_scores=detector_scores(classifier=trained, x=x_adv, squeezers=squeezers), y=y_test,
        clean_pred=trained.predict(x_test).argmax(1), adv_pred=trained.predict(x_adv).argmax(1),
    )
    assert m["n_successful"] > 0
    assert 0.0 <= m["auc"] <= 1.0
    # Adversarial examples sit near the decision boundary, where squeezing moves the output.
    assert m["auc"] > 0.5


# ---------------------------------------------------------------------------- adaptive attacks


class _MaskedGradients(nn.Module):
    """A two-class model whose raw-input gradient vanishes on [0.1, 0.7] (flat there), while
    at the 1-bit squeezed values 0 and 1 it points towards class 1: the textbook case where a
    non-adaptive attack (gradients of the raw model) learns nothing and BPDA through the
    squeezer succeeds. Class 1 needs most squeezed pixels to be 1."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # ART's optimizer needs a parameter

    def forward(self, x):
        g = torch.relu(x - 0.7) / 0.3 - torch.relu(0.1 - x)
        z = self.scale * (g.flatten(1).mean(1) - 0.5)
        return torch.stack([torch.zeros_like(z), z], dim=1)


def test_adaptive_bpda_attack_is_not_weaker_than_non_adaptive():
    from artgenre.attacks.cells import sweep_cells
    from artgenre.data.dataset import Split
    from artgenre.defenses import DEFENSES, make_defense_config
    from artgenre.defenses.baseline import DefendedModel

    rng = np.random.default_rng(0)
    x = rng.uniform(0.35, 0.45, size=(12, 1, SIDE, SIDE)).astype(np.float32)
    split = Split(x=x, y=np.zeros(12, dtype=np.int64), track=np.array([f"t{i}" for i in range(12)]))
    model = _MaskedGradients()
    raw = as_art_classifier(model, device="cpu", input_shape=(1, SIDE, SIDE), nb_classes=2)
    config = make_defense_config(defense="squeeze", bit_depth=1, device="cpu", attacks=("pgd",), eps=(0.2,))
    plan = DEFENSES["squeeze"].plan(config=config, raw=raw, model=DefendedModel(
        model=model, train_result={}, input_shape=(1, SIDE, SIDE), n_classes=2))
    assert (plan.defended.predict(x).argmax(1) == 0).all()  # the squeezed model is right on clean input
    acc = {}
    for p in plan.passes:
        (cell,) = sweep_cells(craft_classifier=p.craft, eval_classifier=p.evaluate, split=split, attacks=["pgd"],
                              eps=[0.2], batch_size=12, seed=0, adaptive=p.adaptive, progress=False)
        acc[p.adaptive] = cell["segment_accuracy"]["value"]
    assert acc[True] <= acc[False]
    assert acc[False] == 1.0 and acc[True] == 0.0  # masking fools the transfer, not BPDA


def test_squeeze_ensemble_outputs_mean_probabilities(trained):
    squeezers = detector_squeezers(bit_depth=5, median=True)
    ens = SqueezeEnsemble(trained.model, squeezers)
    x = _data(1, 9)[0][:2]
    xt = torch.from_numpy(x)
    with torch.no_grad():
        out = ens(xt).exp()
        views = [xt] + [torch.from_numpy(s(x)[0]) for s in squeezers]
        expected = torch.stack([torch.softmax(trained.model(v), 1) for v in views]).mean(0)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    clf = _wrap(ens)
    grad = clf.loss_gradient(x, np.eye(K)[[0, 1]])
    assert grad.shape == x.shape and np.abs(grad).sum() > 0
