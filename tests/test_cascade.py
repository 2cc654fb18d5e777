"""Cascade attacks (artgenre.attacks.cascade): run after the other attacks of a sweep, only on
the segments those left correct, with the ensemble's adversarial set as their cell."""

from __future__ import annotations

import numpy as np
import pytest

from artgenre.attacks import ATTACKS
from artgenre.attacks.cascade import cascade_after, ensemble, run_order
from artgenre.attacks.cells import sweep_cells
from artgenre.attacks.robust import robust_mask
from artgenre.attacks.store import AdversarialStore
from artgenre.data.dataset import Split
from test_sweep import make_cnn, make_split, wrap

CASCADE = sorted(a for a in ATTACKS if ATTACKS[a].cascade)
EPS = 0.2
PARAMS = {"pgd": {"steps": 5, "step_ratio": 0.4}, "apgd-ce": {"max_iter": 5}, "apgd-dlr": {"max_iter": 5}}


@pytest.fixture(scope="module")
def model():
    return make_cnn(steps=8)


@pytest.fixture(scope="module")
def clf(model):
    return wrap(model)


@pytest.fixture(scope="module")
def split():
    """At `EPS` FGSM breaks some segments, PGD some others, some are left; two labels are
    wrong, so two segments are (very likely) clean-wrong."""
    s = make_split(n_per_class=6, seed=3)
    y = s.y.copy()
    y[[0, 1]] = 1  # both segments of one blues track (labels are per track)
    return Split(x=s.x, y=y, track=s.track)


def _sweep(clf, split, attacks, **kw):
    sets = {}
    cells = sweep_cells(craft_classifier=clf, split=split, attacks=attacks, eps=[0.0, EPS], batch_size=8, seed=0,
                        params=PARAMS, progress=False,
                        on_adversarial=lambda a, e, x_adv: sets.__setitem__((a, e), np.array(x_adv)), **kw)
    return {(c["attack"], c["eps"]): c for c in cells}, [c["attack"] for c in cells], sets


def test_the_registry_flags_the_apgd_attacks_and_a_sweep_runs_them_last():
    assert CASCADE == ["apgd-ce", "apgd-dlr"]
    assert not ATTACKS["square"].cascade  # the gradient-masking reference must see every segment
    assert run_order(["apgd-dlr", "fgsm", "apgd-ce", "pgd"]) == ["fgsm", "pgd", "apgd-dlr", "apgd-ce"]
    assert cascade_after(["apgd-dlr", "fgsm", "apgd-ce", "pgd"], "apgd-ce") == ["fgsm", "pgd", "apgd-dlr"]
    assert cascade_after(["apgd-ce", "pgd"], "pgd") == []


def test_ensemble_keeps_the_first_set_that_broke_a_segment():
    x = np.zeros((4, 2), dtype=np.float32)
    a, b = np.full_like(x, 1.0), np.full_like(x, 2.0)
    base, attacked = ensemble(x=x, clean_wrong=np.array([True, False, False, False]),
                              earlier=[(a, np.array([True, True, False, False])),
                                       (b, np.array([True, True, True, False]))])
    assert attacked.tolist() == [False, False, False, True]
    assert base[:, 0].tolist() == [0.0, 1.0, 2.0, 0.0]  # clean-wrong keeps x, then a, then b


