"""ε sweeps (artgenre.attacks.cells), the minimal-norm block, automatic checks, run_attack (resume,
files) and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from artgenre.art_adapter import as_art_classifier
from artgenre.attacks import ATTACKS, PreparedAttack, is_eps_bounded
from artgenre.data.dataset import Dataset, Split
from artgenre.evaluation import evaluate
from artgenre.stats import proportion
from artgenre.attacks.cells import sweep_cells
from artgenre.attacks.checks import run_checks
from artgenre.attacks.minimal import accuracy_at_eps as deepfool_accuracy_at_eps
from artgenre.attacks.minimal import minimal_norm_block as deepfool_block
from artgenre.attacks.run import AttackConfig, run_attack
from artgenre.runs import stratified_order

N_CLASSES, SIDE = 3, 16
DEVICE = "cpu"  # tests pin the CPU so results do not depend on the machine having a GPU
GENRES3 = ("blues", "classical", "country")


def make_split(n_per_class: int = 6, seed: int = 0) -> Split:
    """Class k = a bright band in rows [5k, 5k+4]; two consecutive segments share a track."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.35, size=(N_CLASSES * n_per_class, 1, SIDE, SIDE)).astype(np.float32)
    y = np.repeat(np.arange(N_CLASSES), n_per_class).astype(np.int64)
    for i, label in enumerate(y):
        x[i, 0, 5 * label : 5 * label + 4, :] += 0.5
    track = np.array([f"{GENRES3[label]}.{seed}{i // 2:04d}" for i, label in enumerate(y)])
    return Split(x=np.clip(x, 0, 1), y=y, track=track)


def make_cnn(seed: int = 0, steps: int = 40):
    """The real `cnn` architecture at 16x16, briefly trained (checkpoint-compatible)."""
    from artgenre.models import build_model

    torch.manual_seed(seed)
    model = build_model(name="cnn", num_classes=N_CLASSES, input_size=SIDE)
    split = make_split(n_per_class=8, seed=seed + 50)
    xt, yt = torch.from_numpy(split.x), torch.from_numpy(split.y)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    model.eval()
    return model


def wrap(model):
    return as_art_classifier(model, device=DEVICE, input_shape=(1, SIDE, SIDE), nb_classes=N_CLASSES)


@pytest.fixture(scope="module")
def model():
    return make_cnn()


@pytest.fixture(scope="module")
def clf(model):
    return wrap(model)


@pytest.fixture(scope="module")
def split():
    return make_split(n_per_class=4, seed=1)


def _same_value(a: dict, b: dict) -> bool:
    return (a["value"], a["k"], a["n"]) == (b["value"], b["k"], b["n"])


def _clean_eval(clf, split):
    return evaluate(logits=clf.predict(split.x), y=split.y, track=split.track, n_classes=N_CLASSES)


def test_model_is_trained(clf, split):
    assert _clean_eval(clf, split)["segment_accuracy"]["value"] >= 0.75


