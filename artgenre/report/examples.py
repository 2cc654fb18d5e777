"""Saved adversarial examples (the ``.npz`` files named by attack results).

Only successful attacks are shown as such. Files that record the model's predictions
(``pred_clean``, ``pred_adv`` per example) keep only examples with
``pred_clean == y != pred_adv`` (``verified`` True); files without them (older runs) keep every
example with ``verified`` None, and the report says that they are not verified.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artgenre.report.collect import BASELINE, ResultFile, as_dict, as_list, genres_of
from artgenre.report.index import ResultIndex
from artgenre.runtime import log

_SHAPE_TAIL = (1, 128, 128)


def _resolve(result: ResultFile, root: Path, name: str) -> Path:
    p = Path(name)
    if p.is_absolute():
        return p
    for base in (result.path.parent, root):
        if (base / p).exists():
            return base / p
    return result.path.parent / p


def _per_example(arr, n: int, default):
    if arr is None:
        return [default] * n
    a = np.atleast_1d(arr)
    if a.size == 1:
        return [a.reshape(-1)[0].item()] * n
    return [v.item() if hasattr(v, "item") else v for v in a.reshape(-1)[:n]] + [default] * max(0, n - a.size)


def _read_npz(result: ResultFile, path: Path) -> list[dict]:
    with np.load(path, allow_pickle=False) as z:
        if "clean" not in z or "adversarial" not in z:
            raise ValueError(f"keys {sorted(z.files)} lack 'clean'/'adversarial'")
        clean, adv = np.asarray(z["clean"], np.float32), np.asarray(z["adversarial"], np.float32)
        if clean.shape != adv.shape or clean.ndim != 4 or clean.shape[1:] != _SHAPE_TAIL:
            raise ValueError(f"clean {clean.shape} / adversarial {adv.shape}; expected (n, 1, 128, 128) both")
        n = clean.shape[0]
        keys = ("y", "track", "attack", "eps", "genres", "pred_clean", "pred_adv", "snr_db")
        get = {k: (z[k] if k in z else None) for k in keys}
        audio = _audio(z, n)
    genres = tuple(map(str, get["genres"])) if get["genres"] is not None else genres_of(result)
    ys = _per_example(get["y"], n, None)
    tracks = _per_example(get["track"], n, "")
    attacks = _per_example(get["attack"], n, "?")
    eps = _per_example(get["eps"], n, float("nan"))
    recorded = get["pred_clean"] is not None and get["pred_adv"] is not None
    pred_clean = _per_example(get["pred_clean"], n, None)
    pred_adv = _per_example(get["pred_adv"], n, None)
    snr = _per_example(get["snr_db"], n, None)
    indices = as_list(as_dict(result.data.get("examples")).get("indices"))
    out = []
    for i in range(n):
        y, pc, pa = ys[i], pred_clean[i], pred_adv[i]
        verified = None
        if recorded:
            verified = None not in (y, pc, pa) and int(pc) == int(y) != int(pa)
        out.append({
            "model": result.model, "strategy": result.defense or BASELINE,
            "source_model": result.source_model, "file": path.name,
            "sample": indices[i] if i < len(indices) else i, "y": y, "genre": _label(genres, y),
            "pred_clean": pc, "pred_adv": pa, "pred_clean_genre": _label(genres, pc),
            "pred_adv_genre": _label(genres, pa), "verified": verified,
            "track": str(tracks[i]), "attack": str(attacks[i]), "eps": float(eps[i]),
            "clean": clean[i, 0], "adversarial": adv[i, 0],
            "audio_clean": None if audio is None else audio[0][i],
            "audio_adv": None if audio is None else audio[1][i], "snr_db_recorded": snr[i],
        })
    return out


def _audio(z, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The attacked audio (waveform threat model): ``audio_clean``/``audio_adv`` (n, L) float32,
    or None when the file holds none."""
    if "audio_clean" not in z or "audio_adv" not in z:
        return None
    clean, adv = np.asarray(z["audio_clean"], np.float32), np.asarray(z["audio_adv"], np.float32)
    if clean.shape != adv.shape or clean.ndim != 2 or clean.shape[0] != n:
        raise ValueError(f"audio_clean {clean.shape} / audio_adv {adv.shape}; expected ({n}, L) both")
    return clean, adv


