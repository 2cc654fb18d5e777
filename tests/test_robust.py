"""Per-sample worst-case robust accuracy and the strength checks (convergence, masking, chance)."""

from __future__ import annotations

import numpy as np
import pytest

from artgenre.attacks.cells import sweep_cells
from artgenre.attacks.robust import robust_entries
from artgenre.attacks.strength import (
    chance_every_eps_check,
    convergence_check,
    masking_check,
    strength_block,
    strength_params,
)
from artgenre.stats import proportion
from test_attacks import make_data, trained_classifier


def _c(attack, eps, correct, adaptive=False, **kw):
    return {"attack": attack, "eps": eps, "adaptive": adaptive, "correct": list(correct), **kw}


def test_worst_case_is_per_sample_and_never_credits_clean_wrong_segments():
    clean = [1, 1, 1, 1, 0, 0]
    track = ["a", "a", "b", "b", "c", "c"]
    # Each attack alone leaves 3 of 6 right, but they break different samples; the last two
    # were wrong on clean input and an attack "fixing" them must not count.
    cells = [_c("fgsm", 0.1, [1, 1, 0, 0, 1, 1]), _c("pgd", 0.1, [0, 1, 1, 0, 1, 0]),
             _c("pgd", 0.0, clean)]
    entries = {e["eps"]: e for e in robust_entries(cells=cells, clean_correct=clean, track=track)}
    assert entries[0.1]["robust_accuracy"]["k"] == 1 and entries[0.1]["robust_accuracy"]["n"] == 6
    assert entries[0.1]["attacks"] == ["fgsm", "pgd"] and entries[0.1]["adaptive"] is False
    assert entries[0.1]["threat"] == "spectrogram" and entries[0.1]["norm"] == "inf"
    assert entries[0.0]["robust_accuracy"]["k"] == 4
    assert entries[0.1]["robust_accuracy"]["ci_method"] == "track-bootstrap"


def test_deepfool_breaks_a_sample_at_eps_through_its_minimal_linf():
    clean = [1, 1, 1, 0]
    block = {"attack": "deepfool", "broken_linf": [0.02, None, 0.3, None]}
    cells = [_c("fgsm", 0.05, [1, 1, 1, 0]), _c("fgsm", 0.5, [1, 1, 1, 0])]
    out = {e["eps"]: e for e in robust_entries(cells=cells, clean_correct=clean, track=list("abcd"), minimal=block)}
    assert out[0.05]["robust_accuracy"]["k"] == 2 and "deepfool" in out[0.05]["attacks"]
    assert out[0.5]["robust_accuracy"]["k"] == 1
    # A block from before per-sample norms existed is left out rather than guessed.
    old = robust_entries(cells=cells, clean_correct=clean, track=list("abcd"), minimal={"attack": "deepfool"})
    assert all("deepfool" not in e["attacks"] for e in old)


def test_defense_entries_merge_adaptive_and_non_adaptive_cells():
    clean = [1, 1, 1, 1]
    cells = [_c("pgd", 0.1, [0, 1, 1, 1]), _c("pgd", 0.1, [1, 0, 1, 1], adaptive=True),
             _c("pgd", 0.1, [1, 1, 1, 0], norm="l2rel")]
    out = robust_entries(cells=cells, clean_correct=clean, track=list("abcd"), merge_adaptive=True)
    inf = {e["adaptive"]: e["robust_accuracy"]["k"] for e in out if e["norm"] == "inf"}
    assert inf == {False: 3, True: 3, None: 2}
    # Budgets of another norm are another entry, never mixed into the L∞ worst case.
    assert [(e["norm"], e["adaptive"], e["robust_accuracy"]["k"]) for e in out if e["norm"] == "l2rel"] == \
        [("l2rel", None, 3)]