def test_sweep_cells_schema_and_eps_zero_equals_clean_exactly(clf, split):
    seen = []
    cells = sweep_cells(
        craft_classifier=clf, split=split, attacks=["fgsm", "noise"], eps=[0.05, 0.0], batch_size=8, seed=0,
        on_adversarial=lambda a, e, x: seen.append((a, e, x.shape)), progress=False,
    )
    assert [(c["attack"], c["eps"]) for c in cells] == [("fgsm", 0.0), ("fgsm", 0.05), ("noise", 0.0), ("noise", 0.05)]
    assert seen == [(c["attack"], c["eps"], split.x.shape) for c in cells]
    clean = _clean_eval(clf, split)
    for c in cells:
        assert c["eps_db"] == pytest.approx(80 * c["eps"]) and c["adaptive"] is False
        assert set(c) >= {"segment_accuracy", "track_accuracy", "success_rate", "l2", "linf",
                          "perturbation_db", "seconds", "confusion"}
        assert np.sum(c["confusion"]) == len(split)
        # Per-sample outcomes, in the attacked-sample order, agree with the aggregate numbers.
        assert c["threat"] == "spectrogram" and len(c["correct"]) == len(c["pred"]) == len(split)
        assert sum(c["correct"]) == c["segment_accuracy"]["k"]
        assert c["correct"] == [int(p == t) for p, t in zip(c["pred"], split.y)]
        assert c["perturbation_db"]["max_abs"] <= 80 * c["eps"] + 1e-4
        # Segment-level intervals are the track bootstrap (never narrower than Wilson).
        sa = c["segment_accuracy"]
        assert sa["ci_method"] == "track-bootstrap" and sa["n_tracks"] == len(set(split.track))
        assert c["robust_accuracy"]["k"] == sum(int(p == t == q) for p, t, q in
                                                zip(c["pred"], split.y, clf.predict(split.x).argmax(1)))
        if c["eps"] == 0:
            assert _same_value(c["segment_accuracy"], clean["segment_accuracy"])
            assert sa["ci_low"] <= clean["segment_accuracy"]["ci_low"] + 1e-12
            assert sa["ci_high"] >= clean["segment_accuracy"]["ci_high"] - 1e-12
            assert c["robust_accuracy"]["value"] == sa["value"]
            assert c["track_accuracy"] == clean["track_accuracy_vote"]
            assert c["success_rate"]["k"] == 0 and c["l2"]["mean"] == 0
        else:
            assert c["segment_accuracy"]["value"] <= clean["segment_accuracy"]["value"]
            assert c["linf"]["max"] <= c["eps"] + 1e-6
    fgsm = cells[1]
    assert fgsm["success_rate"]["n"] == clean["segment_accuracy"]["k"]
    # FGSM moves interior pixels by exactly ε, so its median L∞ is ε.
    assert fgsm["linf"]["median"] == pytest.approx(0.05, abs=1e-6)


def test_sweep_cells_is_reproducible_per_cell(clf, split):
    # A cell's value depends only on (seed, attack, ε), not on the cells computed before it.
    alone = sweep_cells(craft_classifier=clf, split=split, attacks=["pgd"], eps=[0.03], batch_size=8,
                        seed=5, params={"pgd": {"steps": 3}}, progress=False)
    after = sweep_cells(craft_classifier=clf, split=split, attacks=["noise", "pgd"], eps=[0.01, 0.03],
                        batch_size=8, seed=5, params={"pgd": {"steps": 3}}, progress=False)
    a, b = alone[0], after[-1]
    assert (b["attack"], b["eps"]) == ("pgd", 0.03)
    assert a["segment_accuracy"] == b["segment_accuracy"]
    assert a["l2"]["mean"] == pytest.approx(b["l2"]["mean"], rel=1e-6)


def _count_generate(monkeypatch):
    calls = []
    original = PreparedAttack.generate

    def counting(self, x, y=None):
        calls.append((self.name, self.eps, len(x)))
        return original(self, x, y)

    monkeypatch.setattr(PreparedAttack, "generate", counting)
    return calls


def test_sweep_cells_saves_after_each_cell_and_resumes(clf, split, monkeypatch):
    calls = _count_generate(monkeypatch)
    saved = []
    first = sweep_cells(craft_classifier=clf, split=split, attacks=["fgsm", "pgd"], eps=[0.0, 0.02, 0.04],
                        batch_size=8, seed=0, params={"pgd": {"steps": 2}}, save=lambda c: saved.append(list(c)),
                        progress=False)
    assert [len(s) for s in saved] == [1, 2, 3, 4, 5, 6]
    assert {(a, e) for a, e, _ in calls} == {("fgsm", 0.02), ("fgsm", 0.04), ("pgd", 0.02), ("pgd", 0.04)}
    # Interrupted after 4 cells: only the remaining 2 are computed on resume.
    calls.clear()
    resumed = sweep_cells(craft_classifier=clf, split=split, attacks=["fgsm", "pgd"], eps=[0.0, 0.02, 0.04],
                          batch_size=8, seed=0, params={"pgd": {"steps": 2}}, existing_cells=saved[3],
                          progress=False)
    assert {(a, e) for a, e, _ in calls} == {("pgd", 0.02), ("pgd", 0.04)}
    assert [c["segment_accuracy"] for c in resumed] == [c["segment_accuracy"] for c in first]
    # Adaptive cells are distinct from non-adaptive ones of the same (attack, ε).
    calls.clear()
    adaptive = sweep_cells(craft_classifier=clf, split=split, attacks=["fgsm"], eps=[0.02], batch_size=8,
                           seed=0, existing_cells=first, adaptive=True, progress=False)
    assert len(calls) == 1 and adaptive[0]["adaptive"] is True


