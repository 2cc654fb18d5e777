"""`artgenre.attacks.store`: shared adversarial sets are keyed by all they depend on, never
used when unusable, and never used for classifiers whose settings the key cannot see."""

from __future__ import annotations

import numpy as np
import torch

from artgenre.art_adapter import as_art_classifier
from artgenre.attacks.cells import sweep_cells
from artgenre.attacks.store import AdversarialStore, classifier_digest
from artgenre.data.dataset import Split
from artgenre.models import build_model

SHAPE = (1, 32, 32)


def _clf(seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return as_art_classifier(build_model(name="cnn", input_size=32, num_classes=3), input_shape=SHAPE,
                             nb_classes=3, device="cpu", **kwargs)


def _split(n: int = 6, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    return Split(x=rng.random((n, *SHAPE), dtype=np.float32), y=np.arange(n) % 3, track=np.arange(n))


def _key(store, clf, split, **over):
    kw = dict(digest=classifier_digest(clf), attack="pgd", eps=0.03, norm="inf", params={"steps": 2}, seed=0,
              chunk=64, threat="spectrogram", x=split.x, y=split.y, split=split)
    kw.update(over)
    return store.key(**kw)


def test_the_key_changes_with_everything_the_set_depends_on(tmp_path):
    store, clf, split = AdversarialStore(tmp_path), _clf(), _split()
    base = _key(store, clf, split)
    assert base == _key(store, _clf(), split)  # same weights, same key
    others = [_key(store, _clf(seed=1), split), _key(store, clf, _split(seed=1)), _key(store, clf, split, eps=0.01),
              _key(store, clf, split, attack="fgsm"), _key(store, clf, split, params={"steps": 3}),
              _key(store, clf, split, seed=1), _key(store, clf, split, norm="l2rel"),
              _key(store, clf, split, y=np.zeros(6, int))]
    assert base not in others and len(set(others)) == len(others)


def test_classifiers_with_settings_outside_the_key_never_use_it():
    from artgenre.defenses.squeeze import make_squeezer

    assert classifier_digest(_clf()) is not None
    assert classifier_digest(_clf(preprocessing_defences=[make_squeezer(bit_depth=4)])) is None
    guarded = _clf()
    guarded.detector_guard = None  # any attack context, set or not
    assert classifier_digest(guarded) is None


def test_a_shared_cell_is_written_read_back_identically_and_a_corrupt_file_is_recrafted(tmp_path, caplog):
    store, clf, split = AdversarialStore(tmp_path / "adv"), _clf(), _split()
    kw = dict(split=split, attacks=("pgd",), eps=(0.03,), batch_size=8, seed=0, params={"pgd": {"steps": 2}},
              progress=False, store=store)
    first = sweep_cells(craft_classifier=clf, share=(("pgd", 0.03),), **kw)
    (path,) = (tmp_path / "adv").glob("*.npy")
    again = sweep_cells(craft_classifier=clf, **kw)
    assert again[0]["reused_adversarial"] is True and "reused_adversarial" not in first[0]
    assert again[0]["pred"] == first[0]["pred"] and again[0]["linf"] == first[0]["linf"]
    # Another model (other weights) does not read it.
    other = sweep_cells(craft_classifier=_clf(seed=1), **kw)
    assert "reused_adversarial" not in other[0]
    path.write_bytes(b"not an array")
    with caplog.at_level("WARNING", logger="artgenre"):
        redone = sweep_cells(craft_classifier=clf, **kw)
    assert "reused_adversarial" not in redone[0] and redone[0]["pred"] == first[0]["pred"]
    assert "unreadable" in caplog.text and str(path) in caplog.text
    np.save(path, np.zeros((2, 2), np.float32))
    with caplog.at_level("WARNING", logger="artgenre"):
        assert "reused_adversarial" not in sweep_cells(craft_classifier=clf, **kw)[0]
    assert "expected finite float32" in caplog.text


def test_unshared_cells_are_not_written(tmp_path):
    store = AdversarialStore(tmp_path / "adv")
    sweep_cells(craft_classifier=_clf(), split=_split(), attacks=("fgsm",), eps=(0.03,), batch_size=8, seed=0,
                progress=False, store=store, share=(("pgd", 0.03),))
    assert not (tmp_path / "adv").exists()


def test_the_stronger_pgd_check_shares_its_sets_like_the_sweep(tmp_path):
    """Check (a)'s stronger PGD on the baseline weights is crafted once per grid: a defense's
    non-adaptive pass reads the set the white-box run stored for the same subset and ε."""
    from artgenre.attacks.strength import strength_block

    store, clf, split = AdversarialStore(tmp_path / "adv"), _clf(), _split()
    kw = dict(craft_classifier=clf, eval_classifier=clf, split=split, eps=(0.0, 0.03), batch_size=8, seed=0,
              params={"pgd": {"steps": 2}}, progress=False, store=store)
    white = strength_block(share=(("pgd", 0.03),), **kw)
    assert len(list((tmp_path / "adv").glob("*.npy"))) == 1
    again = strength_block(**kw)
    ((w,), (a,)) = white["cells"], again["cells"]
    assert a["reused_adversarial"] is True and "reused_adversarial" not in w
    assert a["indices"] == w["indices"] and a["correct"] == w["correct"] and a["linf"] == w["linf"]
    assert "reused_adversarial" not in strength_block(**{**kw, "craft_classifier": _clf(seed=1)})["cells"][0]