def test_masking_check_flags_square_beating_the_gradient_attacks():
    def cell(attack, k, n=100):
        return {"attack": attack, "eps": 0.05, "adaptive": False, "segment_accuracy": proportion(k, n)}

    ok = masking_check(cells=[cell("pgd", 20), cell("square", 25)])
    bad = masking_check(cells=[cell("pgd", 60), cell("square", 20)])
    assert ok[0]["passed"] is True and bad[0]["passed"] is False and "masking" in bad[0]["detail"]
    assert masking_check(cells=[cell("pgd", 60)]) == []


def test_chance_check_applies_at_every_larger_eps():
    def cell(attack, eps, k):
        return {"attack": attack, "eps": eps, "adaptive": False, "segment_accuracy": proportion(k, 100)}

    good = [cell("fgsm", 0.03, 15), cell("pgd", 0.03, 5), cell("pgd", 0.1, 3)]
    bad = [cell("fgsm", 0.03, 15), cell("pgd", 0.03, 5), cell("pgd", 0.1, 60)]
    assert chance_every_eps_check(cells=good, n_classes=10)[0]["passed"] is True
    failed = chance_every_eps_check(cells=bad, n_classes=10)[0]
    assert failed["passed"] is False and "ε=0.1" in failed["detail"]


@pytest.fixture(scope="module")
def tiny():
    from artgenre.data.dataset import Split

    x, y = make_data(n_per_class=10, seed=2)
    # Two consecutive segments share a track, as in a real split.
    return trained_classifier(), Split(x=x, y=y, track=np.array([f"t{i // 2}" for i in range(len(y))]))


def _convergence(clf, split, params):
    eps = [0.2]
    cells = sweep_cells(craft_classifier=clf, split=split, attacks=["pgd"], eps=eps, batch_size=64, seed=0,
                        params=params, progress=False)
    clean = clf.predict(split.x).argmax(1) == split.y
    block = strength_block(craft_classifier=clf, eval_classifier=clf, split=split, eps=[0.0, *eps], batch_size=64,
                           seed=0, params=params, progress=False, cells=cells, clean_correct=clean)
    # Only the segments still robust under the run's PGD are attacked again.
    robust = clean & np.asarray(cells[0]["correct"], dtype=bool)
    assert block["cells"][0]["indices"] == [int(i) for i in np.flatnonzero(robust)]
    return convergence_check(cells=cells, strength=block, clean_correct=clean, track=split.track)[0], cells, block


def test_a_weak_pgd_fails_the_convergence_check_and_the_normal_one_passes(tiny):
    clf, split = tiny
    weak, weak_cells, block = _convergence(clf, split, {"pgd": {"steps": 1}})
    assert strength_params(params={"pgd": {"steps": 1}})["steps"] == 40 and block["n"] == len(split)
    assert weak["passed"] is False, (weak, weak_cells[0]["robust_accuracy"])
    normal, _, _ = _convergence(clf, split, {})
    assert normal["passed"] is True, normal


def test_strength_block_resumes_and_keeps_other_eps(tiny):
    clf, split = tiny
    first = strength_block(craft_classifier=clf, eval_classifier=clf, split=split, eps=[0.05], batch_size=64,
                           seed=0, params={}, progress=False)
    seen = []
    again = strength_block(craft_classifier=clf, eval_classifier=clf, split=split, eps=[0.1], batch_size=64, seed=0,
                           params={}, previous=first, save=lambda b: seen.append(len(b["cells"])), progress=False)
    assert [c["eps"] for c in again["cells"]] == [0.05, 0.1] and seen == [2]
    assert again["cells"][0] == first["cells"][0]
    # Other parameters (a different subset definition) start afresh.
    other = strength_block(craft_classifier=clf, eval_classifier=clf, split=split, eps=[0.1], batch_size=64,
                           seed=0, params={"pgd": {"steps": 20}}, previous=again, progress=False)
    assert [c["eps"] for c in other["cells"]] == [0.1] and np.isfinite(other["cells"][0]["seconds"])
