"""Saved examples of threat models whose examples are verified (``ThreatModel.verified_examples``).

For the ``waveform`` threat model the examples npz holds only successful attacks: correct on
clean audio, wrong on the adversarial audio in memory *and* after the WAV round trip
(`artgenre.attacks.roundtrip`), one per genre first (`artgenre.runs.stratified_order` over
the successful samples). Besides the keys of `artgenre.attacks.examples.example_arrays` it
carries ``audio_clean`` / ``audio_adv`` ((n, L) float32), ``snr_db`` (n,) and
``pred_roundtrip`` (n,); ``clean`` / ``adversarial`` are the front end's spectrograms of the
clean and of the actual adversarial audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artgenre.attacks.examples import save_examples
from artgenre.runtime import log


def _spectrograms(classifier, audio: np.ndarray, ref: np.ndarray) -> np.ndarray:
    import torch

    frontend = classifier.model.frontend
    with torch.no_grad():
        a = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(classifier.device)
        r = torch.from_numpy(np.asarray(ref, dtype=np.float32)).to(classifier.device)
        return frontend(a, r).cpu().numpy().astype(np.float32)


def save_verified_examples(*, path: Path, threat, classifier, split, x_adv: np.ndarray, clean_pred: np.ndarray,
                           n_examples: int, seed: int, attack: str, eps: float, norm: str, genres, batch_size: int,
                           index: np.ndarray) -> dict | None:
    """Pick and save up to ``n_examples`` verified successful examples of one cell.

    Parameters
    ----------
    path : Path
        The npz to write.
    threat : artgenre.threats.ThreatModel
    classifier : ART classifier
        The evaluated waveform classifier (front end ∘ model).
    split : artgenre.data.Split
        The attacked samples; ``x_adv`` (N, L) their adversarial audio, ``clean_pred`` (N,)
        the clean predictions.
    index : np.ndarray, shape (N,)
        Positions of the attacked samples in the partition (stored as ``indices``).

    Returns
    -------
    dict or None
        The result's ``examples`` entry (``file``, ``indices``, ``attack``, ``eps``, ``norm``),
        or None when no attack of this cell succeeded after the round trip.
    """
    from artgenre.attacks.roundtrip import roundtrip_predictions
    from artgenre.runs import stratified_order
    from artgenre.threats_waveform import snr_db

    x = np.asarray(threat.inputs(split), dtype=np.float32)
    y = np.asarray(split.y)
    ref = np.asarray(split.audio_ref)
    adv_pred = threat.predict(classifier, x_adv, split=split, batch_size=batch_size).argmax(axis=1)
    cand = np.flatnonzero((clean_pred == y) & (adv_pred != y))
    rt_pred, _ = roundtrip_predictions(classifier=classifier, audio=x_adv[cand], ref=ref[cand], batch_size=batch_size)
    keep = rt_pred != y[cand]
    cand, rt_pred = cand[keep], rt_pred[keep]
    if not len(cand):
        log.warning("no %s attack at ε=%g (%s) succeeded after the WAV round trip; no examples saved", attack, eps, norm)
        return None
    pos = np.sort(stratified_order(y=y[cand], seed=seed)[:n_examples])
    pick = cand[pos]
    save_examples(path, **{
        "clean": _spectrograms(classifier, x[pick], ref[pick]),
        "adversarial": _spectrograms(classifier, x_adv[pick], ref[pick]),
        "y": y[pick], "track": np.asarray(split.track)[pick].astype(str),
        "attack": np.array(attack), "eps": np.array(eps, dtype=np.float64), "norm": np.array(norm),
        "genres": np.array(list(genres), dtype=str),
        "pred_clean": np.asarray(clean_pred[pick], dtype=np.int64), "pred_adv": np.asarray(adv_pred[pick], dtype=np.int64),
        "pred_roundtrip": np.asarray(rt_pred[pos], dtype=np.int64),
        "audio_clean": x[pick], "audio_adv": np.asarray(x_adv[pick], dtype=np.float32),
        "snr_db": snr_db(x[pick], x_adv[pick]).astype(np.float64),
    })
    return {"file": Path(path).name, "indices": [int(i) for i in np.asarray(index)[pick]], "attack": attack,
            "eps": float(eps), "norm": norm}


__all__ = ["save_verified_examples"]
