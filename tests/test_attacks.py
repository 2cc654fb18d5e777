"""Attacks through ART: every registered attack is exercised by the parametrized tests."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import torch
from torch import nn

from artgenre.art_adapter import as_art_classifier
from artgenre.attacks import (
    ATTACKS,
    DEEPFOOL_MAX_ITER,
    DEEPFOOL_OVERSHOOT,
    PGD_STEP_RATIO,
    PGD_STEPS,
    attack_params,
    frozen_weights,
    is_eps_bounded,
    make_attack,
    parse_params,
    parse_value,
    resolve_params,
)
from artgenre.errors import ParameterError

N_CLASSES, SIDE = 3, 16
# Tests pin the CPU so timings and results do not depend on the machine having a GPU.
DEVICE = "cpu"
EPS = 0.1


def make_data(n_per_class: int = 12, seed: int = 0):
    """Class k = a bright band in rows [5k, 5k+4] on a dim noisy background, in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.35, size=(N_CLASSES * n_per_class, 1, SIDE, SIDE)).astype(np.float32)
    y = np.repeat(np.arange(N_CLASSES), n_per_class)
    for i, label in enumerate(y):
        x[i, 0, 5 * label : 5 * label + 4, :] += 0.5
    return np.clip(x, 0, 1), y.astype(np.int64)


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Linear(16, N_CLASSES),
        )

    def forward(self, x):
        return self.net(x)


def trained_classifier(seed: int = 0, steps: int = 60):
    torch.manual_seed(seed)
    model = TinyNet()
    x, y = make_data(seed=seed + 100)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return as_art_classifier(model, device=DEVICE, input_shape=(1, SIDE, SIDE), nb_classes=N_CLASSES)


@pytest.fixture(scope="module")
def clf():
    return trained_classifier()


@pytest.fixture(scope="module")
def data():
    return make_data(n_per_class=6, seed=1)


def _acc(clf, x, y) -> float:
    return float((clf.predict(x).argmax(1) == y).mean())


