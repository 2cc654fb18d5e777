"""The detector-aware attack: it targets the detector and is at least as strong as the plain one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from art.attacks.evasion import ProjectedGradientDescent
from torch import nn

from artgenre.art_adapter import as_art_classifier
from artgenre.defenses.detector import calibrate_threshold, detector_scores
from artgenre.defenses.detector_attack import detector_aware_pgd
from artgenre.defenses.squeeze import detector_squeezers
from artgenre.errors import DataError, ParameterError

SIDE, K = 32, 3


@pytest.fixture(scope="module")
def guarded():
    torch.set_num_threads(1)
    torch.manual_seed(0)

    def data(n, seed):
        r = np.random.default_rng(seed)
        y = np.repeat(np.arange(K), n)
        x = r.uniform(0.0, 0.6, size=(len(y), 1, SIDE, SIDE)).astype(np.float32)
        for i, c in enumerate(y):
            x[i, 0, 8 * c: 8 * c + 6, :] += 0.15
        return np.clip(x, 0, 1), y.astype(np.int64)

    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                        nn.Linear(8 * 8 * 8, K))
    clf = as_art_classifier(net, device="cpu", input_shape=(1, SIDE, SIDE), nb_classes=K)
    x, y = data(30, 1)
    clf.fit(x, y, batch_size=16, nb_epochs=10, verbose=False)
    net.eval()
    squeezers = detector_squeezers(bit_depth=4, median=True)
    x_val, _ = data(20, 2)
    tau = calibrate_threshold(scores=detector_scores(classifier=clf, x=x_val, squeezers=squeezers), target_fpr=0.1)
    x_test, y_test = data(12, 3)
    return clf, net, squeezers, tau, x_test, y_test


def _reject_accuracy(clf, squeezers, tau, x_adv, y):
    rejected = detector_scores(classifier=clf, x=x_adv, squeezers=squeezers) > tau
    correct = clf.predict(x_adv).argmax(1) == y
    return rejected | correct


def test_adaptive_attack_is_at_least_as_strong_as_the_plain_one(guarded):
    clf, net, squeezers, tau, x, y = guarded
    eps = 0.06
    plain = ProjectedGradientDescent(clf, eps=eps, eps_step=eps / 4, max_iter=20, num_random_init=1,
                                     verbose=False).generate(x, y)
    robust_plain = _reject_accuracy(clf, squeezers, tau, plain, y)
    x_adv, evaded = detector_aware_pgd(model=net, squeezers=squeezers, threshold=tau, x=x, y=y, eps=eps,
                                       steps=20, restarts=2, seed=0)
    robust_adaptive = _reject_accuracy(clf, squeezers, tau, x_adv, y)
    assert np.abs(x_adv - x).max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    # `evaded` is verified by the real (numpy) detector and classifier.
    np.testing.assert_array_equal(evaded, ~robust_adaptive)
    # Plain PGD is caught by the detector here; the detector-aware attack gets past it.
    assert robust_adaptive.mean() < robust_plain.mean()
    assert evaded.any()


def test_same_seed_same_examples(guarded):
    _, net, squeezers, tau, x, y = guarded
    a = detector_aware_pgd(model=net, squeezers=squeezers, threshold=tau, x=x[:6], y=y[:6], eps=0.03, steps=3, seed=1)
    b = detector_aware_pgd(model=net, squeezers=squeezers, threshold=tau, x=x[:6], y=y[:6], eps=0.03, steps=3, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert all(p.requires_grad for p in net.parameters())  # weights unfrozen again


def test_bad_inputs(guarded):
    _, net, squeezers, tau, x, y = guarded
    with pytest.raises(DataError, match="shape"):
        detector_aware_pgd(model=net, squeezers=squeezers, threshold=tau, x=x, y=y[:3], eps=0.01)
    with pytest.raises(ParameterError, match="eps"):
        detector_aware_pgd(model=net, squeezers=squeezers, threshold=tau, x=x, y=y, eps=1.5)


def _full_batch_reference(net, squeezers, tau, x, y, *, eps, steps, restarts, seed, norm):
    """The attack stepping every sample of the batch to the end (found ones included)."""
    from artgenre.defenses.detector_attack import DETECTOR_PENALTY, SCORE_MARGIN, _Ball, _scores
    from artgenre.frontend import split_features

    features, head = split_features(net)
    ball, gen = _Ball(norm, eps, 0.0, 1.0), torch.Generator().manual_seed(seed)
    x0, yt = torch.as_tensor(x), torch.as_tensor(y)
    best, found = x0.clone(), torch.zeros(len(y), dtype=torch.bool)
    for _ in range(restarts):
        xa = ball.start(x0, gen)
        for _ in range(steps + 1):
            xa.requires_grad_(True)
            logits, score = _scores(features, head, xa, squeezers)
            hit = (logits.argmax(dim=1) != yt) & (score <= tau) & ~found
            best[hit], found = xa.detach()[hit], found | hit
            ce = torch.nn.functional.cross_entropy(logits, yt, reduction="none")
            (grad,) = torch.autograd.grad((ce - DETECTOR_PENALTY * torch.relu(score - (tau - SCORE_MARGIN))).sum(), xa)
            xa = ball.step(xa.detach(), grad, 0.1 * eps, x0)
        best[~found] = xa.detach()[~found]
    return best.numpy(), found.numpy()


@pytest.mark.parametrize("norm,eps", [("inf", 0.06), ("2", 1.0)])
def test_found_samples_leave_the_batch_with_the_examples_of_stepping_them_all(guarded, norm, eps):
    _, net, squeezers, tau, x, y = guarded
    rows, counted = [], []
    hook = net[0].register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    try:
        x_adv, evaded = detector_aware_pgd(model=net, squeezers=squeezers, threshold=tau, x=x, y=y, eps=eps,
                                           steps=10, restarts=2, seed=3, norm=norm, batch_size=len(y),
                                           count=counted.append)
    finally:
        hook.remove()
    ref_adv, ref_evaded = _full_batch_reference(net, squeezers, tau, x, y, eps=eps, steps=10, restarts=2, seed=3,
                                                norm=norm)
    np.testing.assert_array_equal(evaded, ref_evaded)
    np.testing.assert_allclose(x_adv, ref_adv, rtol=0, atol=1e-6)
    assert 0 < evaded.sum() < len(y)  # both kinds of sample occur
    # One forward pass of the model per squeezer view and one of the raw input per step: the
    # found samples were not stepped again (the reference steps 2 · 11 · len(y) rows per view).
    views = 1 + len(squeezers)
    assert sum(rows) < views * 2 * 11 * len(y)
    # `count` saw every differentiated row: the model's forward rows are those, once per view.
    assert sum(counted) * views == sum(rows) and len(counted) <= 2 * 11
