"""Adversarial training through ART, defense configs, `run_defense` results/resume, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from artgenre.art_adapter import as_art_classifier
from artgenre.data.dataset import Dataset, Split
from artgenre.defenses import DEFENSES, DefenseConfig, make_defense_config
from artgenre.defenses.adversarial import (
    FAST_STEP_RATIO,
    InnerAttack,
    adversarial_fit,
    make_inner_attack,
    make_trainer,
)
from artgenre.runtime import seed_everything
from artgenre.training import fit, make_train_config

SIDE = 32


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run fastest on one thread; with two on a busy shared machine, OpenMP
    spin-waiting makes a 0.4 ms backward pass take ~100 ms."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

# ---------------------------------------------------------------------------- a problem where
# adversarial training must help: two features, one robust and one not.

_HALVES = np.where(np.arange(SIDE)[:, None] < SIDE // 2, 1.0, -1.0) * np.ones((SIDE, SIDE))
_CHECKER = (np.indices((SIDE, SIDE)).sum(0) % 2) * 2.0 - 1.0


def _robust_split(n_per_class: int, seed: int) -> Split:
    """Label s = ±1. Robust feature: top-vs-bottom contrast s·0.05 + N(0, 0.1) (noisy, ~70 %
    predictive, survives ε = 0.05 partly). Non-robust feature: a checkerboard of amplitude
    0.03 (perfectly predictive, but an ε = 0.05 perturbation can flip it). A standard model
    leans on the checkerboard; adversarial training at ε = 0.05 must fall back on the
    contrast, which is what keeps PGD accuracy up."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(2), n_per_class)
    s = 2.0 * y - 1.0
    contrast = s * 0.05 + rng.normal(0.0, 0.1, len(y))
    x = (0.5 + contrast[:, None, None] * _HALVES + 0.03 * s[:, None, None] * _CHECKER
         + rng.uniform(-0.05, 0.05, (len(y), SIDE, SIDE)))
    track = np.array([f"s{seed}.{i}" for i in range(len(y))])
    return Split(x=np.clip(x, 0, 1).astype(np.float32)[:, None], y=y.astype(np.int64), track=track)


def _robust_data() -> Dataset:
    return Dataset(name="two-features", genres=("neg", "pos"), train=_robust_split(40, 1),
                   val=_robust_split(10, 2), test=_robust_split(30, 3))


def _linear_classifier(seed: int):
    seed_everything(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 2))
    return as_art_classifier(model, device="cpu", learning_rate=3e-3, input_shape=(1, SIDE, SIDE), nb_classes=2)


