"""On-disk cache of prepared feature arrays.

One folder per prepared dataset, named ``<name>-<key>`` under the cache root, where the key
hashes everything the arrays depend on (dataset name, file list with sizes and mtimes,
feature parameters, split scheme, seed, synthesis options, cache format)::

    <cache root>/synth-1f0c.../
        train_x.npy  train_y.npy  train_track.npy
        val_x.npy    ...          test_track.npy
        test_audio.npy  test_audio_ref.npy   <- each test segment's audio window and clip level
        manifest.json            <- written last

Every file is written atomically and the manifest goes last, so a folder without a manifest
is an interrupted build and is simply rebuilt. Writers of one entry take turns under its
``.write.lock`` and first delete the temporary files a killed writer left (see
`artgenre.data.cachedir`). On load the manifest's shapes, dtypes and checksums (labels and
track ids) are checked against the files; a truncated or corrupt file is reported with a
warning and the dataset is rebuilt. ``x`` (and ``test_audio``) are
opened with ``mmap_mode='r'``. An entry written before the test audio was kept has no
``audio`` record in its manifest; `add_audio` completes it without recomputing features.

The cache root is ``cache_dir`` when given, else ``$ARTGENRE_CACHE``, else
``~/.cache/artgenre``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Where entries live and how they are written; re-exported as part of this module's API.
from artgenre.data.cachedir import (  # noqa: F401
    ENV_VAR, default_cache_root, entry_dir, exclusive_write, resolve_cache_root,
)
from artgenre.data.dataset import Split
from artgenre.data.splits import SPLIT_NAMES
from artgenre.errors import DataError
from artgenre.io import atomic_path, atomic_save_npy, atomic_write_json, read_json, to_jsonable
from artgenre.runtime import log

CACHE_FORMAT = 1
MANIFEST = "manifest.json"
ARRAYS = ("x", "y", "track")
# Only the test split keeps its audio: waveform attacks run on it, and GTZAN's full audio
# would be as large as the features.
AUDIO_SPLIT = "test"


def cache_key(*, inputs: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``inputs`` serialised as canonical JSON (sorted keys)."""
    blob = json.dumps(
        {"format": CACHE_FORMAT, **to_jsonable(dict(inputs))}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedData:
    """What a cache entry holds: the three splits and the provenance stored beside them."""

    splits: dict[str, Split]
    skipped: tuple[tuple[str, str], ...]
    missing: tuple[str, ...]
    info: dict
    build_seconds: float


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _describe(a: np.ndarray, *, checksum: bool) -> dict:
    out = {"shape": list(a.shape), "dtype": a.dtype.str}
    if checksum:
        out["sha256"] = _digest(a)
    return out


@exclusive_write
def write_cache(
    *,
    folder: Path,
    key: str,
    name: str,
    genres: Sequence[str],
    parts: Mapping[str, list[tuple[str, int, np.ndarray]]],
    skipped: Sequence[tuple[str, str]],
    missing: Sequence[str],
    info: Mapping[str, Any],
    params: Mapping[str, Any],
    build_seconds: float,
    audio: list[tuple[np.ndarray, float]] | None = None,
) -> None:
    """Write one cache entry; the manifest is written last.

    Runs under the entry's `entry_lock` (concurrent builders of one entry take turns) after
    the temporary files of a killed writer have been removed.

    Parameters
    ----------
    folder : Path
        Entry folder (see `entry_dir`); created if needed.
    key : str
        The entry's `cache_key`, stored in the manifest and checked on load.
    name : str
        Dataset name.
    genres : sequence of str
        Class names.
    parts : mapping
        ``split -> [(track, label, segments), ...]`` (lists) with ``segments`` of shape
        (k, 1, n_mels, frames), float32. The lists are modified in place: each entry's
        segments are released once written, so the dataset never sits in memory twice.
    skipped, missing, info, params, build_seconds
        Provenance stored in the manifest.
    audio : list of (windows, ref) or None
        For each track of ``parts["test"]``, in the same order: its segments' audio windows
        (k, L) float32 and its clip's reference power (see `artgenre.data.windows`). Released
        as written, like the segments. None writes no audio.
    """
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    # A stale manifest must not vouch for arrays that are about to change.
    if manifest_path.exists():
        manifest_path.unlink()
    splits_meta: dict[str, dict] = {}
    for split in SPLIT_NAMES:
        items = parts[split] if split in parts else []
        n = int(sum(seg.shape[0] for _, _, seg in items))
        seg_shape = tuple(items[0][2].shape[1:]) if items else (1, int(params["n_mels"]), int(params["frames"]))
        y = np.zeros(0, np.int64)
        track = np.zeros(0, dtype="<U1")
        if items:
            y = np.concatenate([np.full(seg.shape[0], lab, dtype=np.int64) for _, lab, seg in items])
            track = np.concatenate([np.full(seg.shape[0], t) for t, _, seg in items]).astype(str)
        x_path = folder / f"{split}_x.npy"
        with atomic_path(x_path) as tmp:
            x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, *seg_shape))
            pos = 0
            for i in range(len(items)):
                seg = items[i][2]
                x[pos: pos + seg.shape[0]] = seg
                pos += seg.shape[0]
                items[i] = (items[i][0], items[i][1], None)  # free the per-track copy
            x.flush()
            x_desc = _describe(x, checksum=False)
            del x
        atomic_save_npy(folder / f"{split}_y.npy", y)
        atomic_save_npy(folder / f"{split}_track.npy", track)
        splits_meta[split] = {
            "segments": n,
            "tracks": len(items),
            "x": x_desc,
            "y": _describe(y, checksum=True),
            "track": _describe(track, checksum=True),
        }
    if audio is not None:
        meta = splits_meta[AUDIO_SPLIT]
        meta.update(_write_audio(folder, audio, n=meta["segments"]))
    atomic_write_json(
        manifest_path,
        {
            "format": CACHE_FORMAT,
            "key": key,
            "name": name,
            "genres": list(genres),
            "params": dict(params),
            "splits": splits_meta,
            "skipped": [list(s) for s in skipped],
            "missing": list(missing),
            "info": dict(info),
            "build_seconds": float(build_seconds),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )


def _write_audio(folder: Path, audio: list[tuple[np.ndarray, float]], *, n: int) -> dict:
    """Write ``test_audio.npy`` / ``test_audio_ref.npy``; return their manifest records."""
    total = int(sum(w.shape[0] for w, _ in audio))
    if total != n:
        raise DataError(f"the test audio holds {total} window(s) but the test split has {n} segment(s)")
    length = int(audio[0][0].shape[1]) if audio else 0
    ref = np.zeros(0, np.float32)
    if audio:
        ref = np.concatenate([np.full(w.shape[0], r, dtype=np.float32) for w, r in audio])
    with atomic_path(folder / f"{AUDIO_SPLIT}_audio.npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, length))
        pos = 0
        for i in range(len(audio)):
            windows = audio[i][0]
            out[pos: pos + windows.shape[0]] = windows
            pos += windows.shape[0]
            audio[i] = (None, audio[i][1])  # free the per-track copy
        out.flush()
        desc = _describe(out, checksum=False)
        del out
    atomic_save_npy(folder / f"{AUDIO_SPLIT}_audio_ref.npy", ref)
    return {"audio": desc, "audio_ref": _describe(ref, checksum=True)}


@exclusive_write
def add_audio(*, folder: Path, key: str, audio: list[tuple[np.ndarray, float]]) -> None:
    """Complete an entry written without test audio: write the audio, then the manifest.

    Parameters
    ----------
    folder : Path
        A valid entry (its manifest is read and rewritten with the audio records).
    key : str
        The entry's `cache_key` (checked against the manifest).
    audio : list of (windows, ref)
        As in `write_cache`, in the order of the test tracks in ``test_track.npy``.

    Raises
    ------
    DataError
        The manifest belongs to another key, or the windows do not match the test segments.
    OSError
        The folder cannot be written.
    """
    manifest = read_json(folder / MANIFEST)
    if manifest.get("key") != key:
        raise DataError(f"cache entry {str(folder)!r} belongs to another key; cannot add audio to it")
    meta = manifest["splits"][AUDIO_SPLIT]
    meta.update(_write_audio(folder, audio, n=int(meta["segments"])))
    # Atomic replace: until it lands, the old manifest (no audio record) stays valid.
    atomic_write_json(folder / MANIFEST, manifest)


class _Damaged(Exception):
    pass


def _load_array(path: Path, desc: dict, *, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise _Damaged(f"{path.name} is missing")
    try:
        a = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _Damaged(f"{path.name} cannot be read ({exc})") from None
    if list(a.shape) != list(desc["shape"]) or a.dtype.str != desc["dtype"]:
        raise _Damaged(
            f"{path.name} has shape {a.shape} and dtype {a.dtype.str}; the manifest says "
            f"{tuple(desc['shape'])} and {desc['dtype']}"
        )
    if "sha256" in desc and _digest(a) != desc["sha256"]:
        raise _Damaged(f"{path.name} does not match its checksum")
    return a


def read_cache(*, folder: Path, key: str, n_classes: int) -> CachedData | None:
    """Load and validate a cache entry.

    Parameters
    ----------
    folder : Path
        Entry folder.
    key : str
        Expected `cache_key`.
    n_classes : int
        Labels must lie in ``[0, n_classes)``.

    Returns
    -------
    CachedData or None
        None when there is no complete entry, or when it is damaged (then a warning names
        the problem and the caller rebuilds). ``x`` arrays are read-only memory maps.
    """
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        if folder.is_dir():
            log.info("cache %s has no manifest (interrupted build); rebuilding", folder)
        return None
    try:
        manifest = read_json(manifest_path)
        if manifest.get("format") != CACHE_FORMAT or manifest.get("key") != key:
            raise _Damaged("its manifest belongs to another cache format or key")
        splits: dict[str, Split] = {}
        for split in SPLIT_NAMES:
            meta = manifest["splits"][split]
            x = _load_array(folder / f"{split}_x.npy", meta["x"], mmap=True)
            y = _load_array(folder / f"{split}_y.npy", meta["y"], mmap=False)
            track = _load_array(folder / f"{split}_track.npy", meta["track"], mmap=False)
            if not (x.shape[0] == y.shape[0] == track.shape[0] == meta["segments"]):
                raise _Damaged(f"{split} arrays have different lengths")
            if y.size and (y.min() < 0 or y.max() >= n_classes):
                raise _Damaged(f"{split} labels lie outside [0, {n_classes})")
            audio = ref = None
            if "audio" in meta:
                audio = _load_array(folder / f"{split}_audio.npy", meta["audio"], mmap=True)
                ref = _load_array(folder / f"{split}_audio_ref.npy", meta["audio_ref"], mmap=False)
                if not (audio.shape[0] == ref.shape[0] == x.shape[0]):
                    raise _Damaged(f"{split} audio arrays do not match its {x.shape[0]} segment(s)")
            splits[split] = Split(x=x, y=y, track=track, audio=audio, audio_ref=ref)
        return CachedData(
            splits=splits,
            skipped=tuple((str(p), str(r)) for p, r in manifest.get("skipped", [])),
            missing=tuple(str(t) for t in manifest.get("missing", [])),
            info=dict(manifest.get("info", {})),
            build_seconds=float(manifest.get("build_seconds", 0.0)),
        )
    except (_Damaged, DataError, KeyError, TypeError, ValueError) as exc:
        log.warning("feature cache %s is damaged (%s); rebuilding it", folder, exc)
        return None
