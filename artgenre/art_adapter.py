"""Wrap a PyTorch model as an ART `PyTorchClassifier` (the only way models reach ART).

Mode handling (checked against ART 1.20.1's ``PyTorchClassifier``): ``predict``,
``loss_gradient`` and ``class_gradient`` default to ``training_mode=False`` and call
``model.train(False)`` first, so attacks see BatchNorm running statistics and no dropout;
``fit`` calls ``model.train(True)``. ART's ``AdversarialTrainer`` crafts with
``loss_gradient`` and then calls ``classifier.fit`` on each mixed batch, so the same split holds.

The loss is a `TrackedCrossEntropyLoss`: while the model is in training mode it also sums the
batch losses and correct predictions, so an epoch run through ART's ``fit`` (directly or via
``AdversarialTrainer``) yields its training loss and accuracy without a second pass.

The classifier is an `ArtGenreClassifier`: ART's ``PyTorchClassifier`` with a faster
``class_gradient`` (all class gradients from batched passes instead of one backward pass per
class, `artgenre.class_gradients`), which ART's ``DeepFool`` calls unchanged. Its
``compute_loss`` keeps the forward graph for a ``loss_gradient`` of the same input, which saves
ART's APGD one forward pass per iteration (`artgenre.loss_graph`).
"""

from __future__ import annotations

import contextlib
import weakref

import torch
from torch import nn

from artgenre import loss_graph, pass_counts
from artgenre.class_gradients import JACOBIAN_ROWS, DeferredGradients  # noqa: F401  (re-exported)
from artgenre.class_gradients import class_gradient as _class_gradient
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




def _art_classifier_class():
    """`ArtGenreClassifier`, built on first use: importing ART's estimators takes seconds, and
    ``artgenre --help`` or the data stage should not pay for it."""
    if "cls" in _CLASS_CACHE:
        return _CLASS_CACHE["cls"]
    from art.estimators.classification import PyTorchClassifier

    class _ArtGenreClassifier(PyTorchClassifier):
        __doc__ = _CLASSIFIER_DOC
        # predict and class_gradient may run in several threads at once (one-sample DeepFool
        # calls side by side); ART's own class_gradient races on model.zero_grad() and crashed.
        thread_safe_passes = True
        counts_passes = True  # `artgenre.pass_counts`

        def class_gradient(self, x, label=None, training_mode=False, **kwargs):
            return _class_gradient(self, super().class_gradient, x, label, training_mode, **kwargs)

        def compute_loss(self, x, y, reduction="none", **kwargs):
            return loss_graph.compute_loss(self, super().compute_loss, x, y, reduction=reduction, **kwargs)

        def loss_gradient(self, x, y, training_mode=False, **kwargs):
            pass_counts.add(self, "gradient", len(x))
            return loss_graph.loss_gradient(self, super().loss_gradient, x, y, training_mode=training_mode, **kwargs)

        def fit(self, *args, **kwargs):
            loss_graph.drop_graph(self)
            return super().fit(*args, **kwargs)

        def predict(self, x, *args, **kwargs):
            loss_graph.drop_graph(self)
            pass_counts.add(self, "forward", len(x))
            return super().predict(x, *args, **kwargs)

    _ArtGenreClassifier.__name__ = _ArtGenreClassifier.__qualname__ = "ArtGenreClassifier"
    _CLASS_CACHE["cls"] = _ArtGenreClassifier
    return _ArtGenreClassifier


_CLASS_CACHE: dict = {}


def __getattr__(name: str):
    if name == "ArtGenreClassifier":
        return _art_classifier_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_CLASSIFIER_DOC = """ART ``PyTorchClassifier`` whose ``class_gradient`` is computed in batched passes.

    ``class_gradient(x, label=None, training_mode=False)`` keeps ART's signature, shapes and
    label rules: ``label=None`` → ``(N, nb_classes, *input_shape)``; an int or a per-sample
    array of length N → ``(N, 1, *input_shape)``; ``ValueError`` for labels out of range.
    ART's own version runs one backward pass per class (``retain_graph``) and accumulates weight
    gradients too. Here only input gradients are computed: a per-sample label needs one forward
    and one backward pass in all; ``label=None`` replicates the batch once per class and takes
    every class gradient from one forward and one backward pass over the replicas (at most
    `JACOBIAN_ROWS` rows per pass, else one forward pass and one backward pass per class).
    Samples are independent in eval mode, so results equal ART's up to float rounding.
    Training mode (BatchNorm batch statistics would mix replicas), RNNs, layer gradients and
    tensor inputs go to ART's implementation. Non-framework preprocessing (e.g. feature
    squeezing) is chained with ART's ``_apply_preprocessing_gradient`` exactly as ART does.

    With ``label=None`` the gradients come back as a `DeferredGradients`, an array-like that
    computes them on first use (ART's ``DeepFool`` requests one more set per sample than it
    reads); any numpy use of it, or ``np.asarray``, yields the ``np.ndarray``.

    ``compute_loss`` returns ART's values and keeps its forward graph until the next call:
    ``loss_gradient`` of the same input and labels, with unchanged weights, only runs the
    backward pass and returns ART's gradient bit for bit (`artgenre.loss_graph`; ART's APGD
    asks for exactly that once per iteration). ``fit`` and ``predict`` drop the graph.
    """




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
    clip_values: tuple[float, float] = (0.0, 1.0),
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
    clip_values : (float, float)
        Range of the inputs (attacks clip to it): (0, 1) for log-mel segments, (-1, 1) for
        audio (`artgenre.threats_waveform`).

    Returns
    -------
    ArtGenreClassifier
        An ART ``PyTorchClassifier`` (subclass with a batched ``class_gradient``) with a
        `TrackedCrossEntropyLoss` and ``torch.optim.Adam`` over ``model.parameters()``.

    Raises
    ------
    ParameterError
        Bad device, learning rate, weight decay, input shape or class count.
    """
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
        classifier = _art_classifier_class()(
            model=model,
            loss=TrackedCrossEntropyLoss(model),
            optimizer=optimizer,
            input_shape=shape,
            nb_classes=nb_classes,
            clip_values=(float(clip_values[0]), float(clip_values[1])),
            # ART's default (0, 1) standardisation is the identity but still costs two passes
            # over every batch and a tensor per step of every attack; None skips it.
            preprocessing=None,
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
