"""Attacks run as AutoAttack runs its components: only on what the attacks before them left.

A per-sample worst case over several attacks (`artgenre.attacks.robust`) needs, for each
segment, one attack that breaks it; once a cheaper attack of the sweep has, a costly one
(`AttackSpec.cascade`: ``apgd-ce``, ``apgd-dlr``) adds nothing there. In a sweep such an attack
therefore runs after every attack without the flag (then after the cascade attacks listed
before it), and at each ε > 0 only on the segments the *crafting* classifier still classifies
correctly on clean input and under every earlier attack's adversarial set (ART's APGD itself
skips the clean-wrong ones). Its cell holds the ensemble's adversarial set: a segment broken
earlier keeps the first earlier set that broke it, a clean-wrong one its clean input, the rest
the cascade attack's own result. So the cell's accuracy is that of every attack before it and
itself together, its ``cascade`` field says which attacks came first and which segments it
attacked, and the worst case is the one an attack on every segment would give, at the cost of
the survivors only.

The crafting classifier's view decides, as for ART, so a transfer or non-adaptive defense sweep
crafts exactly the subset the white-box sweep of the same classifier did (and reads it from
`artgenre.attacks.store`). Cells stay deterministic: the earlier sets are themselves seeded
cells, recrafted identically when a resumed sweep no longer holds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artgenre.attacks.spec import attack_spec


def is_cascade(attack: str) -> bool:
    """Whether ``attack`` runs on the survivors of the attacks before it (`AttackSpec.cascade`)."""
    return bool(attack_spec(attack).cascade)


def run_order(attacks: Sequence[str]) -> list[str]:
    """``attacks`` in the order a sweep runs them: every attack without the cascade flag first,
    then the cascade attacks, each group in the order given."""
    return [a for a in attacks if not is_cascade(a)] + [a for a in attacks if is_cascade(a)]


def cascade_after(attacks: Sequence[str], attack: str) -> list[str]:
    """The attacks of the sweep ``attacks`` that ``attack`` runs after; empty unless it cascades."""
    if not is_cascade(attack):
        return []
    order = run_order(attacks)
    return order[: order.index(attack)]


def ensemble(*, x: np.ndarray, clean_wrong: np.ndarray, earlier: Sequence[tuple[np.ndarray, np.ndarray]]
             ) -> tuple[np.ndarray, np.ndarray]:
    """The earlier attacks' ensemble set and the segments still to attack.

    Parameters
    ----------
    x : np.ndarray, shape (N, ...)
        Clean inputs.
    clean_wrong : np.ndarray of bool, shape (N,)
        Segments the crafting classifier gets wrong on clean input.
    earlier : sequence of (x_adv, wrong)
        Each earlier attack's adversarial set (shape of ``x``) and the (N,) bool array of the
        segments the crafting classifier gets wrong on it, in the order the attacks ran.

    Returns
    -------
    base : np.ndarray
        ``x`` where a segment is clean-wrong or still unbroken, else the first earlier set that
        broke it.
    attacked : np.ndarray of bool, shape (N,)
        Segments right on clean input and under every earlier set.
    """
    base = np.array(x, copy=True)
    attacked = ~np.asarray(clean_wrong, dtype=bool)
    for x_adv, wrong in earlier:
        broke = np.asarray(wrong, dtype=bool) & attacked
        base[broke] = x_adv[broke]
        attacked &= ~broke
    return base, attacked