def _label(genres, y) -> str:
    if y is None:
        return ""
    return genres[int(y)] if genres is not None and 0 <= int(y) < len(genres) else str(y)


@dataclass(frozen=True)
class ExampleSelection:
    """What `load_examples` chose and how many saved examples it saw.

    Attributes
    ----------
    examples : list of dict
        ``idx, model, strategy, source_model, file, sample, y, genre, pred_clean, pred_adv,
        pred_clean_genre, pred_adv_genre, verified (True or None), track, attack, eps,
        clean (128, 128), adversarial (128, 128), audio_clean / audio_adv ((L,) float32 at
        22050 Hz, or None: the attacked audio of a waveform example), snr_db_recorded``.
    unreadable : list of (path, reason)
        Example files that are missing or malformed (logged as warnings, not raised).
    saved : int
        Examples in the readable files.
    successful : int
        Saved examples verified as successful attacks.
    unverified : int
        Saved examples from files that do not record predictions.
    """

    examples: list[dict]
    unreadable: list[tuple[str, str]]
    saved: int = 0
    successful: int = 0
    unverified: int = 0


def load_examples(*, index: ResultIndex, max_examples: int) -> ExampleSelection:
    """Up to ``max_examples`` saved examples: successful attacks, one per genre where possible.

    Examples that are recorded as unsuccessful (see module docstring) are dropped. Verified
    examples come before unverified ones; within that, undefended white-box results come
    first, then defended, then transfer results (each group taken in turn across its files),
    so a small limit still shows the main attacks. A first pass takes one example per true
    genre, a second fills the remaining places. Each example gets a running ``idx``.

    Returns
    -------
    ExampleSelection
    """
    def group(r) -> tuple:
        return (r.source_model is not None, r.defense is not None)

    results = sorted(index.results.attack, key=lambda r: (*group(r), str(r.path)))
    per_file, groups, unreadable = [], [], []
    for r in results:
        ex = r.data.get("examples")
        if not isinstance(ex, dict) or not isinstance(ex.get("file"), str):
            continue
        path = _resolve(r, index.results.root, ex["file"])
        try:
            per_file.append(_read_npz(r, path))
            groups.append(group(r))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("skipping examples file %s: %s", path, exc)
            unreadable.append((str(path), str(exc)))
    ordered: list[dict] = []
    # Round-robin within a group before moving to the next: a transfer file's examples are the
    # source model's white-box ones again, so they only fill what the white-box files leave.
    for g in sorted(set(groups)):
        files = [f for f, fg in zip(per_file, groups) if fg == g]
        for depth in range(max((len(f) for f in files), default=0)):
            ordered += [f[depth] for f in files if depth < len(f)]
    saved = len(ordered)
    ordered = [ex for ex in ordered if ex["verified"] is not False]
    ordered.sort(key=lambda ex: ex["verified"] is None)
    chosen: list[dict] = []
    genres_taken: set[str] = set()
    for ex in ordered:
        if len(chosen) < max_examples and ex["genre"] not in genres_taken:
            chosen.append(ex)
            genres_taken.add(ex["genre"])
    chosen += [ex for ex in ordered if not any(ex is c for c in chosen)][: max_examples - len(chosen)]
    for i, ex in enumerate(chosen):
        ex["idx"] = i
    return ExampleSelection(
        examples=chosen, unreadable=unreadable, saved=saved,
        successful=sum(ex["verified"] is True for ex in ordered),
        unverified=sum(ex["verified"] is None for ex in ordered),
    )