def test_sweep_cells_transfer_evaluates_the_target(clf, split):
    torch.manual_seed(123)
    source = wrap(make_cnn(seed=7, steps=5))
    cells = sweep_cells(craft_classifier=source, eval_classifier=clf, split=split, attacks=["fgsm"],
                        eps=[0.0, 0.05], batch_size=8, seed=0, progress=False)
    assert _same_value(cells[0]["segment_accuracy"], _clean_eval(clf, split)["segment_accuracy"])
    white = sweep_cells(craft_classifier=clf, split=split, attacks=["fgsm"], eps=[0.05], batch_size=8,
                        seed=0, progress=False)
    # The examples differ (other model's gradients), so the perturbations differ.
    assert cells[1]["l2"]["mean"] != pytest.approx(white[0]["l2"]["mean"], rel=1e-9) or \
        cells[1]["segment_accuracy"] != white[0]["segment_accuracy"]


def test_deepfool_block_reports_norms_and_monotone_accuracy(clf, split):
    eps = [0.0, 0.01, 0.05, 0.1, 0.3, 1.0]
    block = deepfool_block(craft_classifier=clf, split=split, eps=eps, batch_size=8, seed=0,
                           params={"max_iter": 20}, progress=False)
    clean = _clean_eval(clf, split)["segment_accuracy"]
    assert block["overshoot"] == 0.02 and block["max_iter"] == 20
    n_succ = block["success_rate"]["k"]
    assert block["success_rate"]["n"] == clean["k"] and n_succ > 0
    assert len(block["l2"]["values"]) == len(block["linf"]["values"]) == n_succ
    assert all(li > 0 and l2 >= li for l2, li in zip(block["l2"]["values"], block["linf"]["values"]))
    accs = [p["accuracy"]["value"] for p in block["accuracy_at_eps"]]
    assert [p["eps"] for p in block["accuracy_at_eps"]] == eps
    assert accs[0] == clean["value"]
    assert all(b <= a for a, b in zip(accs, accs[1:]))
    assert accs[-1] == pytest.approx((clean["k"] - n_succ) / len(split))
    # Counted rows: at least one class-gradient set per attacked sample, at most max_iter + 1.
    rows, k = block["passes"]["class_gradient"], clean["k"]
    assert rows % N_CLASSES == 0 and k * N_CLASSES <= rows <= k * 21 * N_CLASSES
    assert block["passes"]["forward"] >= 2 * k


def test_deepfool_accuracy_at_eps_counts_broken_samples():
    out = deepfool_accuracy_at_eps(linf_values=[0.02, 0.05, 0.05, 0.2], n_correct=6, n=10, eps=[0.1, 0, 0.05])
    assert [p["eps"] for p in out] == [0.0, 0.05, 0.1]
    assert [p["accuracy"]["k"] for p in out] == [6, 3, 3]
    assert out[1]["accuracy"] == proportion(3, 10)


def _cell(attack, eps, k, n=100, adaptive=False, linf_max=None):
    return {"attack": attack, "eps": eps, "adaptive": adaptive, "segment_accuracy": proportion(k, n),
            "linf": {"mean": 0, "median": 0, "max": eps if linf_max is None else linf_max}}


def _by_name(checks):
    return {c["name"]: c for c in checks}


def test_run_checks_pass_on_a_sane_sweep():
    cells = [_cell("fgsm", 0.0, 90), _cell("fgsm", 0.05, 50), _cell("fgsm", 0.1, 40),
             _cell("pgd", 0.0, 90), _cell("pgd", 0.05, 20), _cell("pgd", 0.1, 5),
             _cell("noise", 0.0, 90), _cell("noise", 0.05, 88), _cell("noise", 0.1, 85)]
    checks = _by_name(run_checks(cells=cells, n_classes=10))
    for name in ("pgd ≤ fgsm", "pgd near chance at the largest ε", "noise weaker than fgsm",
                 "fgsm: accuracy non-increasing in ε", "pgd: perturbation within ε"):
        assert checks[name]["passed"] is True, checks[name]
    assert not any(n.startswith("transfer") for n in checks)


