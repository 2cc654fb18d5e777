"""The ART adapter: predict, gradients and fit through ART, eval-mode attacks, tracked loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from artgenre.art_adapter import TrackedCrossEntropyLoss, as_art_classifier, reset_train_stats, train_stats
from artgenre.errors import ParameterError
from artgenre.models import MODELS, build_model

SHAPE = (1, 32, 32)


def _classifier(name="cnn", seed=0):
    torch.manual_seed(seed)
    model = build_model(name=name, input_size=32)
    return as_art_classifier(model, device="cpu", input_shape=SHAPE, nb_classes=10)


def _batch(n=6, seed=0):
    """Inputs and ONE-HOT labels: ART's loss_gradient expects one-hot (its attacks convert)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE), dtype=np.float32), np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]


@pytest.mark.parametrize("name", list(MODELS))
def test_predict_and_gradients_through_art(name):
    clf = _classifier(name)
    x, y = _batch()
    logits = clf.predict(x)
    assert logits.shape == (6, 10) and np.isfinite(logits).all()
    grad = clf.loss_gradient(x, y)
    assert grad.shape == x.shape and np.abs(grad).sum() > 0
    cg = clf.class_gradient(x, label=3)
    assert cg.shape == (6, 1, *SHAPE)
    assert clf.clip_values[0] == 0 and clf.clip_values[1] == 1


def test_gradients_in_eval_mode_leave_batchnorm_untouched():
    clf = _classifier()
    clf.model.train()
    before = clf.model.features[1].running_mean.clone()
    x, y = _batch()
    g1 = clf.loss_gradient(x, y)
    assert not clf.model.training
    assert torch.equal(before, clf.model.features[1].running_mean)
    # Eval mode means no dropout: the gradient is a deterministic function of the input.
    assert np.array_equal(g1, clf.loss_gradient(x, y))


def test_fit_through_art_tracks_running_stats_and_updates_weights():
    clf = _classifier()
    x, y = _batch(n=10)
    w0 = clf.model.classifier[-1].weight.detach().clone()
    reset_train_stats(clf)
    clf.fit(x, y.argmax(axis=1), batch_size=4, nb_epochs=1)  # integer labels, as training passes
    stats = train_stats(clf)
    assert stats["n"] == 10 and np.isfinite(stats["loss"]) and 0 <= stats["accuracy"] <= 1
    assert not torch.equal(w0, clf.model.classifier[-1].weight)
    # Attack-time losses (eval mode) must not leak into the training statistics.
    clf.loss_gradient(x, y)
    clf.predict(x)
    assert train_stats(clf)["n"] == 10
    reset_train_stats(clf)
    assert train_stats(clf)["n"] == 0 and np.isnan(train_stats(clf)["loss"])


def test_tracked_loss_equals_cross_entropy_mean():
    model = torch.nn.Linear(4, 3).train()
    loss_fn = TrackedCrossEntropyLoss(model)
    logits_a, logits_b = torch.randn(5, 3), torch.randn(3, 3)
    ya, yb = torch.tensor([0, 1, 2, 0, 1]), torch.tensor([2, 2, 0])
    la, lb = loss_fn(logits_a, ya), loss_fn(logits_b, yb)
    stats = loss_fn.stats()
    assert stats["n"] == 8
    assert stats["loss"] == pytest.approx((la.item() * 5 + lb.item() * 3) / 8, rel=1e-6)
    correct = (logits_a.argmax(1) == ya).sum() + (logits_b.argmax(1) == yb).sum()
    assert stats["accuracy"] == pytest.approx(correct.item() / 8)
    model.eval()
    loss_fn(logits_a, ya)
    assert loss_fn.stats()["n"] == 8


def test_train_stats_absent_for_plain_loss():
    from art.estimators.classification import PyTorchClassifier

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    clf = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(4,), nb_classes=2,
                            device_type="cpu")
    assert train_stats(clf) is None
    reset_train_stats(clf)  # no-op, no error


def test_cuda_request_without_cuda_is_a_parameter_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ParameterError, match="CUDA"):
        as_art_classifier(build_model(name="cnn", input_size=32), device="cuda:0", input_shape=SHAPE)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_explicit_cuda_index_is_honoured():
    idx = torch.cuda.device_count() - 1
    clf = as_art_classifier(build_model(name="cnn", input_size=32), device=f"cuda:{idx}", input_shape=SHAPE)
    assert clf.device == torch.device(f"cuda:{idx}")
    assert next(clf.model.parameters()).device == torch.device(f"cuda:{idx}")
    x, y = _batch()
    assert clf.loss_gradient(x, y).shape == x.shape


