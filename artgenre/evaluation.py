"""Clean-accuracy evaluation at segment and track level, with Wilson 95 % intervals."""

from __future__ import annotations

import numpy as np

from artgenre.errors import DataError, check_int
from artgenre.stats import proportion


def as_float32(x) -> np.ndarray:
    """``x`` as a writable, C-contiguous float32 array (copies read-only memory maps), since
    ART hands arrays to ``torch.from_numpy``, which warns on read-only memory."""
    arr = np.asarray(x, dtype=np.float32)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.array(arr, dtype=np.float32, order="C", copy=True)
    return arr


def predict_logits(classifier, x, *, batch_size: int = 128) -> np.ndarray:
    """Logits of an ART classifier in eval mode.

    Parameters
    ----------
    classifier : art.estimators.classification.PyTorchClassifier
        Its preprocessing defences (if any) are applied, as in any ART prediction.
    x : np.ndarray, shape (N, C, H, W), float32 in [0, 1]
        May be a read-only memory map; it is read in chunks.
    batch_size : int
        Forward-pass batch size (>= 1).

    Returns
    -------
    np.ndarray, shape (N, nb_classes), float32
    """
    check_int("batch_size", batch_size, 1)
    n = len(x)
    if n == 0:
        return np.zeros((0, classifier.nb_classes), dtype=np.float32)
    # Chunking bounds the float32 copy of a memory-mapped split to a few batches at a time.
    chunk = batch_size * 16
    parts = [
        classifier.predict(as_float32(x[i : i + chunk]), batch_size=batch_size, training_mode=False)
        for i in range(0, n, chunk)
    ]
    return np.concatenate(parts, axis=0).astype(np.float32, copy=False)


def cross_entropy(logits, y) -> float:
    """Mean cross-entropy of ``logits`` (N, C) against integer labels ``y`` (N,); NaN if N = 0."""
    logits = np.asarray(logits, dtype=np.float64)
    if len(logits) == 0:
        return float("nan")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(logits)), np.asarray(y, dtype=np.int64)].mean())


def evaluate(*, logits, y, track, n_classes: int) -> dict:
    """Segment- and track-level accuracy of ``logits`` against labels ``y``.

    Parameters
    ----------
    logits : np.ndarray, shape (N, n_classes)
    y : np.ndarray, shape (N,), int in [0, n_classes)
    track : np.ndarray, shape (N,)
        Track id of each segment; all segments of a track must share one label.
    n_classes : int

    Returns
    -------
    dict
        ``segment_accuracy``, ``track_accuracy_vote`` (majority vote of segment predictions;
        a tie goes to the lowest class index), ``track_accuracy_mean`` (argmax of the mean
        logits): each ``artgenre.stats.proportion`` (Wilson 95 % CI); ``loss`` (mean
        cross-entropy over segments); ``confusion`` (segment-level ``n_classes x n_classes``
        list of lists, rows true class, columns predicted); ``n_segments``; ``n_tracks``.

    Raises
    ------
    DataError
        Mismatched lengths, labels out of range, or a track with two labels.
    """
    from sklearn.metrics import confusion_matrix

    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    track = np.asarray(track)
    if logits.ndim != 2 or logits.shape[1] != n_classes:
        raise DataError(f"logits have shape {logits.shape}; expected (N, {n_classes})")
    if not (len(y) == len(track) == len(logits)):
        raise DataError(
            f"logits ({len(logits)}), y ({len(y)}) and track ({len(track)}) must have the same length"
        )
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"labels must lie in [0, {n_classes}); got range [{y.min()}, {y.max()}]")
    y = y.astype(np.int64)
    pred = logits.argmax(axis=1)

    tracks, inverse = np.unique(track, return_inverse=True)
    vote_ok = mean_ok = 0
    for t in range(len(tracks)):
        members = inverse == t
        labels = np.unique(y[members])
        if len(labels) != 1:
            raise DataError(f"track {tracks[t]!r} has segments with different labels {labels.tolist()}")
        vote = int(np.bincount(pred[members], minlength=n_classes).argmax())
        mean = int(logits[members].mean(axis=0).argmax())
        vote_ok += vote == labels[0]
        mean_ok += mean == labels[0]

    return {
        "segment_accuracy": proportion(int((pred == y).sum()), len(y)),
        "track_accuracy_vote": proportion(int(vote_ok), len(tracks)),
        "track_accuracy_mean": proportion(int(mean_ok), len(tracks)),
        "loss": cross_entropy(logits, y),
        "confusion": confusion_matrix(y, pred, labels=list(range(n_classes))).tolist(),
        "n_segments": int(len(y)),
        "n_tracks": int(len(tracks)),
    }
