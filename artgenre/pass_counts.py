"""Rows an `ArtGenreClassifier` has run through its passes, for work that depends on the data.

DeepFool stops a sample once it flips, and the detector-aware attack stops stepping a sample once
it is accepted and misclassified, so how many passes a run took is known only by counting them.
`art_adapter` counts every ``predict`` row (``"forward"``), every ``loss_gradient`` row
(``"gradient"``; ``compute_loss`` is not counted: ART's APGD follows it with the gradient of the
same input, which reuses its forward pass) and every computed class-gradient row
(``"class_gradient"``: one per sample and class; deferred sets that are never read are not
counted); ``detector-pgd`` counts the samples each of its steps differentiates (``"gradient"``).
`artgenre.attacks.cells.sweep_cells` and `artgenre.attacks.minimal.minimal_norm_block` record what
each crafted cell or block used (``passes``), and ``benchmarks/compute_floor.py`` counts those
instead of an upper bound. Calls may come from several threads at once (DeepFool side by side),
hence the lock.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
_ATTR = "_artgenre_pass_counts"


def add(classifier, kind: str, rows: int) -> None:
    """Count ``rows`` more rows of pass ``kind`` on ``classifier``."""
    with _LOCK:
        counts = classifier.__dict__.setdefault(_ATTR, {})
        counts[kind] = counts.get(kind, 0) + int(rows)


def snapshot(classifier) -> dict[str, int] | None:
    """The counts so far (a copy), or None for a classifier that does not count (not an
    `ArtGenreClassifier`)."""
    if not getattr(classifier, "counts_passes", False):
        return None
    with _LOCK:
        return dict(classifier.__dict__.get(_ATTR, {}))


def since(before: dict[str, int] | None, classifier) -> dict[str, int] | None:
    """Rows per kind counted on ``classifier`` since ``before`` (a `snapshot`), None if either
    is None."""
    after = snapshot(classifier)
    if before is None or after is None:
        return None
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] != before.get(k, 0)}


def merge(into, source) -> None:
    """Add the counts of ``source`` (e.g. a classifier built for one example) to ``into``."""
    for kind, rows in (snapshot(source) or {}).items():
        add(into, kind, rows)
