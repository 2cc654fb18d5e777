"""The adversarial examples an attack run saves for the report (``<stem>-examples.npz``).

The examples come from one cell: the PGD (else FGSM, else first ε-bounded) attack at the ε
nearest `EXAMPLE_EPS`, for a seeded, class-stratified handful of the attacked samples. The
npz holds ``clean``, ``adversarial``, ``y``, ``track``, ``attack``, ``eps``, ``genres`` and the
evaluated classifier's labels ``pred_clean`` / ``pred_adv`` per example. The result's entry
records how many of them still fool the model as Griffin-Lim WAVs (`griffin_lim_check`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from artgenre.attacks.spec import attack_spec
from artgenre.eps import same_eps
from artgenre.io import atomic_path

#: ε the saved adversarial examples are taken at (nearest available).
EXAMPLE_EPS = 0.01
#: Preferred attacks for the examples, strongest first.
EXAMPLE_ATTACKS = ("pgd", "fgsm")


def choose_example_cell(attacks: Sequence[str], eps: Sequence[float]) -> tuple[str, float] | None:
    """(attack, ε) whose examples are saved, or None without an ε-bounded attack and ε > 0."""
    positive = [e for e in eps if e > 0]
    bounded = [a for a in attacks if attack_spec(a).eps_bounded]
    if not positive or not bounded:
        return None
    attack = next((a for a in EXAMPLE_ATTACKS if a in bounded), bounded[0])
    return attack, min(positive, key=lambda e: (abs(e - EXAMPLE_EPS), e))


def can_reuse(old: dict | None, *, path: Path, attack: str, eps: float, indices: list[int]) -> bool:
    """Whether a previous run's examples (``old`` = its ``examples`` entry) are the wanted ones."""
    return (isinstance(old, dict) and path.is_file() and old.get("attack") == attack
            and same_eps(old.get("eps", -1), eps) and old.get("indices") == indices)


def save_examples(path: Path, **arrays) -> None:
    """Write ``arrays`` to a compressed npz atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def example_arrays(*, split, idx: np.ndarray, adversarial: np.ndarray, attack: str, eps: float, genres,
                   pred_clean: np.ndarray, pred_adv: np.ndarray) -> dict[str, np.ndarray]:
    """The npz content for examples at positions ``idx`` of the attacked ``split``."""
    return {
        "clean": np.asarray(split.x[idx], dtype=np.float32), "adversarial": np.asarray(adversarial, dtype=np.float32),
        "y": np.asarray(split.y)[idx], "track": np.asarray(split.track)[idx].astype(str),
        "attack": np.array(attack), "eps": np.array(eps, dtype=np.float64),
        "genres": np.array(list(genres), dtype=str),
        "pred_clean": np.asarray(pred_clean, dtype=np.int64), "pred_adv": np.asarray(pred_adv, dtype=np.int64),
    }


def save_spectrogram_examples(*, path: Path, old: dict | None, x_adv: np.ndarray | None, attack: str,
                              eps: float, split, inputs: np.ndarray, idx: np.ndarray, index: np.ndarray, craft,
                              classifier, params: dict | None, seed: int, batch_size: int, clean_pred: np.ndarray,
                              genres) -> dict:
    """Save the examples at positions ``idx`` of the attacked ``split`` and return the result's
    ``examples`` entry (with `griffin_lim_check`'s ``roundtrip``).

    ``x_adv`` is the examples' adversarial set if the sweep just computed it; else a previous
    run's file is kept when it holds the same examples (``old``: its entry), or the attack is
    run on the examples' ``inputs`` alone (seeded as its cell, on ``craft``). ``index`` maps
    attacked positions to split indices; ``clean_pred`` are ``classifier``'s clean labels.
    """
    from artgenre.attacks.cells import seed_cell
    from artgenre.evaluation import predict_logits

    indices = [int(i) for i in index[idx]]
    fresh = x_adv is not None
    if fresh or not can_reuse(old, path=path, attack=attack, eps=eps, indices=indices):
        if x_adv is None:
            seed_cell(seed, attack, eps)
            atk = attack_spec(attack).build(craft, eps=eps, batch_size=batch_size, params=params)
            x_adv = atk.generate(np.asarray(inputs[idx], dtype=np.float32), split.y[idx])
            fresh = True
        pred_adv = predict_logits(classifier, x_adv, batch_size=batch_size).argmax(axis=1)
        save_examples(path, **example_arrays(split=split, idx=idx, adversarial=x_adv, attack=attack, eps=eps,
                                             genres=genres, pred_clean=clean_pred[idx], pred_adv=pred_adv))
    return {"file": path.name, "indices": indices, "attack": attack, "eps": float(eps),
            "roundtrip": griffin_lim_check(path=path, classifier=classifier, old=old, fresh=fresh,
                                           batch_size=batch_size)}


def griffin_lim_check(*, path: Path, classifier, old: dict | None, fresh: bool, batch_size: int) -> dict:
    """The ``roundtrip`` entry of the examples in ``path``: the Griffin-Lim WAVs of the report,
    do they still fool ``classifier``? (`artgenre.attacks.roundtrip.griffin_lim_roundtrip`).
    A previous run's entry (``old``) is kept unless the examples were just written (``fresh``)."""
    from artgenre.attacks.roundtrip import griffin_lim_roundtrip

    trip = None if fresh else (old if isinstance(old, dict) else {}).get("roundtrip")
    if isinstance(trip, dict):
        return trip
    with np.load(path) as z:
        return griffin_lim_roundtrip(classifier=classifier, clean=z["clean"], adversarial=z["adversarial"], y=z["y"],
                                     batch_size=batch_size)