def test_run_checks_flag_each_kind_of_failure(caplog):
    cells = [_cell("fgsm", 0.0, 90), _cell("fgsm", 0.05, 30), _cell("fgsm", 0.1, 60),
             _cell("pgd", 0.0, 90), _cell("pgd", 0.05, 50), _cell("pgd", 0.1, 55, linf_max=0.2),
             _cell("noise", 0.05, 10)]
    with caplog.at_level("WARNING", logger="artgenre"):
        checks = _by_name(run_checks(cells=cells, n_classes=10))
    assert checks["pgd ≤ fgsm"]["passed"] is False and "ε=0.05" in checks["pgd ≤ fgsm"]["detail"]
    assert checks["fgsm: accuracy non-increasing in ε"]["passed"] is False
    assert checks["pgd near chance at the largest ε"]["passed"] is False
    assert checks["noise weaker than fgsm"]["passed"] is False
    assert checks["pgd: perturbation within ε"]["passed"] is False
    assert caplog.text.count("CHECK FAILED") == 5


def test_run_checks_tolerate_sampling_error_and_skip_what_is_missing():
    # PGD 1 point above FGSM on 20 samples is within FGSM's CI: not a failure.
    cells = [_cell("fgsm", 0.1, 2, n=20), _cell("pgd", 0.1, 3, n=20)]
    checks = _by_name(run_checks(cells=cells, n_classes=10, transfer=True))
    assert checks["pgd ≤ fgsm"]["passed"] is True
    assert checks["noise weaker than fgsm"]["passed"] is None
    assert checks["transfer weaker than white-box"]["passed"] is None
    assert checks["transfer weaker than white-box"]["detail"].startswith("skipped")


def test_run_checks_transfer_against_white_box():
    transfer = [_cell("pgd", 0.05, 70), _cell("pgd", 0.1, 60)]
    good = _by_name(run_checks(cells=transfer, n_classes=10, transfer=True,
                               whitebox_cells=[_cell("pgd", 0.05, 20), _cell("pgd", 0.1, 5)]))
    bad = _by_name(run_checks(cells=transfer, n_classes=10, transfer=True,
                              whitebox_cells=[_cell("pgd", 0.05, 90), _cell("pgd", 0.1, 5)]))
    assert good["transfer weaker than white-box"]["passed"] is True
    assert bad["transfer weaker than white-box"]["passed"] is False
    # A transfer attack need not break the target, so the chance-level check does not apply.
    assert good["pgd near chance at the largest ε"]["passed"] is None


def test_run_checks_separates_adaptive_cells():
    cells = [_cell("pgd", 0.1, 5), _cell("pgd", 0.1, 80, adaptive=True)]
    names = _by_name(run_checks(cells=cells, n_classes=10))
    assert names["pgd near chance at the largest ε (non-adaptive)"]["passed"] is True
    assert names["pgd near chance at the largest ε (adaptive)"]["passed"] is False


def test_stratified_order_is_a_balanced_seeded_permutation():
    y = np.repeat(np.arange(4), [10, 3, 7, 5])
    order = stratified_order(y=y, seed=0)
    assert sorted(order.tolist()) == list(range(len(y)))
    assert np.bincount(y[order[:8]], minlength=4).tolist() == [2, 2, 2, 2]
    assert not np.array_equal(order, stratified_order(y=y, seed=1))
    assert np.array_equal(order, stratified_order(y=y, seed=0))


def test_attack_config_normalises_and_serialises():
    assert AttackConfig(checkpoint="m.pt", attacks="pgd,fgsm,pgd").attacks == ("pgd", "fgsm")
    cfg = AttackConfig(checkpoint="m.pt", attacks="pgd,art:SquareAttack", eps="0.1, 0, 0.01",
                       params=("pgd.steps=50", "norm=inf"))
    assert cfg.eps == (0.0, 0.01, 0.1)
    assert cfg.attack_params() == {"pgd": {"steps": 50}, "art:SquareAttack": {"norm": math.inf}}
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert ["*", "norm", "inf"] in d["params"]