@pytest.mark.parametrize("attack", CASCADE)
def test_a_cascade_attack_runs_only_on_what_the_others_left(clf, split, attack):
    """Listed first, it still runs after FGSM and PGD; it attacks exactly the segments right on
    clean input and under both, and its cell is their ensemble with it: never right where an
    earlier attack broke a segment, the earlier set kept there, its passes only on its rows."""
    by, order, sets = _sweep(clf, split, [attack, "fgsm", "pgd"])
    assert order == [attack, attack, "fgsm", "fgsm", "pgd", "pgd"]  # returned in the requested order
    cell = by[(attack, EPS)]
    clean = np.asarray(by[("fgsm", 0.0)]["correct"], dtype=bool)
    fgsm, pgd = (np.asarray(by[(a, EPS)]["correct"], dtype=bool) for a in ("fgsm", "pgd"))
    attacked = np.asarray(cell["cascade"]["attacked"], dtype=bool)
    assert cell["cascade"]["after"] == ["fgsm", "pgd"]
    assert attacked.tolist() == (clean & fgsm & pgd).tolist()
    # The test means something: clean-wrong segments, some broken by each earlier attack, some left.
    assert (~clean).sum() == 2 and (clean & ~fgsm).any() and (clean & fgsm & ~pgd).any() and attacked.any()
    mine = np.asarray(cell["correct"], dtype=bool)
    assert not (mine & ~(clean & fgsm & pgd)).any()
    x, x_adv = split.x, sets[(attack, EPS)]
    broken_by_fgsm = clean & ~fgsm
    broken_by_pgd = clean & fgsm & ~pgd
    np.testing.assert_array_equal(x_adv[broken_by_fgsm], sets[("fgsm", EPS)][broken_by_fgsm])
    np.testing.assert_array_equal(x_adv[broken_by_pgd], sets[("pgd", EPS)][broken_by_pgd])
    np.testing.assert_array_equal(x_adv[~clean], x[~clean])
    assert np.abs(x_adv[attacked] - x[attacked]).max() <= EPS + 1e-6
    if attack == "apgd-ce":  # ART runs apgd-dlr on its own wrapper, whose passes are not counted
        assert cell["passes"]["gradient"] == PARAMS[attack]["max_iter"] * int(attacked.sum())
    # The worst case over the three equals the cascade cell's robust share.
    worst = robust_mask(cells=list(by.values()), clean_correct=clean, eps=EPS)
    assert worst.tolist() == (clean & mine).tolist()
    assert by[(attack, 0.0)].get("cascade") is None  # ε = 0 attacks nothing


def test_alone_a_cascade_attack_attacks_every_clean_right_segment(clf, split):
    by, _, _ = _sweep(clf, split, ["apgd-ce"])
    cell = by[("apgd-ce", EPS)]
    assert cell["cascade"] == {"after": [], "attacked": by[("apgd-ce", 0.0)]["correct"]}
    assert cell["passes"]["gradient"] == 5 * sum(by[("apgd-ce", 0.0)]["correct"])


def test_a_resumed_cascade_cell_equals_the_uninterrupted_one(clf, split):
    """Interrupted after FGSM and PGD: their sets are crafted again as they were, so the cascade
    cell is the same (the earlier cells themselves are reused, not recomputed)."""
    full, _, _ = _sweep(clf, split, ["fgsm", "pgd", "apgd-ce"])
    earlier = [c for (a, _e), c in full.items() if a != "apgd-ce"]
    resumed, _, sets = _sweep(clf, split, ["fgsm", "pgd", "apgd-ce"], existing_cells=earlier)
    assert set(sets) == {("apgd-ce", 0.0), ("apgd-ce", EPS)}
    drop = ("seconds",)
    for key in full:
        assert {k: v for k, v in resumed[key].items() if k not in drop} == \
            {k: v for k, v in full[key].items() if k not in drop}


def test_another_evaluated_classifier_gets_the_crafters_subset_from_the_store(clf, model, split, tmp_path):
    """A non-adaptive (or transfer) sweep judges what is left by the crafting classifier, as ART
    does, so it attacks the white-box sweep's subset and reads that set from the store."""
    store = AdversarialStore(tmp_path / "adversarial")
    share = [(a, EPS) for a in ("fgsm", "pgd", "apgd-ce")]
    white, _, _ = _sweep(clf, split, ["fgsm", "pgd", "apgd-ce"], store=store, share=share)
    other = wrap(make_cnn(seed=1))
    by, _, _ = _sweep(clf, split, ["fgsm", "pgd", "apgd-ce"], eval_classifier=other, store=store)
    cell = by[("apgd-ce", EPS)]
    assert cell["reused_adversarial"] is True and "passes" not in cell
    assert cell["cascade"] == white[("apgd-ce", EPS)]["cascade"]
    # Without the store it crafts the same subset, so the same set.
    fresh, _, _ = _sweep(clf, split, ["fgsm", "pgd", "apgd-ce"], eval_classifier=other)
    assert fresh[("apgd-ce", EPS)]["correct"] == cell["correct"]
    assert fresh[("apgd-ce", EPS)]["passes"]["gradient"] == 5 * sum(cell["cascade"]["attacked"])