def test_tiny_model_is_trained(clf, data):
    x, y = data
    # The attack tests below are only meaningful on a model that is right on clean input.
    assert _acc(clf, x, y) >= 0.9


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_generates_valid_inputs_and_does_not_help(name, clf, data):
    x, y = data
    attack = ATTACKS[name](clf, eps=EPS, batch_size=8)
    x_adv = attack.generate(x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert np.isfinite(x_adv).all() and x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert _acc(clf, x_adv, y) <= _acc(clf, x, y)
    if is_eps_bounded(name=name):
        assert np.abs(x_adv - x).max() <= EPS + 1e-6


@pytest.mark.parametrize("name", [a for a in ATTACKS if is_eps_bounded(name=a)])
def test_eps_zero_returns_the_clean_input(name, clf, data):
    x, y = data
    x_adv = ATTACKS[name](clf, eps=0.0, batch_size=8).generate(x, y)
    assert np.array_equal(x_adv, x)
    assert x_adv is not x  # a copy: callers may modify it


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_accepts_an_empty_batch(name, clf):
    x = np.zeros((0, 1, SIDE, SIDE), np.float32)
    assert ATTACKS[name](clf, eps=EPS, batch_size=4).generate(x, np.zeros(0, np.int64)).shape == x.shape


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_restores_weight_gradients_flags(name, clf, data):
    x, y = data
    model = clf.model
    for p in model.parameters():
        p.grad = None
    ATTACKS[name](clf, eps=EPS, batch_size=8).generate(x[:4], y[:4])
    assert all(p.requires_grad for p in model.parameters())
    # ART calls zero_grad() then backward(); a weight gradient would show up here unless frozen.
    assert all(p.grad is None for p in model.parameters())


def test_frozen_weights_skips_weight_gradients_but_keeps_input_gradients():
    model = TinyNet()
    model.net[0].bias.requires_grad_(False)  # a parameter frozen by the caller stays frozen
    x = torch.rand(2, 1, SIDE, SIDE, requires_grad=True)
    with frozen_weights(model=model):
        model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    assert not model.net[0].bias.requires_grad
    assert model.net[0].weight.requires_grad


def test_pgd_and_fgsm_break_the_model_at_a_large_eps(clf, data):
    x, y = data
    clean = _acc(clf, x, y)
    fgsm = _acc(clf, ATTACKS["fgsm"](clf, eps=0.3, batch_size=8).generate(x, y), y)
    pgd = _acc(clf, ATTACKS["pgd"](clf, eps=0.3, batch_size=8, steps=20).generate(x, y), y)
    noise = _acc(clf, ATTACKS["noise"](clf, eps=0.3, batch_size=8, seed=0).generate(x, y), y)
    assert pgd < clean and fgsm < clean
    assert pgd <= fgsm
    assert noise >= fgsm


def test_pgd_defaults_use_art_pytorch_path(clf):
    from art.attacks.evasion.projected_gradient_descent.projected_gradient_descent_pytorch import (
        ProjectedGradientDescentPyTorch,
    )

    attack = ATTACKS["pgd"](clf, eps=0.02, batch_size=8)
    inner = attack.art_attack
    assert isinstance(inner._attack, ProjectedGradientDescentPyTorch)
    assert inner.max_iter == PGD_STEPS == 10
    assert inner.eps_step == pytest.approx(0.02 * PGD_STEP_RATIO) and PGD_STEP_RATIO == 0.25
    assert inner.num_random_init == 1 and inner.norm == np.inf and inner.verbose is False


def test_pgd_stronger_setting_and_restarts(clf):
    attack = make_attack("pgd", clf, eps=0.02, batch_size=8, params={"steps": 50, "restarts": 2})
    assert attack.art_attack.max_iter == 50
    assert attack.art_attack.num_random_init == 3


def test_pgd_with_numpy_preprocessing_warns_about_the_numpy_path(data, caplog):
    from art.defences.preprocessor import SpatialSmoothing

    torch.manual_seed(0)
    # Any NumPy (non-framework) preprocessor, e.g. ART's FeatureSqueezing, forces the numpy path.
    clf = as_art_classifier(
        TinyNet(), device=DEVICE, input_shape=(1, SIDE, SIDE), nb_classes=N_CLASSES,
        preprocessing_defences=[SpatialSmoothing(window_size=2, clip_values=(0.0, 1.0))],
    )
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        attack = ATTACKS["pgd"](clf, eps=0.02, batch_size=8, steps=2)
    assert "numpy path" in caplog.text and "SpatialSmoothing" in caplog.text
    x, y = data
    assert np.abs(attack.generate(x[:3], y[:3]) - x[:3]).max() <= 0.02 + 1e-6


def test_fgsm_is_one_full_signed_gradient_step(clf, data):
    x, y = data
    x_adv = ATTACKS["fgsm"](clf, eps=0.05, batch_size=8).generate(x, y)
    delta = x_adv - x
    interior = (x > 0.06) & (x < 0.94)
    # Away from the box edges every pixel moves by exactly ±ε (or 0 where the gradient is 0).
    moved = np.abs(delta[interior])
    assert np.allclose(moved[moved > 0], 0.05, atol=1e-6)


def test_deepfool_uses_paper_overshoot_and_configurable_iterations(clf):
    attack = ATTACKS["deepfool"](clf, eps=0.0, batch_size=8)
    assert attack.art_attack.epsilon == DEEPFOOL_OVERSHOOT == 0.02
    assert attack.art_attack.max_iter == DEEPFOOL_MAX_ITER and attack.art_attack.nb_grads == 10
    custom = make_attack("deepfool", clf, eps=0.0, batch_size=8, params={"max_iter": 5, "nb_grads": 2})
    assert custom.art_attack.max_iter == 5 and custom.art_attack.nb_grads == 2


def test_deepfool_flips_most_correct_samples(clf, data):
    x, y = data
    x_adv = ATTACKS["deepfool"](clf, eps=0.0, batch_size=8).generate(x, y)
    correct = clf.predict(x).argmax(1) == y
    flipped = clf.predict(x_adv).argmax(1) != y
    assert (flipped & correct).sum() >= 0.5 * correct.sum()


def test_noise_is_seeded_and_has_amplitude_eps(clf, data):
    x, y = data
    a = ATTACKS["noise"](clf, eps=0.05, batch_size=8, seed=3).generate(x, y)
    b = ATTACKS["noise"](clf, eps=0.05, batch_size=8, seed=3).generate(x, y)
    c = ATTACKS["noise"](clf, eps=0.05, batch_size=8, seed=4).generate(x, y)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    interior = (x > 0.06) & (x < 0.94)
    assert np.allclose(np.abs(a - x)[interior], 0.05, atol=1e-6)
    np.random.seed(7)
    g1 = ATTACKS["noise"](clf, eps=0.05, batch_size=8).generate(x, y)
    np.random.seed(7)
    assert np.array_equal(g1, ATTACKS["noise"](clf, eps=0.05, batch_size=8).generate(x, y))


def test_art_prefix_builds_basic_iterative_method(clf, data):
    x, y = data
    attack = make_attack("art:BasicIterativeMethod", clf, eps=0.05, batch_size=8, params={"max_iter": 3})
    assert type(attack.art_attack).__name__ == "BasicIterativeMethod"
    assert attack.art_attack.eps == 0.05 and attack.art_attack.max_iter == 3
    x_adv = attack.generate(x, y)
    assert np.abs(x_adv - x).max() <= 0.05 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert _acc(clf, x_adv, y) <= _acc(clf, x, y)


def test_art_prefix_builds_square_attack_with_parsed_params(clf, data):
    x, y = data
    params = resolve_params(
        attacks=["art:SquareAttack"], triples=parse_params(items=["norm=inf", "art:SquareAttack.max_iter=5"])
    )["art:SquareAttack"]
    attack = make_attack("art:SquareAttack", clf, eps=0.05, batch_size=8, params=params)
    assert attack.art_attack.norm == np.inf and attack.art_attack.max_iter == 5
    x_adv = attack.generate(x[:6], y[:6])
    assert np.abs(x_adv - x[:6]).max() <= 0.05 + 1e-6


def test_attack_params_lists_factory_and_art_keywords():
    assert set(attack_params(name="pgd")) == {"steps", "step_ratio", "restarts"}
    assert attack_params(name="fgsm") == ()
    square = attack_params(name="art:SquareAttack")
    assert "max_iter" in square and "norm" in square
    assert "eps" not in square and "batch_size" not in square


@pytest.mark.parametrize(
    ("text", "expected"),
    [("50", 50), ("0.25", 0.25), ("true", True), ("False", False), ("inf", np.inf), ("-inf", -np.inf),
     ("none", None), ("l2", "l2"), ("1e-3", 1e-3)],
)
def test_parse_value(text, expected):
    value = parse_value(text=text)
    assert value == expected and type(value) is type(expected)


def test_parse_params_targets_one_or_all_attacks():
    triples = parse_params(items=["pgd.steps=50", "norm=inf", "art:SquareAttack.p_init=0.5"])
    assert triples == (("pgd", "steps", 50), ("*", "norm", np.inf), ("art:SquareAttack", "p_init", 0.5))
    per = resolve_params(attacks=["fgsm", "pgd", "art:SquareAttack"], triples=triples)
    # norm goes only to the attack that accepts it; fgsm/pgd are L∞ by construction.
    assert per == {"fgsm": {}, "pgd": {"steps": 50}, "art:SquareAttack": {"norm": np.inf, "p_init": 0.5}}


def test_pgd_driver_matches_art_generate_exactly(clf, data):
    # Our lean driver of ART's PyTorch PGD must give the very same examples as ART's generate.
    x, y = data
    attack = ATTACKS["pgd"](clf, eps=0.05, batch_size=7, steps=4)
    np.random.seed(11)
    ours = attack.generate(x, y)
    np.random.seed(11)
    with frozen_weights(model=clf.model):
        theirs = attack.art_attack.generate(x, y=y)
    assert np.array_equal(ours, theirs)
    np.random.seed(12)
    assert not np.array_equal(ours, attack.generate(x, y))  # the random start is really random


# --------------------------------------------------------------------------- specs and threat models


def test_registry_entries_say_what_each_attack_is():
    from artgenre.attacks import attack_spec

    assert [a for a in ATTACKS if ATTACKS[a].minimal_norm] == ["deepfool"]
    assert all(ATTACKS[a].eps_bounded != ATTACKS[a].minimal_norm for a in ATTACKS)
    assert {a for a in ATTACKS if ATTACKS[a].budget_checked} == {"fgsm", "pgd", "noise", "apgd-ce", "apgd-dlr",
                                                                 "square", "autoattack", "detector-pgd"}
    assert ATTACKS["deepfool"].defaults() == {"max_iter": DEEPFOOL_MAX_ITER, "nb_grads": 10,
                                              "overshoot": DEEPFOOL_OVERSHOOT}
    art = attack_spec("art:BasicIterativeMethod")
    assert art.eps_bounded and not art.budget_checked and "max_iter" in art.params()
    with pytest.raises(ValueError, match="exactly one"):
        type(art)("both", art.factory, eps_bounded=True, minimal_norm=True)


def test_one_entry_adds_an_art_backed_attack_to_every_sweep(clf, data, monkeypatch):
    # Issue 13's attacks (apgd, square, ...) are one AttackSpec entry each: nothing else changes.
    from artgenre.attacks import AttackSpec, art_factory
    from artgenre.attacks.cells import sweep_cells
    from artgenre.attacks.checks import run_checks
    from artgenre.data.dataset import Split

    spec = AttackSpec("bim", art_factory("BasicIterativeMethod", max_iter=3), budget_checked=True)
    monkeypatch.setitem(ATTACKS._items, "bim", spec)
    assert attack_params(name="bim") == spec.params() and "max_iter" in spec.params()
    x, y = data
    split = Split(x=x, y=y, track=np.array([f"t{i}" for i in range(len(y))]))
    cells = sweep_cells(craft_classifier=clf, split=split, attacks=["bim"], eps=[0.0, 0.1], batch_size=8, seed=0,
                        params={"bim": {"max_iter": 2}}, progress=False)
    assert cells[1]["segment_accuracy"]["value"] <= cells[0]["segment_accuracy"]["value"]
    assert cells[1]["linf"]["max"] <= 0.1 + 1e-6
    names = {c["name"] for c in run_checks(cells=cells, n_classes=N_CLASSES)}
    assert "bim: perturbation within ε" in names


def test_spectrogram_threat_model_reads_budgets_and_builds_the_classifier():
    from artgenre.threats import THREAT_MODELS, threat_model

    tm = threat_model("spectrogram")
    assert list(THREAT_MODELS)[0] == "spectrogram" and tm.clip_values == (0.0, 1.0)
    assert tm.eps_db(0.01) == pytest.approx(0.8) and "linf" in tm.budget_kinds
    x, y = make_data(n_per_class=2)
    from artgenre.data.dataset import Split

    split = Split(x=x, y=y, track=np.array([f"t{i}" for i in range(len(y))]))
    assert tm.inputs(split) is split.x and tm.input_shape(split) == (1, SIDE, SIDE)
    clf = tm.classifier(TinyNet(), device=DEVICE, model_input_shape=(1, SIDE, SIDE), nb_classes=N_CLASSES)
    assert clf.clip_values.tolist() == [0.0, 1.0] and clf.nb_classes == N_CLASSES
    with pytest.raises(ParameterError, match="valid threat models: spectrogram, waveform"):
        threat_model("sonogram")


def test_apgd_ce_attacks_our_classifier_itself_with_arts_cross_entropy_examples(clf, data):
    """ART would re-wrap the model for its named loss; our classifier's loss is that loss, and
    attacking it directly keeps the saved forward pass (`artgenre.loss_graph`)."""
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    x, y = data
    attack = make_attack("apgd-ce", clf, eps=EPS, batch_size=8, params={"max_iter": 10})
    assert attack.art_attack.estimator is clf
    np.random.seed(0)
    got = attack.generate(x, y)
    plain = PyTorchClassifier(model=clf.model, loss=nn.CrossEntropyLoss(), input_shape=(1, SIDE, SIDE),
                              nb_classes=N_CLASSES, clip_values=(0.0, 1.0), device_type="cpu")
    ref = AutoProjectedGradientDescent(plain, norm=np.inf, eps=EPS, eps_step=attack.art_attack.eps_step,
                                       max_iter=10, nb_random_init=1, batch_size=8,
                                       loss_type="cross_entropy", verbose=False)
    assert ref.estimator is not plain  # ART's own wrapping, the reference
    np.random.seed(0)
    with frozen_weights(model=clf.model):
        want = ref.generate(x, np.eye(N_CLASSES, dtype=np.float32)[y])
    assert np.abs(want - x).max() > 0
    np.testing.assert_array_equal(got, want)


def test_pgd_driver_runs_arts_step_on_one_thread_and_the_model_on_all(clf, data, monkeypatch):
    """ART's elementwise step ops on one thread, the gradients on every thread: the examples of
    ART's generate (run with every thread throughout), the thread count and the classifier's own
    attributes restored afterwards."""
    x, y = data
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = {"gradient": set(), "step": set()}
        real = clf.loss_gradient

        def spy(*args, **kwargs):
            seen["gradient"].add(torch.get_num_threads())
            return real(*args, **kwargs)

        monkeypatch.setattr(clf, "loss_gradient", spy, raising=False)
        attack = ATTACKS["pgd"](clf, eps=0.05, batch_size=7, steps=4)
        inner = attack.art_attack._attack
        step = inner._apply_perturbation_pytorch

        def step_spy(*args, **kwargs):
            seen["step"].add(torch.get_num_threads())
            return step(*args, **kwargs)

        monkeypatch.setattr(inner, "_apply_perturbation_pytorch", step_spy, raising=False)
        np.random.seed(13)
        ours = attack.generate(x, y)
        assert seen == {"gradient": {2}, "step": {1}}
        assert torch.get_num_threads() == 2 and clf.__dict__["loss_gradient"] is spy
        assert "predict" not in clf.__dict__
        np.random.seed(13)
        with frozen_weights(model=clf.model):
            theirs = attack.art_attack.generate(x, y=y)
        assert seen["step"] == {1, 2}  # ART's generate stepped on every thread
        assert np.array_equal(ours, theirs)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", [a for a in ATTACKS if ATTACKS[a].sample_parallel])
def test_sample_parallel_attacks_side_by_side_give_the_one_after_another_examples(name, clf, data, monkeypatch):
    """One-sample calls in two threads at once (a barrier holds each thread's first call until
    the other's arrives), each thread on one torch thread: the examples of one call after
    another on one torch thread bit for bit, and within 1e-5 of those on two (some backward
    kernels round differently with the thread count: here by ~2e-7); every sample counted once,
    thread count and weight flags restored."""
    from artgenre.attacks.cells import generate_chunks
    from artgenre.runtime import torch_threads

    x, y = data
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        attack = make_attack(name, clf, eps=EPS, batch_size=4)
        on_all = generate_chunks(attack, x, y, 1, lambda k: None, workers=1)
        with torch_threads(1):
            want = generate_chunks(attack, x, y, 1, lambda k: None, workers=1)
        meeting, lock, local, seen = threading.Barrier(2, timeout=30), threading.Lock(), threading.local(), set()
        real = clf.predict

        def spy(*args, **kwargs):
            if not getattr(local, "met", False):
                local.met = True
                meeting.wait()
            with lock:
                seen.add((threading.get_ident(), torch.get_num_threads()))
            return real(*args, **kwargs)

        monkeypatch.setattr(clf, "predict", spy, raising=False)
        done: list[int] = []
        got = generate_chunks(attack, x, y, 1, done.append, workers=2)
        assert np.array_equal(got, want) and np.abs(got - x).max() > 0
        assert np.abs(got - on_all).max() <= 1e-5
        assert sum(done) == len(x) and len(done) == len(x)
        assert len({t for t, _ in seen}) == 2 and {n for _, n in seen} == {1}
        assert threading.get_ident() not in {t for t, _ in seen}
        assert torch.get_num_threads() == 2
        assert all(p.requires_grad for p in clf.model.parameters())
    finally:
        torch.set_num_threads(threads)


def test_side_by_side_crafting_raises_a_failed_sample_and_restores_threads(clf, data):
    from artgenre.attacks.cells import generate_chunks

    x, y = data
    threads = torch.get_num_threads()
    attack = make_attack("deepfool", clf, eps=EPS, batch_size=4)
    real = attack.generate

    def failing(xb, yb=None):
        if np.array_equal(xb, x[3:4]):
            raise RuntimeError("sample 3 failed")
        return real(xb, yb)

    attack.generate = failing
    with pytest.raises(RuntimeError, match="sample 3 failed"):
        generate_chunks(attack, x, y, 1, lambda k: None, workers=2)
    assert torch.get_num_threads() == threads
    assert all(p.requires_grad for p in clf.model.parameters())
