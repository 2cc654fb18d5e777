"""All-class input gradients for `artgenre.art_adapter.ArtGenreClassifier.class_gradient`.

``class_gradient(x)`` (label None) returns a `DeferredGradients`, computed on first use, from one
forward pass and one backward pass per class (CPU) or from the batch replicated once per class
(GPU, up to `JACOBIAN_ROWS`); a labelled call takes one forward and one backward pass. Rows are
counted in `artgenre.pass_counts`. Cases this does not cover go to ART's implementation.
"""

from __future__ import annotations

import numpy as np
import torch

from artgenre import pass_counts

#: Most rows (replicas × samples) one batched all-class gradient pass may hold, per device type.
#: A GPU has the parallel slack for large replicated batches. On a CPU the replicated batch pays
#: for K forward passes instead of one and rounds differently from ART's per-class backward
#: passes (other convolution blocking), which DeepFool's iterations amplify to ~1e-3 on the
#: quick CNN; one forward pass and one backward pass per class equals ART bit for bit, and on
#: an AVX2 EPYC it was also the faster path (docs/design.md), so the CPU never replicates.
JACOBIAN_ROWS = {"cpu": 0, "cuda": 1024}


def class_gradient(clf, art_impl, x, label, training_mode, **kwargs):
    """``clf.class_gradient(x, label, training_mode)`` with ART's rules and shapes; ``art_impl``
    (ART's own method) serves training mode, RNNs, layer gradients and tensor inputs."""
    if training_mode or clf.is_rnn or clf._layer_idx_gradients >= 0 or not isinstance(x, np.ndarray):
        grads = art_impl(x, label=label, training_mode=training_mode, **kwargs)
        pass_counts.add(clf, "class_gradient", int(np.prod(np.shape(grads)[:2])))
        return grads
    if isinstance(label, list):
        label = np.array(label)
    valid = (
        label is None
        or (isinstance(label, (int, np.integer)) and label in range(clf.nb_classes))
        or (isinstance(label, np.ndarray) and label.ndim == 1 and label.shape[0] == x.shape[0]
            and ((label >= 0) & (label < clf.nb_classes)).all())
    )
    if not valid:
        raise ValueError(
            f"label={label!r} is not valid; expected None, an int in [0, {clf.nb_classes}) or one "
            f"such int per sample ({x.shape[0]})"
        )

    def compute() -> np.ndarray:
        clf._model.train(mode=False)
        if clf.all_framework_preprocessing:
            leaf = torch.from_numpy(x).to(clf._device).requires_grad_(True)
            x_in, _ = clf._apply_preprocessing(leaf, y=None, fit=False, no_grad=False)
        else:
            x_pre, _ = clf._apply_preprocessing(x, y=None, fit=False, no_grad=True)
            leaf = torch.from_numpy(x_pre).to(clf._device).requires_grad_(True)
            x_in = leaf
        grads = _all_class_gradients(clf, x_in, leaf) if label is None else \
            _selected_class_gradient(clf, x_in, leaf, label)
        grads = grads.cpu().numpy()
        pass_counts.add(clf, "class_gradient", grads.shape[0] * grads.shape[1])
        return grads if clf.all_framework_preprocessing else clf._apply_preprocessing_gradient(x, grads)

    if label is None:
        # ART's DeepFool asks for the next iteration's gradients before it checks whether the
        # sample is already fooled, and drops them if it is: computed on first use, they cost
        # nothing then (with one or two iterations per sample, a third to a half of the work).
        x = x.copy()  # the caller may change its array before reading the gradients
        return DeferredGradients(compute, shape=(x.shape[0], clf.nb_classes) + tuple(x.shape[1:]))
    return compute()


def _materialise(value):
    if isinstance(value, DeferredGradients):
        return value.value()
    if isinstance(value, (list, tuple)):
        return type(value)(_materialise(v) for v in value)
    if isinstance(value, dict):
        return {k: _materialise(v) for k, v in value.items()}
    return value


class DeferredGradients(np.lib.mixins.NDArrayOperatorsMixin):
    """An array of class gradients computed when first read (any numpy use reads it).

    Behaves as the ``np.ndarray`` it stands for: arithmetic, indexing, ``len``, ``np.*``
    functions, ``np.asarray`` and attribute access (``dtype``, ``reshape``, ...) all act on the
    computed array; ``shape``, ``ndim`` and ``len`` are known without computing it.

    Parameters
    ----------
    compute : callable
        Returns the array, shape ``shape``; called at most once.
    shape : tuple of int
    """

    def __init__(self, compute, *, shape: tuple[int, ...]) -> None:
        self._compute = compute
        self._value: np.ndarray | None = None
        self.shape = tuple(int(s) for s in shape)

    @property
    def computed(self) -> bool:
        """Whether the array has been computed."""
        return self._value is not None

    def value(self) -> np.ndarray:
        """The array (computed now if not yet)."""
        if self._value is None:
            self._value = self._compute()
            self._compute = None
        return self._value

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        v = self.value()
        return v if dtype is None else v.astype(dtype, copy=False)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*_materialise(inputs), **_materialise(kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return func(*_materialise(args), **_materialise(kwargs))

    def __getitem__(self, key):
        return self.value()[_materialise(key)]

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.value(), name)

    def __repr__(self) -> str:
        state = "computed" if self.computed else "not computed"
        return f"DeferredGradients(shape={self.shape}, {state})"


def _logits(clf, x: torch.Tensor) -> torch.Tensor:
    return clf._model(x)[-1]


def _selected_class_gradient(clf, x_in, leaf, label) -> torch.Tensor:
    n = x_in.shape[0]
    idx = torch.as_tensor(np.broadcast_to(np.asarray(label, dtype=np.int64), (n,)).copy(), device=x_in.device)
    preds = _logits(clf, x_in)
    # Sample i's logit depends on sample i only (eval mode), so one backward pass of the summed
    # selected logits yields every sample's gradient at once.
    (g,) = torch.autograd.grad(preds.gather(1, idx[:, None]).sum(), leaf)
    return g.unsqueeze(1)


def _all_class_gradients(clf, x_in, leaf) -> torch.Tensor:
    n, k = x_in.shape[0], clf.nb_classes
    cap = JACOBIAN_ROWS.get(x_in.device.type, JACOBIAN_ROWS["cpu"])
    if n * k > cap:
        preds = _logits(clf, x_in)
        rows = [torch.autograd.grad(preds[:, c].sum(), leaf, retain_graph=c < k - 1)[0] for c in range(k)]
        return torch.stack(rows, dim=1)
    # One replica of the batch per class: replica c's gradient of the summed class-c logits is
    # every sample's class-c gradient, so one backward pass gives all k of them.
    z = x_in.detach().unsqueeze(0).expand(k, *x_in.shape).reshape(k * n, *x_in.shape[1:])
    z = z.contiguous().requires_grad_(True)
    preds = _logits(clf, z).reshape(k, n, -1)
    picked = preds.diagonal(dim1=0, dim2=2).sum()
    (gz,) = torch.autograd.grad(picked, z)
    gz = gz.reshape(k, n, *x_in.shape[1:])
    if x_in is not leaf:
        # Framework preprocessing sits between leaf and x_in: chain each class through it.
        gz = torch.stack([torch.autograd.grad(x_in, leaf, gz[c], retain_graph=c < k - 1)[0]
                          for c in range(k)])
    return gz.transpose(0, 1)