# --------------------------------------------------------------------------- run_attack / CLI


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, model):
    from artgenre.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "cnn.pt"
    save_checkpoint(path, model=model, model_name="cnn",
                    config={"model": "cnn", "data": {"dataset": "synth", "seed": 0}},
                    metrics={}, build_kwargs={"num_classes": N_CLASSES, "input_size": SIDE})
    return path


@pytest.fixture(scope="module")
def dataset():
    return Dataset(name="tiny", genres=GENRES3, train=make_split(2, seed=3), val=make_split(2, seed=4),
                   test=make_split(n_per_class=5, seed=5))


def _config(checkpoint, out, **kw):
    base = dict(checkpoint=str(checkpoint), attacks=("fgsm", "pgd", "noise", "deepfool"),
                eps=(0.0, 0.01, 0.2), limit=12, batch_size=8, device=DEVICE, out=str(out), seed=0,
                params=(("pgd", "steps", 3), ("deepfool", "max_iter", 10)), n_examples=4)
    base.update(kw)
    return AttackConfig(**base)


def test_run_attack_writes_result_examples_and_resumes(checkpoint, dataset, tmp_path, monkeypatch):
    calls = _count_generate(monkeypatch)
    cfg = _config(checkpoint, tmp_path)
    result = run_attack(cfg, data=dataset, progress=False)
    path = tmp_path / "attack-cnn.json"
    on_disk = json.loads(path.read_text())
    assert on_disk == result and result["kind"] == "attack" and result["complete"] is True
    assert result["model"] == "cnn" and result["source_model"] is None and result["n_samples"] == 12
    assert len(result["cells"]) == 3 * 3 and result["deepfool"]["n"] == 12
    assert {c["name"] for c in result["checks"]} >= {"pgd ≤ fgsm", "noise weaker than fgsm"}
    # The limited subset is class-stratified: 4 of each of the 3 classes.
    assert result["clean"]["n_segments"] == 12 and np.sum(result["clean"]["confusion"], axis=1).tolist() == [4, 4, 4]
    for c in result["cells"]:
        if c["eps"] == 0:
            assert _same_value(c["segment_accuracy"], result["clean"]["segment_accuracy"])
    ex = result["examples"]
    result_indices = sorted(np.sort(stratified_order(y=dataset.test.y, seed=0)[:12]).tolist())
    assert ex["attack"] == "pgd" and ex["eps"] == 0.01 and len(ex["indices"]) == 4
    assert ex["roundtrip"]["method"] == "griffin-lim" and "skipped" in ex["roundtrip"]  # 32x32: not log-mels
    with np.load(tmp_path / ex["file"]) as z:
        assert z["clean"].shape == z["adversarial"].shape == (4, 1, SIDE, SIDE)
        assert np.abs(z["adversarial"] - z["clean"]).max() <= 0.01 + 1e-6
        assert np.array_equal(z["clean"], dataset.test.x[ex["indices"]])
        assert z["genres"].tolist() == list(GENRES3) and str(z["attack"]) == "pgd"
        pgd_cell = next(c for c in result["cells"] if c["attack"] == "pgd" and c["eps"] == 0.01)
        positions = [result_indices.index(i) for i in ex["indices"]]
        assert z["pred_adv"].tolist() == [pgd_cell["pred"][p] for p in positions]
        assert z["pred_clean"].shape == (4,)
    assert result["schema_version"] == 2 and result["config"]["partition"] == "test"
    n_first = len(calls)
    assert n_first > 0

    calls.clear()
    again = run_attack(cfg, data=dataset, progress=False)
    assert calls == []  # every cell, DeepFool and the examples were reused
    assert again["cells"] == result["cells"] and again["deepfool"] == result["deepfool"]

    # A new ε reuses the old cells and computes only the new ones.
    calls.clear()
    wider = run_attack(_config(checkpoint, tmp_path, eps=(0.0, 0.01, 0.05, 0.2)), data=dataset, progress=False)
    assert {(a, e) for a, e, _ in calls} == {("fgsm", 0.05), ("pgd", 0.05), ("noise", 0.05)}
    assert len(wider["deepfool"]["accuracy_at_eps"]) == 4

    # A narrower attack list and another ε grid add to the file: every earlier cell stays.
    calls.clear()
    narrow = run_attack(_config(checkpoint, tmp_path, attacks=("fgsm",), eps=(0.03,), params=()), data=dataset,
                        progress=False)
    # ... plus the stronger PGD of the convergence check at the new ε.
    assert {(a, e) for a, e, _ in calls} == {("fgsm", 0.03), ("pgd", 0.03)}
    cell_ids = {(c["attack"], c["eps"]) for c in narrow["cells"]}
    assert cell_ids == {(c["attack"], c["eps"]) for c in wider["cells"]} | {("fgsm", 0.03)}
    assert narrow["deepfool"] == wider["deepfool"] and narrow["examples"] == wider["examples"]
    assert json.loads(path.read_text()) == narrow

    # Another seed is another experiment: refused, naming the file and field; nothing written.
    from artgenre.io import ResultConflictError

    calls.clear()
    with pytest.raises(ResultConflictError, match=r"attack-cnn\.json.*seed: file 0, this run 1.*another --out"):
        run_attack(_config(checkpoint, tmp_path, seed=1), data=dataset, progress=False)
    assert calls == [] and json.loads(path.read_text()) == narrow
    other = run_attack(_config(checkpoint, tmp_path / "seed1", seed=1), data=dataset, progress=False)
    assert len(other["cells"]) == 3 * 3