def _pgd_accuracy(classifier, split: Split, eps: float) -> float:
    from artgenre.attacks import ATTACKS

    seed_everything(123)
    x_adv = ATTACKS["pgd"](classifier, eps=eps, batch_size=64).generate(split.x, split.y)
    return float((classifier.predict(x_adv).argmax(1) == split.y).mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_adv_pure_beats_standard_training_under_pgd_and_records_cost(seed):
    data = _robust_data()
    config = make_train_config(model="cnn", epochs=15, patience=15, batch_size=16, device="cpu")
    standard = _linear_classifier(seed)
    fit_std = fit(classifier=standard, data=data, config=config, progress=False)
    robust = _linear_classifier(seed)
    fit_adv = adversarial_fit(classifier=robust, data=data, train_config=config,
                              settings=InnerAttack(kind="pgd", eps=0.05, steps=3, step_ratio=0.5),
                              ratio=1.0, progress=False)

    clean_std = float((standard.predict(data.test.x).argmax(1) == data.test.y).mean())
    pgd_std, pgd_adv = _pgd_accuracy(standard, data.test, 0.05), _pgd_accuracy(robust, data.test, 0.05)
    assert clean_std >= 0.9 and pgd_std < clean_std - 0.3  # the undefended model is fragile...
    assert pgd_adv >= pgd_std + 0.15  # ...and adversarial training buys robustness
    for result in (fit_std, fit_adv):
        assert result.epochs_run == 15 and len(result.history) == 15
        assert result.train_seconds > 0 and result.ms_per_sample > 0
        assert all(np.isfinite(r["train_loss"]) for r in result.history)
    # Crafting costs: 3 PGD gradients per sample on top of the update.
    assert fit_adv.ms_per_sample > fit_std.ms_per_sample


class _Probe(nn.Module):
    """BatchNorm + dropout model that logs (training mode, input needs grad) for every call."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                 nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, bool(x.requires_grad)))
        return self.net(x)


def test_art_adversarial_trainer_crafts_in_eval_mode_and_fits_in_train_mode():
    seed_everything(0)
    probe = _Probe()
    clf = as_art_classifier(probe, device="cpu", input_shape=(1, 8, 8), nb_classes=2)
    rng = np.random.default_rng(0)
    x = rng.random((12, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 2, 12)
    trainer = make_trainer(classifier=clf, settings=InnerAttack(eps=0.05, steps=2, step_ratio=0.5), ratio=0.5,
                           batch_size=4)
    trainer.fit(x, y, nb_epochs=1, batch_size=4)
    crafting = [mode for mode, needs_grad in probe.calls if needs_grad]
    updates = [mode for mode, needs_grad in probe.calls if not needs_grad and mode]
    assert crafting and not any(crafting)  # every input-gradient pass ran in eval mode
    assert len(updates) == 3  # one training-mode forward per batch of 4
    assert all(p.requires_grad for p in probe.parameters())  # crafting's weight freeze was undone


def test_fast_inner_attack_is_fgsm_with_random_start_and_1_25_eps_step():
    """FGSM with random start (Wong et al.): δ = clip(u + 1.25 ε·sign(g), ±ε) with u uniform in
    [-ε, ε], so a component ends on the boundary when u·sign(g) > -0.25 ε: 62.5 % of them.
    ART's FastGradientMethod ignores eps_step outside minimal mode and steps by ε, which puts
    only 50 % on the boundary; that is why the inner attack is ART's PGD with one iteration."""
    from art.attacks.evasion import FastGradientMethod

    seed_everything(0)
    clf = _linear_classifier(0)
    x = np.full((16, 1, SIDE, SIDE), 0.5, dtype=np.float32)
    y = np.repeat([0, 1], 8)
    eps = 0.02

    def boundary_share(x_adv):
        d = np.abs(x_adv - x)
        assert d.max() <= eps + 1e-6
        return float(np.isclose(d, eps, atol=1e-6).mean())

    art_fgm = FastGradientMethod(clf, eps=eps, eps_step=FAST_STEP_RATIO * eps, num_random_init=1)
    assert boundary_share(art_fgm.generate(x, y=np.eye(2)[y])) == pytest.approx(0.5, abs=0.03)
    fast = make_inner_attack(classifier=clf, settings=InnerAttack(kind="fgsm-rs", eps=eps), batch_size=16)
    assert fast.max_iter == 1 and fast.num_random_init == 1 and fast.eps_step == pytest.approx(1.25 * eps)
    first = fast.generate(x, y=y)
    assert boundary_share(first) == pytest.approx(0.625, abs=0.03)
    assert not np.array_equal(first, fast.generate(x, y=y))  # random start


def test_pgd_inner_attack_follows_profile_settings():
    clf = _linear_classifier(0)
    quick = make_defense_config(defense="adv-mixed", profile="quick")
    paper = make_defense_config(defense="adv-mixed", profile="paper")
    assert (quick.inner_steps, quick.inner_step_ratio, quick.init, quick.epochs) == (3, 0.5, "finetune", 2)
    assert (paper.inner_steps, paper.inner_step_ratio, paper.init, paper.epochs) == (7, 0.25, "scratch", 100)
    attack = make_inner_attack(classifier=clf, settings=paper.inner, batch_size=8)
    assert attack.max_iter == 7 and attack.eps == 0.01 and attack.eps_step == pytest.approx(0.0025)
    assert attack.num_random_init == 1 and attack.norm == np.inf


@pytest.mark.parametrize("labels", ["given", "predicted"])
def test_inner_pgd_crafts_what_arts_generate_crafts(labels, monkeypatch):
    """The inner attack skips ART's success-rate passes, not its examples: same NumPy seed, same
    adversarial examples as ART's own ``generate``."""
    from art.attacks.evasion import ProjectedGradientDescent
    from art.attacks.evasion.projected_gradient_descent import projected_gradient_descent_pytorch as art_pgd

    rates = []
    real_rate = art_pgd.compute_success
    monkeypatch.setattr(art_pgd, "compute_success", lambda *a, **k: rates.append(1) or real_rate(*a, **k))
    clf = _linear_classifier(0)
    split = _robust_split(12, seed=3)
    x, y = split.x, (split.y if labels == "given" else None)
    attack = make_inner_attack(classifier=clf, settings=InnerAttack(kind="pgd", eps=0.05, steps=3), batch_size=8)
    np.random.seed(7)
    ours = attack.generate(x, y=y)
    assert not rates
    np.random.seed(7)
    art = ProjectedGradientDescent.generate(attack, x, y=y)
    assert rates and np.abs(ours - x).max() > 0 and np.array_equal(ours, art)


def test_defense_registry_and_config_defaults():
    assert list(DEFENSES) == ["adv-mixed", "adv-pure", "adv-fast", "squeeze", "squeeze-mixed", "squeeze-pure",
                              "detector"]
    ratios = {name: make_defense_config(defense=name).ratio for name in DEFENSES}
    assert ratios == {"adv-mixed": 0.5, "adv-pure": 1.0, "adv-fast": 1.0, "squeeze": None,
                      "squeeze-mixed": 0.5, "squeeze-pure": 1.0, "detector": None}
    assert make_defense_config(defense="adv-fast").inner.kind == "fgsm-rs"
    cfg = make_defense_config(defense="squeeze", epochs=3, ratio=0.5)
    assert cfg.epochs is None and cfg.ratio is None  # training options do not apply
    assert (cfg.attacks, cfg.eps, cfg.bit_depth, cfg.target_fpr) == (("fgsm", "pgd"), (0.01, 0.03, 0.1), 5, 0.05)
    round_trip = json.loads(json.dumps(__import__("artgenre.io", fromlist=["to_jsonable"]).to_jsonable(cfg)))
    assert DefenseConfig.from_dict(round_trip) == cfg
    # Attack parameters of the evaluation sweep are part of the config and survive JSON.
    cfg = make_defense_config(defense="detector", attack_params=("pgd.steps=2", "art:SquareAttack.norm=inf"),
                              attacks=("pgd", "art:SquareAttack"))
    assert cfg.resolved_attack_params() == {"pgd": {"steps": 2}, "art:SquareAttack": {"norm": np.inf}}
    round_trip = json.loads(json.dumps(__import__("artgenre.io", fromlist=["to_jsonable"]).to_jsonable(cfg)))
    assert ["pgd", "steps", 2] in round_trip["attack_params"] and DefenseConfig.from_dict(round_trip) == cfg


def test_every_defense_is_a_strategy_object():
    from artgenre.defenses.strategies import Defense

    for name, strategy in DEFENSES.items():
        assert isinstance(strategy, Defense) and strategy.name == name and strategy.summary
        assert strategy.trains == (strategy.ratio is not None) == (strategy.inner is not None)
    fast = make_defense_config(defense="adv-fast", guard_size=9)
    assert DEFENSES["adv-fast"].record_fields(fast)["guard_size"] == 9
    assert DEFENSES["adv-mixed"].record_fields(fast)["guard_size"] is None
    assert DEFENSES["squeeze-mixed"].training_preprocessing(make_defense_config(defense="squeeze-mixed"))
    assert DEFENSES["adv-mixed"].training_preprocessing(make_defense_config(defense="adv-mixed")) is None


# ---------------------------------------------------------------------------- run_defense


K = 4


def _stripes_split(per_class: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), per_class)
    x = rng.uniform(0.0, 0.6, size=(len(y), 1, SIDE, SIDE)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, 0, 6 * c : 6 * c + 4, :] += 0.35
    return Split(x=np.clip(x, 0, 1), y=y.astype(np.int64),
                 track=np.array([f"s{seed}.c{c}.t{i // 2}" for i, c in enumerate(y)]))


