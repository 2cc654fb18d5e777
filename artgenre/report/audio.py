"""Listenable audio for saved adversarial examples: log-mel → waveform by Griffin-Lim.

The model input ``x`` keeps only the mel magnitude (relative to the clip's maximum), so a
waveform is rebuilt as: x → dB (`x_to_db`) → power (`librosa.db_to_power`) → linear STFT
magnitude (`librosa.feature.inverse.mel_to_stft`, NNLS) → phase.

Phase: Griffin-Lim is run on the *clean* magnitude only; the adversarial waveform is the
inverse STFT of the adversarial magnitude with that same phase, and the clean waveform is
re-synthesised with it too. Two independent Griffin-Lim runs, even from the same seeded
initial phase, converge to different phases (the iteration is non-convex), and their
difference would measure phase wander rather than the attack: on a test tone a 0.8 dB
perturbation gave an SNR of ~0 dB with separate runs against ~23 dB with the shared phase.
With a shared phase, adversarial − clean is exactly the inverse STFT of the magnitude change,
so the SNR below measures the perturbation alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artgenre.data.features import DEFAULT_FEATURES, TOP_DB, FeatureParams, x_to_db
from artgenre.errors import DataError, ParameterError
from artgenre.io import atomic_path

# Peak level of the louder waveform of a pair; one gain for both keeps the SNR unchanged.
PEAK = 0.9


@dataclass(frozen=True)
class AudioPair:
    """Clean and adversarial waveforms of one example and how far apart they are.

    Attributes
    ----------
    clean, adversarial : np.ndarray, shape ((frames - 1) * hop,), float32
        Waveforms at ``sr`` Hz, scaled together so the louder peak is 0.9.
    sr : int
    snr_db : float
        ``10 log10(Σ clean² / Σ (adversarial − clean)²)``; ``inf`` if they are identical.
    mean_abs_db, max_abs_db : float
        Mean and max |x_adv − x_clean| over the 128×128 bins, in dB (80 × input units).
    """

    clean: np.ndarray
    adversarial: np.ndarray
    sr: int
    snr_db: float
    mean_abs_db: float
    max_abs_db: float


def snr_db(*, clean: np.ndarray, other: np.ndarray) -> float:
    """SNR (dB) of ``other`` relative to ``clean``: ``10 log10(Σclean² / Σ(other−clean)²)``.

    Returns ``inf`` for identical signals and ``-inf`` for a silent ``clean``.

    Raises
    ------
    ParameterError
        If the two signals differ in shape.
    """
    clean = np.asarray(clean, dtype=np.float64)
    other = np.asarray(other, dtype=np.float64)
    if clean.shape != other.shape:
        raise ParameterError(f"signals have different shapes {clean.shape} and {other.shape}; expected equal shapes")
    noise = float(np.sum((other - clean) ** 2))
    signal = float(np.sum(clean**2))
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def _spectrogram(x: np.ndarray, params: FeatureParams) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.shape != (params.n_mels, params.frames):
        raise DataError(
            f"example has shape {x.shape}; expected ({params.n_mels}, {params.frames}) or "
            f"(1, {params.n_mels}, {params.frames})"
        )
    if not np.all(np.isfinite(x)):
        raise DataError("example contains NaN or infinite values; expected values in [0, 1]")
    return np.clip(x, 0.0, 1.0)


def invert_pair(
    *,
    clean: np.ndarray,
    adversarial: np.ndarray,
    params: FeatureParams = DEFAULT_FEATURES,
    n_iter: int = 32,
    seed: int = 0,
) -> AudioPair:
    """Rebuild the waveforms of a clean/adversarial log-mel pair (see module docstring).

    Parameters
    ----------
    clean, adversarial : np.ndarray, shape (128, 128) or (1, 128, 128), values in [0, 1]
    params : FeatureParams
        Sample rate, FFT size and hop of the front end.
    n_iter : int
        Griffin-Lim iterations (≥ 1); 32 takes about 2–3 s per example on one CPU core.
    seed : int
        Seed of Griffin-Lim's random initial phase.

    Returns
    -------
    AudioPair

    Raises
    ------
    ParameterError
        If ``n_iter < 1``.
    DataError
        If an array has the wrong shape or non-finite values.
    """
    import librosa

    if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ParameterError(f"n_iter={n_iter!r} is not valid; expected an integer ≥ 1")
    xc, xa = _spectrogram(clean, params), _spectrogram(adversarial, params)
    stft_kw = dict(n_fft=params.n_fft, hop_length=params.hop_length)
    mags = [
        librosa.feature.inverse.mel_to_stft(
            librosa.db_to_power(x_to_db(x, top_db=params.top_db)), sr=params.sr, power=2.0,
            n_fft=params.n_fft,
        )
        for x in (xc, xa)
    ]
    length = (params.frames - 1) * params.hop_length
    y0 = librosa.griffinlim(mags[0], n_iter=int(n_iter), random_state=int(seed), length=length, **stft_kw)
    phase = np.exp(1j * np.angle(librosa.stft(y0, **stft_kw)))
    yc, ya = (librosa.istft(m * phase, length=length, **stft_kw) for m in mags)
    peak = max(float(np.max(np.abs(yc))), float(np.max(np.abs(ya))))
    gain = PEAK / peak if peak > 0 else 1.0
    yc, ya = (yc * gain).astype(np.float32), (ya * gain).astype(np.float32)
    delta = np.abs(xa - xc) * TOP_DB
    return AudioPair(
        clean=yc, adversarial=ya, sr=params.sr, snr_db=snr_db(clean=yc, other=ya),
        mean_abs_db=float(delta.mean()), max_abs_db=float(delta.max()),
    )


def write_wav(*, path: str | Path, samples: np.ndarray, sr: int) -> Path:
    """Write a mono float waveform in [-1, 1] as 16-bit PCM WAV, atomically."""
    import soundfile as sf

    path = Path(path)
    with atomic_path(path) as tmp:
        # The temp name ends in ".tmp", so the container must be named explicitly.
        sf.write(tmp, np.clip(samples, -1.0, 1.0), int(sr), subtype="PCM_16", format="WAV")
    return path
