"""Log-mel features and the fixed [0, 1] ↔ dB map.

Every waveform, GTZAN or synthetic, goes through `waveform_to_segments`, so a model never sees
inputs built any other way.

The map from decibels to model input is fixed and affine::

    x = (dB + TOP_DB) / TOP_DB,   dB = TOP_DB * x - TOP_DB,   TOP_DB = 80

``power_to_db(ref=max, top_db=80)`` puts every clip in [-80, 0] dB relative to its loudest
bin, so x lies in [0, 1] and a perturbation of size ε in input units is ``80 * ε`` dB
(ε = 0.01 ≈ 0.8 dB, ε = 0.1 = 8 dB).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from artgenre.errors import DataError, check_int, check_range

TOP_DB = 80.0


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of the log-mel front end (the seed's values are the defaults)."""

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    frames: int = 128
    top_db: float = TOP_DB

    def __post_init__(self) -> None:
        # Validated but not converted: the field values are part of the feature-cache key.
        for name in ("sr", "n_fft", "hop_length", "n_mels", "frames"):
            check_int(name, getattr(self, name), 1)
        check_range("top_db", self.top_db, low=0.0, low_open=True)

    @property
    def segment_samples(self) -> int:
        """Audio samples spanned by one segment of ``frames`` frames (centred STFT)."""
        return (self.frames - 1) * self.hop_length + 1

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_FEATURES = FeatureParams()


def unit_to_db(eps):
    """Size of a perturbation ``eps`` (input units) in dB: ``80 * eps``."""
    return np.asarray(eps, dtype=np.float64) * TOP_DB if np.ndim(eps) else float(eps) * TOP_DB


def x_to_db(x: np.ndarray, *, top_db: float = TOP_DB) -> np.ndarray:
    """Model input in [0, 1] → dB relative to the clip's maximum, in [-top_db, 0]."""
    return np.asarray(x, dtype=np.float32) * top_db - top_db


def db_to_x(db: np.ndarray, *, top_db: float = TOP_DB) -> np.ndarray:
    """dB in [-top_db, 0] → model input in [0, 1] (clipped)."""
    return np.clip((np.asarray(db, dtype=np.float32) + top_db) / top_db, 0.0, 1.0)


def _check_waveform(y) -> np.ndarray:
    """``y`` as a float32 mono waveform; `DataError` for other shapes, types or non-finite values."""
    arr = np.asarray(y)
    if arr.dtype.kind not in "fiub":
        raise DataError(
            f"expected a real-valued waveform (float or int samples), got dtype {arr.dtype}"
        )
    if arr.ndim != 1:
        raise DataError(f"expected a mono waveform of shape (n,), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"waveform has {int(bad.sum())} non-finite sample(s) (NaN or inf) of {arr.size}, the "
            f"first at index {first} ({arr[first]}); pass finite samples, e.g. after "
            "np.nan_to_num(y) or by dropping the clip"
        )
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(out)):
        raise DataError(
            f"waveform has samples beyond the float32 range (largest |y| = {float(np.abs(arr).max()):g}); "
            "scale it to about [-1, 1]"
        )
    return out


def logmel(y: np.ndarray, params: FeatureParams = DEFAULT_FEATURES, *, ref: float | None = None) -> np.ndarray:
    """Log-mel spectrogram of a mono waveform, mapped to [0, 1].

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono waveform at ``params.sr``.
    params : FeatureParams
    ref : float, optional
        Reference mel power (0 dB). Default: the maximum of ``y``'s own mel spectrogram. A
        segment's audio window (`artgenre.data.windows`) needs its clip's reference
        (`Split.audio_ref`) to reproduce the clip's features; ``ref <= 0`` gives zeros.

    Returns
    -------
    np.ndarray, shape (n_mels, n_frames), float32, values in [0, 1]

    Raises
    ------
    DataError
        ``y`` is not a one-dimensional real array, or holds NaN or inf samples.
    """
    import librosa

    y = _check_waveform(y)
    try:
        mel = librosa.feature.melspectrogram(
            y=y, sr=params.sr, n_fft=params.n_fft, hop_length=params.hop_length, n_mels=params.n_mels
        )
    except librosa.util.exceptions.ParameterError as exc:
        # Whatever else librosa refuses is still a problem with the caller's waveform.
        raise DataError(f"cannot compute a log-mel spectrogram of this waveform: {exc}") from None
    if not np.any(mel > 0) or (ref is not None and not float(ref) > 0):
        # A silent clip has no "max" to refer to; map it to the floor instead of NaN.
        return np.zeros_like(mel, dtype=np.float32)
    if ref is not None:
        # The clip's floor is -top_db below the clip's maximum, not below this window's own
        # (power_to_db's top_db); db_to_x clips at -top_db and at 0 dB.
        return db_to_x(librosa.power_to_db(mel, ref=float(ref), top_db=None), top_db=params.top_db)
    db = librosa.power_to_db(mel, ref=np.max, top_db=params.top_db)
    return db_to_x(db, top_db=params.top_db)


def n_segments(n_samples: int, params: FeatureParams = DEFAULT_FEATURES) -> int:
    """Number of non-overlapping ``frames``-frame segments from ``n_samples`` samples."""
    n_frames = 1 + n_samples // params.hop_length
    return n_frames // params.frames


def waveform_to_segments(y: np.ndarray, params: FeatureParams = DEFAULT_FEATURES) -> np.ndarray:
    """Cut a clip's log-mel spectrogram into non-overlapping segments.

    The spectrogram of the whole clip is computed once (``ref=max`` over the clip) and split
    into consecutive blocks of ``params.frames`` frames; the incomplete tail is dropped.

    Returns
    -------
    np.ndarray, shape (n_segments, 1, n_mels, frames), float32 in [0, 1]
        ``n_segments`` may be 0 for clips shorter than one segment.

    Raises
    ------
    DataError
        See `logmel`.
    """
    spec = logmel(y, params)
    n = spec.shape[1] // params.frames
    spec = spec[:, : n * params.frames]
    segs = spec.reshape(params.n_mels, n, params.frames).transpose(1, 0, 2)
    return np.ascontiguousarray(segs[:, None, :, :], dtype=np.float32)