@pytest.mark.parametrize(
    "kwargs, match",
    [({"learning_rate": 0}, "learning_rate"), ({"weight_decay": -1}, "weight_decay"),
     ({"input_shape": (1, 0, 32)}, "input_shape"), ({"nb_classes": 1}, "nb_classes"),
     ({"device": "tpu"}, "device")],
)
def test_bad_adapter_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        as_art_classifier(build_model(name="cnn", input_size=32), **{"input_shape": SHAPE, **kwargs})


def _art_reference(model, **kwargs):
    """ART's own PyTorchClassifier on the same model: the path our class_gradient must equal."""
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=SHAPE, nb_classes=10,
                             clip_values=(0.0, 1.0), device_type="cpu", **kwargs)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("rows", [0, 64])  # the per-class path (CPU default) and the replicated one (GPU)
def test_class_gradient_equals_art_for_every_label_form(name, n, rows, monkeypatch):
    from artgenre import art_adapter

    monkeypatch.setitem(art_adapter.JACOBIAN_ROWS, "cpu", rows)
    fast = _classifier(name)
    ref = _art_reference(fast.model)
    x, _ = _batch(n=n, seed=1)
    per_sample = np.arange(n) % 10
    for label in (None, 7, per_sample, list(per_sample)):
        want, got = ref.class_gradient(x, label=label), fast.class_gradient(x, label=label)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def test_class_gradient_chains_preprocessing_like_art():
    """Framework preprocessing (standardisation) and a numpy defence (feature squeezing)."""
    from artgenre.art_adapter import ArtGenreClassifier
    from artgenre.defenses.squeeze import make_squeezer

    torch.manual_seed(0)
    model = build_model(name="cnn", input_size=32).eval()
    x, _ = _batch(n=2, seed=2)
    variants = [{"preprocessing": (0.4, 0.3)},
                {"preprocessing_defences": [make_squeezer(bit_depth=4)]}]
    for kwargs in variants:
        ref = _art_reference(model, **kwargs)
        fast = ArtGenreClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=SHAPE,
                                  nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu", **kwargs)
        for label in (None, 4):
            want, got = ref.class_gradient(x, label=label), fast.class_gradient(x, label=label)
            assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("batch_size", [1, 8])
def test_deepfool_through_the_fast_gradient_matches_arts_default_path(batch_size):
    from art.attacks.evasion import DeepFool

    fast = _classifier("cnn", seed=3)
    ref = _art_reference(fast.model)
    x, _ = _batch(n=8, seed=4)
    runs = [DeepFool(c, max_iter=10, epsilon=0.02, batch_size=batch_size, verbose=False).generate(x)
            for c in (ref, fast)]
    assert np.abs(runs[0] - x).max() > 0  # the attack moved the inputs, so the comparison means something
    assert np.abs(runs[1] - runs[0]).max() <= 1e-5
    # On the CPU the gradients come from ART's own order of passes: equal bit for bit.
    assert np.array_equal(runs[1], runs[0])


