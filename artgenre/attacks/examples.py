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