@pytest.fixture(scope="module")
def stripes() -> Dataset:
    return Dataset(name="stripes", genres=tuple(f"g{i}" for i in range(K)), train=_stripes_split(6, 1),
                   val=_stripes_split(4, 2), test=_stripes_split(3, 3))


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory, stripes):
    """A results folder with a (briefly) trained baseline cnn."""
    from artgenre.training import run_training

    out = tmp_path_factory.mktemp("defense-results")
    run_training(make_train_config(model="cnn", epochs=2, batch_size=12, device="cpu", out=str(out)),
                 data=stripes, progress=False)
    return out


def _config(out, defense, **kw):
    base = dict(model="cnn", defense=defense, epochs=1, limit=8, eps=(0.03,), device="cpu", out=str(out),
                guard_size=8, eval_batch_size=16)
    return make_defense_config(**{**base, **kw})


def test_run_defense_adversarial_training_writes_results_and_resumes(results_dir, stripes, monkeypatch):
    from artgenre.defenses import run_defense

    result = run_defense(_config(results_dir, "adv-pure"), data=stripes, progress=False)
    path = results_dir / "defense-cnn-adv-pure.json"
    assert json.loads(path.read_text()) == result
    for key in ("kind", "defense", "model", "dataset", "config", "meta", "clean", "baseline_clean",
                "train_seconds", "baseline_train_seconds", "cells", "detector"):
        assert key in result
    assert result["kind"] == "defense" and result["detector"] is None and result["complete"]
    baseline = json.loads((results_dir / "train-cnn.json").read_text())
    assert result["baseline_train_seconds"] == baseline["train_seconds"]
    assert result["train_seconds"] > 0
    assert result["total_train_seconds"] == pytest.approx(result["train_seconds"] + baseline["train_seconds"])
    assert [(c["attack"], c["eps"], c["adaptive"]) for c in result["cells"]] == [("fgsm", 0.03, True),
                                                                                 ("pgd", 0.03, True)]
    assert result["clean"]["segment_accuracy"]["n"] == 8
    trained = json.loads((results_dir / "train-cnn-adv-pure.json").read_text())
    assert trained["kind"] == "train" and trained["defense"] == "adv-pure"
    assert trained["inner_attack"]["kind"] == "pgd" and trained["ratio"] == 1.0
    assert (results_dir / "checkpoints" / "cnn-adv-pure.pt").is_file()

    # A rerun neither retrains nor recomputes a cell...
    def boom(*a, **k):
        raise AssertionError("should have resumed")

    monkeypatch.setattr("artgenre.defenses.adversarial.adversarial_fit", boom)
    monkeypatch.setattr("artgenre.attacks.make_attack", boom)
    again = run_defense(_config(results_dir, "adv-pure"), data=stripes, progress=False)
    assert again["cells"] == result["cells"] and again["train_seconds"] == result["train_seconds"]
    # ...and a new ε only adds its cells.
    monkeypatch.undo()
    more = run_defense(_config(results_dir, "adv-pure", eps=(0.03, 0.1)), data=stripes, progress=False)
    assert [c for c in more["cells"] if c["eps"] == 0.03] == result["cells"]
    assert len(more["cells"]) == 4
    # A narrower rerun computes nothing and keeps every earlier cell in the file.
    monkeypatch.setattr("artgenre.attacks.make_attack", boom)
    narrow = run_defense(_config(results_dir, "adv-pure", attacks=("fgsm",), eps=(0.1,)), data=stripes,
                         progress=False)
    key = lambda c: (c["attack"], c["eps"], c["adaptive"])  # noqa: E731
    assert sorted(map(key, narrow["cells"])) == sorted(map(key, more["cells"]))
    assert json.loads(path.read_text())["cells"] == narrow["cells"]
    # Another limit is another evaluation: refused, the file is kept.
    from artgenre.io import ResultConflictError

    with pytest.raises(ResultConflictError, match=r"defense-cnn-adv-pure\.json.*config\.limit: file 8, this run 6"):
        run_defense(_config(results_dir, "adv-pure", limit=6), data=stripes, progress=False)
    assert json.loads(path.read_text())["cells"] == narrow["cells"]