def test_all_class_gradients_are_computed_only_when_read():
    from artgenre.art_adapter import DeferredGradients

    fast = _classifier("cnn", seed=5)
    ref = _art_reference(fast.model)
    x, _ = _batch(n=3, seed=6)
    got = fast.class_gradient(x)
    assert isinstance(got, DeferredGradients) and not got.computed
    assert got.shape == (3, 10, *SHAPE) and got.ndim == 5 and len(got) == 3 and not got.computed
    x[:] = 0.5  # the caller's array may change before the gradients are read
    want = ref.class_gradient(_batch(n=3, seed=6)[0])
    # Every numpy use reads the same array: ufuncs, indexing, np.* functions, attributes.
    assert np.abs(np.asarray(got) - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
    assert got.computed
    diff = got - got[np.arange(3), [0, 1, 2]][:, None]
    assert isinstance(diff, np.ndarray) and diff.shape == want.shape
    np.testing.assert_allclose(np.swapaxes(got, 0, 1), np.swapaxes(np.asarray(got), 0, 1))
    assert got.dtype == np.float32 and got.reshape(3, -1).shape == (3, 10 * int(np.prod(SHAPE)))


def test_deepfool_reads_one_gradient_set_fewer_per_sample_than_it_requests():
    from art.attacks.evasion import DeepFool

    from artgenre.art_adapter import DeferredGradients

    fast = _classifier("cnn", seed=3)
    x, _ = _batch(n=4, seed=4)
    made = []
    inner = fast.class_gradient

    def counting(*args, **kwargs):
        made.append(inner(*args, **kwargs))
        return made[-1]

    fast.class_gradient = counting
    for i in range(len(x)):
        DeepFool(fast, max_iter=10, epsilon=0.02, batch_size=1, verbose=False).generate(x[i:i + 1])
    assert made and all(isinstance(g, DeferredGradients) for g in made)
    # The last set requested for each sample arrives after it is fooled (or at max_iter) and is dropped.
    assert sum(not g.computed for g in made) == len(x)


def test_pass_counts_are_the_rows_computed():
    """`artgenre.pass_counts`: predict rows and computed class-gradient rows (a deferred set
    counts once read, a labelled one at once); ART's own classifier does not count."""
    from artgenre import pass_counts

    fast = _classifier("cnn", seed=7)
    x, _ = _batch(n=3, seed=8)
    before = pass_counts.snapshot(fast)
    fast.predict(x)
    deferred = fast.class_gradient(x)
    assert pass_counts.since(before, fast) == {"forward": 3}
    np.asarray(deferred)
    fast.class_gradient(x, label=1)
    fast.class_gradient(x[:2])  # never read: never computed
    assert pass_counts.since(before, fast) == {"forward": 3, "class_gradient": 3 * 10 + 3}
    assert pass_counts.snapshot(_art_reference(fast.model)) is None
    # A classifier built for one example (the waveform SNR budget) hands its counts on.
    other = _classifier("cnn", seed=7)
    other.predict(x[:2])
    pass_counts.merge(fast, other)
    assert pass_counts.since(before, fast) == {"forward": 5, "class_gradient": 3 * 10 + 3}


@pytest.mark.parametrize("name", list(MODELS))
def test_apgd_through_the_kept_loss_graph_equals_arts_path_with_fewer_forward_passes(name):
    from art.attacks.evasion import AutoProjectedGradientDescent

    fast = _classifier(name, seed=5)
    ref = _art_reference(fast.model)
    x, _ = _batch(n=6, seed=6)
    y = np.eye(10, dtype=np.float32)[ref.predict(x).argmax(axis=1)]  # APGD attacks the correct ones
    forwards = []
    hook = fast.model.register_forward_pre_hook(lambda module, inputs: forwards.append(1))
    runs, counts = [], []
    try:
        for clf in (ref, fast):
            np.random.seed(0)  # APGD's random start
            before = len(forwards)
            runs.append(AutoProjectedGradientDescent(clf, eps=0.05, eps_step=0.01, max_iter=10, nb_random_init=1,
                                                     batch_size=6, verbose=False).generate(x, y))
            counts.append(len(forwards) - before)
    finally:
        hook.remove()
    assert np.abs(runs[0] - x).max() > 0
    assert np.array_equal(runs[1], runs[0])
    # Each iteration after the first reads the gradient at the point whose loss it computed.
    assert counts[1] <= counts[0] - 8


def test_a_kept_loss_graph_serves_only_the_same_input_labels_and_weights():
    fast = _classifier("cnn", seed=7)
    ref = _art_reference(fast.model)
    x, y = _batch(n=4, seed=8)
    x2, y2 = _batch(n=4, seed=9)
    np.testing.assert_array_equal(fast.compute_loss(x, y), ref.compute_loss(x, y))
    np.testing.assert_array_equal(fast.loss_gradient(x, y), ref.loss_gradient(x, y))  # from the graph
    fast.compute_loss(x, y)
    np.testing.assert_array_equal(fast.loss_gradient(x2, y), ref.loss_gradient(x2, y))  # another input
    fast.compute_loss(x, y)
    np.testing.assert_array_equal(fast.loss_gradient(x, y2), ref.loss_gradient(x, y2))  # other labels
    fast.compute_loss(x, y)
    fast.fit(x2, y2, batch_size=4, nb_epochs=1, verbose=False)  # the weights change
    np.testing.assert_array_equal(fast.loss_gradient(x, y), ref.loss_gradient(x, y))
    fast.compute_loss(x, y)
    with torch.no_grad():  # ... or change outside ART
        next(fast.model.parameters()).mul_(1.5)
    np.testing.assert_array_equal(fast.loss_gradient(x, y), ref.loss_gradient(x, y))


def test_a_loss_over_more_rows_than_an_attack_batch_keeps_no_graph(monkeypatch):
    from artgenre import loss_graph

    monkeypatch.setattr(loss_graph, "MAX_ROWS", 3)
    fast = _classifier("cnn", seed=10)
    ref = _art_reference(fast.model)
    x, y = _batch(n=4, seed=11)
    np.testing.assert_array_equal(fast.compute_loss(x, y), ref.compute_loss(x, y))
    assert fast.__dict__.get("_artgenre_graph") is None
    fast.compute_loss(x[:3], y[:3])
    assert fast.__dict__.get("_artgenre_graph") is not None
    fast.predict(x)
    assert fast.__dict__.get("_artgenre_graph") is None
