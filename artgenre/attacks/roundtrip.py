"""The WAV round trip of adversarial audio: does the attack survive being saved as a file?

Each adversarial segment window is written as a 16-bit PCM WAV (soundfile, in memory), read
back, passed through the *standard* feature code (`artgenre.data.features.logmel` with the
clip's reference power, not the differentiable front end) and classified again by the
spectrogram model. The segment is the window's frames ``[off, off + frames)`` with
``off = (n_fft // 2) // hop_length``: the window starts ``n_fft // 2`` samples before the
segment's first frame centre (`artgenre.data.windows`), and the centred STFT of the window
puts that frame at ``off``.

The spectrogram threat model has no audio of its own: its listening examples are Griffin-Lim
inversions of the clean and adversarial log-mels (`artgenre.report.audio.invert_pair`).
`griffin_lim_roundtrip` puts each such pair through the same WAV round trip and standard
features (reference 1.0, the inversion's own scale) and counts how many still fool the model.
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


def inversion_features(audio: np.ndarray, *, params: FeatureParams = DEFAULT_FEATURES) -> np.ndarray:
    """Standard features of Griffin-Lim inversions (N, L): (N, 1, n_mels, frames), reference 1.0
    (the inversion's own scale), the first ``frames`` frames, zero-padded if shorter."""
    out = np.zeros((len(audio), 1, params.n_mels, params.frames), dtype=np.float32)
    for i, row in enumerate(np.asarray(audio, dtype=np.float32)):
        x = logmel(row, params, ref=1.0)[:, : params.frames]
        out[i, 0, :, : x.shape[1]] = x
    return out


def griffin_lim_roundtrip(*, classifier, clean: np.ndarray, adversarial: np.ndarray, y: np.ndarray,
                          batch_size: int, n_iter: int = 32, max_pairs: int | None = 2,
                          params: FeatureParams = DEFAULT_FEATURES) -> dict:
    """Do the spectrogram attack's listening examples still fool the model once they are sound?

    Only pairs that fool the model in memory (clean right, adversarial wrong on the log-mels)
    can keep the attack, so only they are inverted (2-3 s per pair), the first ``max_pairs``
    of them (the finding it records, that Griffin-Lim inversion loses the attack, does not need
    more; `experiments/griffin_lim_roundtrip.py` checks every saved pair).

    Parameters
    ----------
    classifier : ART classifier
        The spectrogram model (log-mel input).
    clean, adversarial : np.ndarray, shape (n, 1, n_mels, frames), float in [0, 1]
        Saved example pairs.
    y : np.ndarray of int, shape (n,)
    batch_size : int
    n_iter : int
        Griffin-Lim iterations (the report's WAVs use the default).
    max_pairs : int or None
        Most pairs inverted (None: all that fool the model in memory).

    Returns
    -------
    dict
        ``method``, ``n_iter``, ``n`` (pairs); ``fooled_in_memory`` (pairs fooled on the
        log-mels); ``inverted`` (how many of them were checked); among those, after inversion
        + 16-bit WAV + standard features:
        ``clean_right``, ``adversarial_wrong`` and ``success_rate`` (proportion of them with
        clean right *and* adversarial wrong: the attack survived being sound). Only ``method``,
        ``n`` and ``skipped`` (why) for examples that are not segments of ``params``.
    """
    from artgenre.evaluation import predict_logits
    # The inversion is the report's, so that the count is about the WAVs a person plays.
    from artgenre.report.audio import invert_pair
    from artgenre.stats import proportion

    y = np.asarray(y)
    n = len(y)
    shape = (1, params.n_mels, params.frames)
    if tuple(np.shape(clean)[1:]) != shape:
        return {"method": "griffin-lim", "n": int(n),
                "skipped": f"examples of shape {tuple(np.shape(clean)[1:])} are not log-mels of shape {shape}"}
    mem = predict_logits(classifier, np.concatenate([clean, adversarial]).astype(np.float32),
                         batch_size=batch_size).argmax(axis=1) if n else np.zeros(0, int)
    fooled_all = np.flatnonzero((mem[:n] == y) & (mem[n:] != y))
    fooled = fooled_all if max_pairs is None else fooled_all[: int(max_pairs)]
    feats = np.zeros((2 * len(fooled), 1, params.n_mels, params.frames), dtype=np.float32)
    for k, i in enumerate(fooled):
        pair = invert_pair(clean=clean[i], adversarial=adversarial[i], n_iter=n_iter)
        feats[2 * k : 2 * k + 2] = inversion_features(
            wav_roundtrip(np.stack([pair.clean, pair.adversarial]), sr=params.sr), params=params)
    pred = predict_logits(classifier, feats, batch_size=batch_size).argmax(axis=1) if len(fooled) else mem[:0]
    clean_ok, adv_wrong = pred[0::2] == y[fooled], pred[1::2] != y[fooled]
    return {"method": "griffin-lim", "n_iter": int(n_iter), "n": int(n), "fooled_in_memory": int(len(fooled_all)),
            "inverted": int(len(fooled)), "clean_right": int(clean_ok.sum()), "adversarial_wrong": int(adv_wrong.sum()),
            "success_rate": proportion(int((clean_ok & adv_wrong).sum()), int(len(fooled)))}


__all__ = ["frame_offset", "griffin_lim_roundtrip", "inversion_features", "roundtrip_fields", "roundtrip_predictions",
           "spectrogram_logits", "wav_roundtrip", "window_features"]