def test_run_defense_squeeze_and_detector(results_dir, stripes, monkeypatch):
    from artgenre.defenses import run_defense

    squeeze = run_defense(_config(results_dir, "squeeze", attacks=("pgd",)), data=stripes, progress=False)
    assert squeeze["train_seconds"] == 0.0 and squeeze["training"] is None
    assert sorted(c["adaptive"] for c in squeeze["cells"]) == [False, True]
    assert not (results_dir / "train-cnn-squeeze.json").exists()
    # Defense results carry the automatic checks, adaptive vs non-adaptive among them.
    checks = {c["name"]: c for c in squeeze["checks"]}
    assert "pgd: adaptive not weaker than non-adaptive" in checks
    assert checks["pgd near chance at the largest ε (adaptive)"]["passed"] is None
    assert squeeze["schema_version"] == 2 and squeeze["config"]["attack_params"] == []

    det = run_defense(_config(results_dir, "detector", attacks=("pgd",), target_fpr=0.1), data=stripes,
                      progress=False)
    block = det["detector"]
    n_val = len(stripes.val)
    assert block["fpr_val"]["n"] == n_val and block["fpr_val"]["value"] <= 0.1 + 1 / n_val
    assert block["target_fpr"] == 0.1 and block["threshold"] >= 0
    assert [(p["attack"], p["adaptive"]) for p in block["per_attack"]] == [("pgd", False), ("detector-pgd", True)]
    # Classifier cells: white-box (credited); the detector-aware attack's cells are kept apart.
    assert [c["adaptive"] for c in det["cells"]] == [False]
    assert [(c["attack"], c["adaptive"]) for c in det["detector_cells"]] == [("detector-pgd", True)]
    # The detector-aware attack counts the samples it steps (`artgenre.pass_counts`): at most
    # steps + 1 per start and sample (defaults: 20 steps, 1 start).
    (cell,) = det["detector_cells"]
    assert 0 < cell["passes"]["gradient"] <= 21 * len(stripes.test)
    # The guarded system's worst case per sample is at most each attack's reject accuracy.
    (worst,) = block["worst_case"]
    assert worst["attacks"] == ["detector-pgd (adaptive)", "pgd"]
    assert all(worst["reject_accuracy"]["value"] <= p["reject_accuracy"]["value"] for p in block["per_attack"])
    assert worst["reject_accuracy"]["value"] <= block["clean_reject_accuracy"]["value"]
    # The classifier's worst case over its credited cells, and the strength block of check (a).
    assert [(r["eps"], r["adaptive"]) for r in det["robust"]] == [(0.03, None)]
    assert det["strength"]["cells"] and "worst case converged (stronger PGD)" in {c["name"] for c in det["checks"]}
    assert any(c["name"].endswith("[detector-aware]") for c in det["checks"])
    for p in block["per_attack"]:
        assert p["auc"] is None or 0.0 <= p["auc"] <= 1.0
        assert set(p["roc"]) == {"fpr", "tpr"}
        assert 0.0 <= p["reject_accuracy"]["value"] <= 1.0
    # The detector guards the unchanged baseline: clean accuracy equals the baseline's.
    assert det["clean"] == det["baseline_clean"]

    # Resuming keeps cells *and* detector rows (no attack is rerun).
    def boom(*a, **k):
        raise AssertionError("should have resumed")

    monkeypatch.setattr("artgenre.attacks.make_attack", boom)
    again = run_defense(_config(results_dir, "detector", attacks=("pgd",), target_fpr=0.1), data=stripes,
                        progress=False)
    assert again["detector"]["per_attack"] == block["per_attack"]
    assert again["cells"] == det["cells"] and again["detector_cells"] == det["detector_cells"]