def test_run_attack_transfer_names_file_and_checks_against_white_box(checkpoint, dataset, tmp_path):
    from artgenre.checkpoint import save_checkpoint

    source = tmp_path / "src.pt"
    save_checkpoint(source, model=make_cnn(seed=9, steps=10), model_name="cnn",
                    config={"model": "cnn", "data": {"dataset": "synth"}}, metrics={},
                    build_kwargs={"num_classes": N_CLASSES, "input_size": SIDE})
    kw = dict(attacks=("fgsm",), eps=(0.0, 0.2), params=(), n_examples=0)
    run_attack(_config(checkpoint, tmp_path, **kw), data=dataset, progress=False)
    result = run_attack(_config(checkpoint, tmp_path, source_checkpoint=str(source), **kw),
                        data=dataset, progress=False)
    assert (tmp_path / "attack-cnn-from-cnn.json").is_file() and result["source_model"] == "cnn"
    check = {c["name"]: c for c in result["checks"]}["transfer weaker than white-box"]
    assert check["passed"] in (True, False) and not check["detail"].startswith("skipped")


def test_cli_attack_smoke(checkpoint, dataset, tmp_path, monkeypatch):
    import artgenre.cli  # noqa: F401  (attaches the commands)
    from typer.testing import CliRunner

    import artgenre.attacks.run as attack_run
    from artgenre.cli.app import app

    monkeypatch.setattr(attack_run, "load_checkpoint_data", lambda **kw: dataset)
    res = CliRunner().invoke(app, [
        "attack", "--checkpoint", str(checkpoint), "--attack", "fgsm,pgd,deepfool", "--eps", "0,0.05",
        "--limit", "6", "--batch-size", "6", "--device", DEVICE, "--out", str(tmp_path),
        "--param", "pgd.steps=2", "--param", "deepfool.max_iter=5", "--n-examples", "2",
    ])
    assert res.exit_code == 0, res.output
    assert "segment accuracy vs ε" in res.output and "DeepFool minimal perturbations" in res.output
    assert "Automatic checks" in res.output and "pgd ≤ fgsm" in res.output
    assert (tmp_path / "attack-cnn.json").is_file() and (tmp_path / "attack-cnn-examples.npz").is_file()


