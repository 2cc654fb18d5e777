"""The WAV round trip of adversarial audio: does the attack survive being saved as a file?

Each adversarial segment window is written as a 16-bit PCM WAV (soundfile, in memory), read
back, passed through the *standard* feature code (`artgenre.data.features.logmel` with the
clip's reference power, not the differentiable front end) and classified again by the
spectrogram model. The segment is the window's frames ``[off, off + frames)`` with
``off = (n_fft // 2) // hop_length``: the window starts ``n_fft // 2`` samples before the
segment's first frame centre (`artgenre.data.windows`), and the centred STFT of the window
puts that frame at ``off``.
"""

from __future__ import annotations

import io

import numpy as np

from artgenre.data.features import DEFAULT_FEATURES, FeatureParams, logmel
from artgenre.stats import segment_proportion


def frame_offset(*, params: FeatureParams = DEFAULT_FEATURES) -> int:
    """Index of the segment's first frame in the centred STFT of its window."""
    return (params.n_fft // 2) // params.hop_length


def wav_roundtrip(audio: np.ndarray, *, sr: int = DEFAULT_FEATURES.sr) -> np.ndarray:
    """``audio`` (N, L) in [-1, 1] after writing each row as 16-bit PCM WAV and reading it back.

    Returns
    -------
    np.ndarray, shape (N, L), float32
    """
    import soundfile as sf

    out = np.empty(np.shape(audio), dtype=np.float32)
    for i, row in enumerate(np.asarray(audio, dtype=np.float32)):
        buf = io.BytesIO()
        # 16-bit PCM tops out at 32767/32768; libsndfile would wrap a full-scale +1.0.
        sf.write(buf, np.clip(row, -1.0, 32767 / 32768), int(sr), format="WAV", subtype="PCM_16")
        buf.seek(0)
        out[i], _ = sf.read(buf, dtype="float32")
    return out


def window_features(audio: np.ndarray, *, ref: np.ndarray, params: FeatureParams = DEFAULT_FEATURES) -> np.ndarray:
    """Standard features of each segment window: (N, 1, n_mels, frames) float32 in [0, 1].

    Parameters
    ----------
    audio : np.ndarray, shape (N, L)
        Segment windows (`artgenre.data.windows.segment_windows`).
    ref : np.ndarray, shape (N,)
        Each window's clip reference power (`Split.audio_ref`).
    """
    off = frame_offset(params=params)
    out = np.empty((len(audio), 1, params.n_mels, params.frames), dtype=np.float32)
    for i, row in enumerate(np.asarray(audio, dtype=np.float32)):
        out[i, 0] = logmel(row, params, ref=float(ref[i]))[:, off : off + params.frames]
    return out


def spectrogram_logits(classifier, x: np.ndarray, *, batch_size: int) -> np.ndarray:
    """Logits of the spectrogram model inside a waveform ``classifier`` (front end ∘ model) on
    log-mel segments ``x`` (N, 1, n_mels, frames)."""
    import torch

    model = classifier.model.model
    model.eval()
    chunks = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])).to(classifier.device)
            chunks.append(model(xb).detach().cpu().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, int(classifier.nb_classes)), np.float32)


def roundtrip_predictions(*, classifier, audio: np.ndarray, ref: np.ndarray, batch_size: int,
                          params: FeatureParams = DEFAULT_FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), read-back audio (N, L)) of ``audio`` after the WAV round trip."""
    back = wav_roundtrip(audio, sr=params.sr)
    logits = spectrogram_logits(classifier, window_features(back, ref=ref, params=params), batch_size=batch_size)
    return logits.argmax(axis=1), back


def roundtrip_fields(*, classifier, audio: np.ndarray, ref: np.ndarray, y: np.ndarray, track: np.ndarray,
                     clean_pred: np.ndarray, batch_size: int) -> dict:
    """``{segment_accuracy, success_rate}`` after the WAV round trip, as the cells' own
    (`artgenre.stats.segment_proportion`, track-clustered CI); success is among the samples
    the classifier gets right on clean audio (in memory)."""
    pred, _ = roundtrip_predictions(classifier=classifier, audio=audio, ref=ref, batch_size=batch_size)
    y, track = np.asarray(y), np.asarray(track)
    correct0 = np.asarray(clean_pred) == y
    return {"segment_accuracy": segment_proportion(pred == y, track),
            "success_rate": segment_proportion((pred != y)[correct0], track[correct0])}


__all__ = ["frame_offset", "roundtrip_fields", "roundtrip_predictions", "spectrogram_logits", "wav_roundtrip",
           "window_features"]
