"""``compute_loss`` that keeps its forward graph for the ``loss_gradient`` call that follows.

ART's ``AutoProjectedGradientDescent`` computes, per iteration, the per-sample loss of the next
iterate (``compute_loss(x_{k+1})``, one forward pass) and then, at the start of the next
iteration, the gradient at that same point (``loss_gradient(x_{k+1})``, another forward pass
and a backward pass). `ArtGenreClassifier` runs the first forward pass with the input as a
leaf that requires a gradient and keeps that graph until its next loss call: a
``loss_gradient`` of the same input and labels, with the weights unchanged since, then only
runs the backward pass. The loss is ART's own (the classifier's loss with its reduction) on
the same logits, so the gradient is ART's bit for bit (tested in ``tests/test_art_adapter.py``);
any other call, or a different input, goes to ART's implementation and drops the graph.

Only the plain case is served: numpy inputs, eval mode, no ART preprocessing (none is
configured by `artgenre.art_adapter.as_art_classifier` unless defences are passed), no RNN,
no layer gradients, at most `MAX_ROWS` rows. The graph holds one batch's activations, as a
``loss_gradient`` of that batch would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


#: Most rows whose graph `compute_loss` keeps: an attack's batch; a call on a whole split (ART
#: itself keeps no graph for it when the weights are frozen) goes to ART's implementation.
MAX_ROWS = 1024


@dataclass
class _Graph:
    x: np.ndarray
    labels: torch.Tensor
    leaf: torch.Tensor
    logits: torch.Tensor
    weights: tuple


def _weights_version(model) -> tuple:
    # Autograd's in-place counters: an optimizer step or a load_state_dict bumps them.
    return tuple(t._version for t in (*model.parameters(), *model.buffers()))


def _servable(clf, x, **kwargs) -> bool:
    return (isinstance(x, np.ndarray) and not kwargs and not clf.is_rnn and clf._layer_idx_gradients < 0
            and not clf.preprocessing_operations)


def drop_graph(clf) -> None:
    """Forget the kept graph (weights may change, or the memory is wanted back)."""
    clf.__dict__["_artgenre_graph"] = None


def compute_loss(clf, art_impl, x, y, reduction: str = "none", **kwargs):
    """ART's ``compute_loss`` (same values); in the plain case the graph is kept."""
    drop_graph(clf)
    if not _servable(clf, x, **kwargs) or len(x) > MAX_ROWS:
        return art_impl(x, y, reduction=reduction, **kwargs)
    from art.utils import check_and_transform_label_format

    clf._model.eval()
    labels = clf.reduce_labels(check_and_transform_label_format(y, clf.nb_classes))
    labels_t = torch.from_numpy(np.asarray(labels)).to(clf._device)
    leaf = torch.tensor(x).to(clf._device).requires_grad_(True)
    logits = clf._model(leaf)[-1]
    previous = clf._loss.reduction
    clf._loss.reduction = reduction
    try:
        loss = clf._loss(logits, labels_t)
    finally:
        clf._loss.reduction = previous
    clf.__dict__["_artgenre_graph"] = _Graph(x=x.copy(), labels=labels_t, leaf=leaf, logits=logits,
                                             weights=_weights_version(clf._model))
    return loss.detach().cpu().numpy()


def loss_gradient(clf, art_impl, x, y, training_mode: bool = False, **kwargs):
    """ART's ``loss_gradient``; from the kept graph when ``x`` and ``y`` are the last
    ``compute_loss``'s."""
    graph = clf.__dict__.get("_artgenre_graph")
    drop_graph(clf)
    if graph is None or training_mode or not _servable(clf, x, **kwargs) or x.shape != graph.x.shape:
        return art_impl(x, y, training_mode=training_mode, **kwargs)
    labels_t = clf.reduce_labels(torch.tensor(y).to(clf._device))
    same = (labels_t.dtype == graph.labels.dtype and labels_t.shape == graph.labels.shape
            and torch.equal(labels_t, graph.labels) and np.array_equal(x, graph.x)
            and _weights_version(clf._model) == graph.weights)
    if not same:
        return art_impl(x, y, training_mode=training_mode, **kwargs)
    clf._model.train(mode=False)
    loss = clf._loss(graph.logits, labels_t)
    clf._model.zero_grad()
    loss.backward()
    if graph.leaf.grad is None:
        raise ValueError("Gradient term in PyTorch model is `None`.")
    return graph.leaf.grad.cpu().numpy().copy()


__all__ = ["MAX_ROWS", "compute_loss", "drop_graph", "loss_gradient"]