@pytest.mark.parametrize("name", [a for a in ATTACKS if is_eps_bounded(name=a)])
def test_every_eps_bounded_attack_sweeps(name, clf, split):
    cells = sweep_cells(craft_classifier=clf, split=split, attacks=[name], eps=[0.0, 0.05], batch_size=8,
                        seed=0, progress=False)
    assert _same_value(cells[0]["segment_accuracy"], _clean_eval(clf, split)["segment_accuracy"])
    assert cells[1]["segment_accuracy"]["value"] <= cells[0]["segment_accuracy"]["value"]
    assert cells[1]["linf"]["max"] <= 0.05 + 1e-6


def test_deepfool_block_attacks_only_clean_correct_samples(clf, split, monkeypatch):
    calls = _count_generate(monkeypatch)
    y = split.y.copy()
    y[::2] = (y[::2] + 1) % N_CLASSES  # every other segment relabelled: now misclassified
    wrong = Split(x=split.x, y=y, track=np.array([f"t{i}" for i in range(len(y))]))
    n_correct = int((clf.predict(wrong.x).argmax(1) == wrong.y).sum())
    assert 0 < n_correct < len(y)
    block = deepfool_block(craft_classifier=clf, split=wrong, eps=[0.0, 0.5], batch_size=64, seed=0,
                           params={"max_iter": 5}, progress=False)
    assert sum(n for _, _, n in calls) == n_correct == block["n_correct"]
    assert block["accuracy_at_eps"][0]["accuracy"]["k"] == n_correct


def test_deepfool_block_runs_samples_side_by_side_on_a_cpu(clf, split, monkeypatch):
    """On a CPU the minimal-norm block crafts one sample per call, as many calls at a time as
    torch has threads; the block is the one crafted one call after another on one thread."""
    import artgenre.attacks.cells as cells
    from artgenre.runtime import torch_threads

    seen = []
    real = cells.generate_chunks

    def spy(attack, x, y, chunk, advance, workers=1):
        seen.append((chunk, workers))
        return real(attack, x, y, chunk, advance, workers=workers)

    monkeypatch.setattr(cells, "generate_chunks", spy)
    kwargs = dict(craft_classifier=clf, split=split, eps=[0.0, 0.05], batch_size=8, seed=0,
                  params={"max_iter": 10}, progress=False)
    with torch_threads(2):
        side_by_side = deepfool_block(**kwargs)
        # ART's own classifier races on model.zero_grad() in class_gradient: never side by side.
        from art.estimators.classification import PyTorchClassifier

        arts = PyTorchClassifier(model=clf.model, loss=nn.CrossEntropyLoss(), input_shape=(1, SIDE, SIDE),
                                 nb_classes=N_CLASSES, clip_values=(0.0, 1.0), device_type="cpu")
        deepfool_block(**{**kwargs, "craft_classifier": arts})
    with torch_threads(1):
        one_by_one = deepfool_block(**kwargs)
    assert seen == [(1, 2), (1, 1), (1, 1)]
    drop = ("seconds",)
    assert {k: v for k, v in side_by_side.items() if k not in drop} == \
        {k: v for k, v in one_by_one.items() if k not in drop}


def test_crafted_cells_record_the_passes_their_attack_ran(clf, split):
    """`artgenre.pass_counts` per cell: FGSM one gradient per sample, PGD one per step, APGD one
    per iteration on the segments it attacked (a cascade: those FGSM and PGD left); an ε = 0 cell
    crafts nothing and records none."""
    n = len(split.y)
    cells = sweep_cells(craft_classifier=clf, split=split, attacks=["fgsm", "pgd", "apgd-ce"], eps=[0.0, 0.05],
                        batch_size=8, seed=0, params={"pgd": {"steps": 3}, "apgd-ce": {"max_iter": 5}},
                        progress=False)
    by = {(c["attack"], c["eps"]): c for c in cells}
    assert all("passes" not in by[(a, 0.0)] for a in ("fgsm", "pgd", "apgd-ce"))
    assert by[("fgsm", 0.05)]["passes"] == {"gradient": n}
    assert by[("pgd", 0.05)]["passes"] == {"gradient": 3 * n}
    assert by[("apgd-ce", 0.05)].get("passes", {}).get("gradient", 0) == 5 * sum(by[("apgd-ce", 0.05)]["cascade"]["attacked"])
