"""The audio behind each segment: the samples its frames depend on and the clip's reference level.

`artgenre.data.features.waveform_to_segments` computes one centred STFT over the whole clip
and cuts it into blocks of ``frames`` frames. Frame ``t`` of the centred STFT reads the clip
samples ``[t * hop - n_fft // 2, t * hop + n_fft // 2)``, with zeros outside the clip
(librosa 0.11's ``pad_mode="constant"``). Segment ``i`` (frames ``i * frames`` to
``i * frames + frames - 1``) therefore depends on exactly the window::

    start = i * frames * hop - n_fft // 2,   length L = (frames - 1) * hop + n_fft

(67,072 samples with the default parameters), and an uncentred STFT of that window gives the
segment's frames. The dB scale of every segment refers to the clip's loudest mel bin, the
*reference power*; `artgenre.frontend.LogMelFrontEnd` takes it as a separate input.

Only NumPy and librosa are used here, so feature worker processes never import PyTorch.
"""

from __future__ import annotations

import numpy as np

from artgenre.data.features import DEFAULT_FEATURES, FeatureParams, n_segments
from artgenre.errors import DataError


def window_length(*, params: FeatureParams = DEFAULT_FEATURES) -> int:
    """Samples in one segment's audio window: ``(frames - 1) * hop_length + n_fft``."""
    return (params.frames - 1) * params.hop_length + params.n_fft


def mel_power(*, y: np.ndarray, params: FeatureParams = DEFAULT_FEATURES) -> np.ndarray:
    """The clip's mel power spectrogram, computed exactly as `artgenre.data.features.logmel` does.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono waveform at ``params.sr`` (converted to float32, as the features are).
    params : FeatureParams

    Returns
    -------
    np.ndarray, shape (n_mels, 1 + n_samples // hop_length), float32, values >= 0

    Raises
    ------
    DataError
        ``y`` is not one-dimensional or holds NaN or inf samples.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise DataError(f"expected a mono waveform of shape (n,), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        bad = int((~np.isfinite(y)).sum())
        raise DataError(f"waveform has {bad} non-finite sample(s) (NaN or inf); expected finite samples")
    return librosa.feature.melspectrogram(
        y=y, sr=params.sr, n_fft=params.n_fft, hop_length=params.hop_length, n_mels=params.n_mels
    )


def reference_power(*, y: np.ndarray, params: FeatureParams = DEFAULT_FEATURES) -> float:
    """The clip's reference level: the largest value of its mel power spectrogram.

    This is the ``ref=np.max`` that `artgenre.data.features.logmel` hands to
    ``librosa.power_to_db``, so 0 dB is the clip's loudest mel bin.

    Returns
    -------
    float
        A float32 value >= 0; 0.0 for a silent clip (whose features are all 0).

    Raises
    ------
    DataError
        See `mel_power`.
    """
    mel = mel_power(y=y, params=params)
    return float(mel.max()) if mel.size else 0.0


def segment_windows(*, y: np.ndarray, params: FeatureParams = DEFAULT_FEATURES) -> tuple[np.ndarray, float]:
    """The audio window of every segment `waveform_to_segments` returns, and the reference power.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono waveform at ``params.sr``, values in [-1, 1].
    params : FeatureParams

    Returns
    -------
    windows : np.ndarray, shape (n_segments, L), float32
        ``L = window_length(params=params)``; row ``i`` holds the clip samples
        ``[i * frames * hop - n_fft // 2, i * frames * hop - n_fft // 2 + L)``, zeros where
        that range leaves the clip (the centring's padding). ``n_segments`` may be 0.
    ref : float
        `reference_power` of the whole clip (float32 value; 0.0 for silence).

    Raises
    ------
    DataError
        See `mel_power`.
    """
    y = np.asarray(y, dtype=np.float32)
    ref = reference_power(y=y, params=params)
    n = n_segments(len(y), params)
    if n == 0:
        return np.zeros((0, window_length(params=params)), np.float32), ref
    half = params.n_fft // 2
    padded = np.pad(y, (half, half), mode="constant")
    # The last window ends at (n * frames - 1) * hop + n_fft <= len(y) + n_fft, inside `padded`.
    views = np.lib.stride_tricks.sliding_window_view(padded, window_length(params=params))
    windows = np.ascontiguousarray(views[:: params.frames * params.hop_length][:n], dtype=np.float32)
    return windows, ref
