"""Wrap a PyTorch model as an ART `PyTorchClassifier` (the only way models reach ART).

Mode handling (checked against ART 1.20.1's ``PyTorchClassifier``): ``predict``,
``loss_gradient`` and ``class_gradient`` default to ``training_mode=False`` and call
``model.train(False)`` first, so attacks see BatchNorm running statistics and no dropout;
``fit`` calls ``model.train(True)``. ART's ``AdversarialTrainer`` crafts with
``loss_gradient`` and then calls ``classifier.fit`` on each mixed batch, so the same split holds.

The loss is a `TrackedCrossEntropyLoss`: while the model is in training mode it also sums the
batch losses and correct predictions, so an epoch run through ART's ``fit`` (directly or via
``AdversarialTrainer``) yields its training loss and accuracy without a second pass.
"""

from __future__ import annotations

import contextlib
import weakref

import torch
from torch import nn

from artgenre.errors import ParameterError
from artgenre.runtime import resolve_device


class TrackedCrossEntropyLoss(nn.CrossEntropyLoss):
    """Cross-entropy that accumulates running training statistics.

    Statistics are accumulated only when the tracked model is in training mode and autograd is
    on, i.e. during ``fit`` and not during prediction or attack gradients. They stay on the
    model's device until read, to avoid a host sync per batch.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose ``training`` flag gates accumulation (held by weak reference so the
        loss does not register it as a submodule).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self._model_ref = weakref.ref(model)
        self.reset_stats()

    def reset_stats(self) -> None:
        """Forget the accumulated sums (call at the start of an epoch)."""
        self._loss_sum = 0.0
        self._correct = 0
        self._count = 0

    def stats(self) -> dict:
        """``{"loss": mean loss, "accuracy": fraction correct, "n": samples}`` since the last
        `reset_stats`; loss and accuracy are NaN when nothing was accumulated."""
        if self._count == 0:
            return {"loss": float("nan"), "accuracy": float("nan"), "n": 0}
        return {
            "loss": float(self._loss_sum) / self._count,
            "accuracy": float(self._correct) / self._count,
            "n": int(self._count),
        }

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002
        loss = super().forward(input, target)
        model = self._model_ref()
        if model is not None and model.training and torch.is_grad_enabled():
            with torch.no_grad():
                n = int(input.shape[0])
                labels = target if target.ndim == 1 else target.argmax(dim=1)
                self._loss_sum = self._loss_sum + loss.detach().double() * n
                self._correct = self._correct + (input.argmax(dim=1) == labels).sum()
                self._count += n
        return loss


def as_art_classifier(
    model: nn.Module,
    *,
    device: str = "auto",
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    input_shape: tuple[int, ...] = (1, 128, 128),
    nb_classes: int = 10,
    preprocessing_defences=None,
    postprocessing_defences=None,
):
    """Wrap ``model`` (returning logits) as an ART classifier with clip values (0, 1).

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(N, *input_shape)`` float32 in [0, 1] to ``(N, nb_classes)`` logits. It is moved
        to ``device`` and left in eval mode.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (see `artgenre.runtime.resolve_device`).
    learning_rate, weight_decay : float
        Adam hyper-parameters (``learning_rate > 0``, ``weight_decay >= 0``).
    input_shape : tuple of int
        Shape of one sample, channels first.
    nb_classes : int
        Number of classes (>= 2).
    preprocessing_defences, postprocessing_defences : ART defence or list, optional
        Passed to ART unchanged (e.g. ``FeatureSqueezing``).

    Returns
    -------
    art.estimators.classification.PyTorchClassifier
        With a `TrackedCrossEntropyLoss` and ``torch.optim.Adam`` over ``model.parameters()``.

    Raises
    ------
    ParameterError
        Bad device, learning rate, weight decay, input shape or class count.
    """
    from art.estimators.classification import PyTorchClassifier

    from artgenre.errors import check_range

    check_range("learning_rate", learning_rate, low=0.0, low_open=True)
    check_range("weight_decay", weight_decay, low=0.0)
    shape = tuple(input_shape)
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ParameterError(
            f"input_shape={input_shape!r} is not valid; expected positive integers, e.g. (1, 128, 128)"
        )
    if isinstance(nb_classes, bool) or not isinstance(nb_classes, int) or nb_classes < 2:
        raise ParameterError(f"nb_classes={nb_classes!r} is not valid; expected an integer >= 2")

    dev = resolve_device(device)
    model = model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    # ART only knows "gpu"/"cpu" and takes torch.cuda.current_device(); pinning the current
    # device while it is built makes "cuda:N" land on GPU N.
    pin = torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext()
    with pin:
        classifier = PyTorchClassifier(
            model=model,
            loss=TrackedCrossEntropyLoss(model),
            optimizer=optimizer,
            input_shape=shape,
            nb_classes=nb_classes,
            clip_values=(0.0, 1.0),
            preprocessing_defences=preprocessing_defences,
            postprocessing_defences=postprocessing_defences,
            device_type="gpu" if dev.type == "cuda" else "cpu",
        )
    model.eval()
    return classifier


def train_stats(classifier) -> dict | None:
    """The running statistics of ``classifier``'s `TrackedCrossEntropyLoss`, or None if its
    loss is a plain one (e.g. a classifier built without `as_art_classifier`)."""
    loss = getattr(classifier, "loss", None)
    return loss.stats() if isinstance(loss, TrackedCrossEntropyLoss) else None


def reset_train_stats(classifier) -> None:
    """Zero the running statistics of ``classifier``'s loss (no-op for other losses)."""
    loss = getattr(classifier, "loss", None)
    if isinstance(loss, TrackedCrossEntropyLoss):
        loss.reset_stats()