def test_defend_cli_smoke(results_dir, stripes, monkeypatch, tmp_path):
    import shutil

    import artgenre.cli  # noqa: F401 - attaches the commands
    import artgenre.defenses
    from typer.testing import CliRunner

    from artgenre.cli.app import app

    seen = {}
    real = artgenre.defenses.run_defense

    def run_on_stripes(config, **kw):
        seen["config"] = config
        return real(config, data=stripes, progress=False)

    monkeypatch.setattr(artgenre.defenses, "run_defense", run_on_stripes)
    # The shared folder holds a detector result of other settings, which is never overwritten:
    # this run gets a copy with the baseline only.
    results_dir = shutil.copytree(results_dir, tmp_path / "results", ignore=shutil.ignore_patterns("defense-*"))
    res = CliRunner().invoke(app, ["defend", "--model", "cnn", "--defense", "detector", "--attack", "fgsm",
                                   "--eps", "0.03", "--limit", "8", "--device", "cpu", "--bit-depth", "4",
                                   "--out", str(results_dir)])
    assert res.exit_code == 0, res.output
    cfg = seen["config"]
    assert (cfg.defense, cfg.bit_depth, cfg.eps, cfg.attacks, cfg.limit) == ("detector", 4, (0.03,), ("fgsm",), 8)
    assert "Squeezing detector" in res.output and "baseline" in res.output
    assert "defense-cnn-detector.json" in res.output.replace("\n", "")
    bad = CliRunner().invoke(app, ["defend", "--defense", "bogus", "--out", str(results_dir)])
    assert bad.exit_code != 0 and "valid defenses" in str(bad.exception)
