"""Saved adversarial examples (the ``.npz`` files named by attack results)."""

from __future__ import annotations

import zipfile
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
        get = {k: (z[k] if k in z else None) for k in ("y", "track", "attack", "eps", "genres")}
    genres = tuple(map(str, get["genres"])) if get["genres"] is not None else genres_of(result)
    ys = _per_example(get["y"], n, None)
    tracks = _per_example(get["track"], n, "")
    attacks = _per_example(get["attack"], n, "?")
    eps = _per_example(get["eps"], n, float("nan"))
    indices = as_list(as_dict(result.data.get("examples")).get("indices"))
    out = []
    for i in range(n):
        y = ys[i]
        genre = genres[int(y)] if genres is not None and y is not None and 0 <= int(y) < len(genres) else ("" if y is None else str(y))
        out.append({
            "model": result.model, "strategy": result.defense or BASELINE,
            "source_model": result.source_model, "file": path.name,
            "sample": indices[i] if i < len(indices) else i, "y": y, "genre": genre,
            "track": str(tracks[i]), "attack": str(attacks[i]), "eps": float(eps[i]),
            "clean": clean[i, 0], "adversarial": adv[i, 0],
        })
    return out


def load_examples(*, index: ResultIndex, max_examples: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """Up to ``max_examples`` saved examples, taken in turn from each examples file.

    Undefended white-box results come first, then defended, then transfer results (each group
    taken in turn across its files before the next group is used), so a small limit still
    shows the main attacks. Each example gets a running ``idx``.

    Returns
    -------
    examples : list of dict
        ``idx, model, strategy, source_model, file, sample, y, genre, track, attack, eps,
        clean (128, 128), adversarial (128, 128)``.
    unreadable : list of (path, reason)
        Example files that are missing or malformed (logged as warnings, not raised).
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
    chosen: list[dict] = []
    # Round-robin within a group before moving to the next: a transfer file's examples are the
    # source model's white-box ones again, so they only fill what the white-box files leave.
    for g in sorted(set(groups)):
        files = [f for f, fg in zip(per_file, groups) if fg == g]
        depth = 0
        while len(chosen) < max_examples and any(depth < len(f) for f in files):
            for f in files:
                if depth < len(f) and len(chosen) < max_examples:
                    chosen.append(f[depth])
            depth += 1
    for i, ex in enumerate(chosen):
        ex["idx"] = i
    return chosen, unreadable
