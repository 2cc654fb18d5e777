"""The build-or-load step shared by every dataset: cache lookup, feature jobs, split, cache write.

A dataset loader describes its tracks as `TrackJob` s plus a function that turns a job into
segments; `build_or_load` does the rest, so GTZAN and the synthetic set go through exactly
the same caching, splitting and reporting code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from artgenre.data import features
from artgenre.data.cache import (
    AUDIO_SPLIT, CachedData, add_audio, cache_key, entry_dir, read_cache, write_cache,
)
from artgenre.data.cachedir import prepare_entry
from artgenre.data.dataset import GENRES, Dataset
from artgenre.data.extract import run_jobs
from artgenre.data.features import FeatureParams
from artgenre.data.gtzan import SkipTrack
from artgenre.data.splits import SPLIT_NAMES
from artgenre.errors import DataError, check_int
from artgenre.runtime import log

# Splitter: (tracks, labels) -> {"train": tracks, "val": tracks, "test": tracks}
Assign = Callable[[Sequence[str], Sequence[int]], Mapping[str, Sequence[str]]]
# payload -> (segment audio windows (k, L) float32, clip reference power)
AudioFn = Callable[[Any], tuple[np.ndarray, float]]


@dataclass(frozen=True)
class TrackJob:
    """One track to turn into segments.

    Attributes
    ----------
    track : str
        Track id.
    label : int
        Genre index.
    source : str
        What `Dataset.skipped` names if the job fails (a file path, or a synthetic id).
    payload : Any
        Picklable argument of the job function.
    """

    track: str
    label: int
    source: str
    payload: Any


def check_seed(seed) -> int:
    """Return ``seed`` as int, or raise `ParameterError` unless it is a non-negative integer."""
    return check_int("seed", seed, 0)


def segments_from_waveform(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Segments of one clip; raises `SkipTrack` when the clip is shorter than one segment."""
    if features.n_segments(len(y), params) == 0:
        raise SkipTrack(
            f"too short: {len(y) / params.sr:.2f} s, one segment needs "
            f"{params.segment_samples / params.sr:.2f} s"
        )
    # Looked up on the module at call time, so tests can watch or forbid the computation.
    return features.waveform_to_segments(y, params)


def _test_audio(
    *, name: str, tracks: Sequence[str], counts: Sequence[int], jobs: Sequence[TrackJob],
    audio_fn: AudioFn, workers: int, show_progress: bool,
) -> list[tuple[np.ndarray, float]]:
    """Audio windows + reference of each test track, checked against its segment count.

    A second, small pass over the test tracks only: the split is known only after every
    track's features exist, and keeping all tracks' audio until then would cost as much
    memory as the features.
    """
    by_track = {j.track: j for j in jobs}
    absent = [t for t in tracks if t not in by_track]
    if absent:
        raise DataError(f"test track(s) {', '.join(absent[:5])} are no longer among the {name} inputs")
    results = run_jobs(
        fn=audio_fn, items=[by_track[t].payload for t in tracks], workers=workers,
        show_progress=show_progress, description=f"{name}: test audio",
    )
    out = []
    for track, count, (ok, value) in zip(tracks, counts, results):
        if not ok:
            raise DataError(f"test track {track}: its audio cannot be read again ({value})")
        windows, ref = value
        if windows.shape[0] != count:
            raise DataError(
                f"test track {track} has {count} segment(s) but {windows.shape[0]} audio window(s)"
            )
        out.append((windows, float(ref)))
    return out


def _complete_audio(*, name, folder, key, cached: CachedData, **kwargs) -> CachedData | None:
    """Add the test audio to an entry cached before it was kept; None if it must be rebuilt."""
    track = cached.splits[AUDIO_SPLIT].track
    tracks, first, counts = np.unique(track, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    try:
        audio = _test_audio(
            name=name, tracks=tracks[order].tolist(), counts=counts[order].tolist(), **kwargs
        )
        add_audio(folder=folder, key=key, audio=audio)
    except DataError as exc:
        log.warning("feature cache %s cannot be completed with test audio (%s); rebuilding it", folder, exc)
        return None
    except OSError as exc:
        log.warning(
            "cannot add test audio to feature cache %s (%s); its test split has no audio", folder, exc
        )
        return cached
    log.info("added the test split's audio to feature cache %s", folder)
    return read_cache(folder=folder, key=key, n_classes=len(GENRES))


def _warn_skipped(skipped: Sequence[tuple[str, str]]) -> None:
    if skipped:
        lines = "\n".join(f"  {path}: {reason}" for path, reason in skipped)
        log.warning("skipped %d audio file(s) (see Dataset.skipped):\n%s", len(skipped), lines)


def _warn_missing(missing: Sequence[str]) -> None:
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        log.warning(
            "%d track(s) named by the split lists are not on disk (see Dataset.missing): %s",
            len(missing), shown,
        )


def build_or_load(
    *,
    name: str,
    key_inputs: Mapping[str, Any],
    cache_dir,
    jobs: Sequence[TrackJob],
    fn: Callable[[Any], np.ndarray],
    assign: Assign,
    params: FeatureParams,
    info: Mapping[str, Any],
    pre_skipped: Sequence[tuple[str, str]] = (),
    missing: Sequence[str] = (),
    show_progress: bool = True,
    workers: int = 2,
    audio_fn: AudioFn | None = None,
) -> Dataset:
    """Load a prepared dataset from the cache, or compute and cache it.

    Parameters
    ----------
    name : str
        Dataset name.
    key_inputs : mapping
        Everything besides ``name`` and ``params`` that the arrays depend on (JSON-able).
    cache_dir : path or None
        Cache root override (see `artgenre.data.cache.resolve_cache_root`).
    jobs : sequence of TrackJob
        Candidate tracks.
    fn : callable
        Picklable ``payload -> segments`` function; raises `SkipTrack` for unusable input.
    assign : callable
        Splits the usable tracks: ``assign(tracks, labels) -> {split: tracks}``.
    params : FeatureParams
    info : mapping
        Facts stored with the data and returned in `Dataset.info`.
    pre_skipped : sequence of (path, reason)
        Files rejected before any job ran.
    missing : sequence of str
        Listed tracks that are not on disk.
    show_progress : bool
        Show a progress bar while computing features.
    workers : int
        Processes for the feature jobs.
    audio_fn : callable or None
        Picklable ``payload -> (windows, ref)`` (`artgenre.data.windows.segment_windows` of
        the track's clip); when given, the test split keeps its audio (`Split.audio`), and
        an entry cached without it is completed.

    Returns
    -------
    Dataset
        Arrays are read-only memory maps of the cache; ``from_cache`` says whether they
        were there already.

    Raises
    ------
    DataError
        No track could be used, or the cache folder cannot be created.
    """
    t0 = time.perf_counter()
    key = cache_key(inputs={"name": name, "params": params.as_dict(), **key_inputs})
    folder = entry_dir(cache_dir=cache_dir, name=name, key=key)
    cached = read_cache(folder=folder, key=key, n_classes=len(GENRES))
    audio_kwargs = dict(jobs=jobs, audio_fn=audio_fn, workers=workers, show_progress=show_progress)
    if cached is not None and audio_fn is not None and cached.splits[AUDIO_SPLIT].audio is None:
        cached = _complete_audio(name=name, folder=folder, key=key, cached=cached, **audio_kwargs)
    from_cache = cached is not None
    if cached is None:
        prepare_entry(folder=folder)
        results = run_jobs(
            fn=fn, items=[j.payload for j in jobs], workers=workers, show_progress=show_progress,
            description=f"{name}: features",
        )
        skipped = list(pre_skipped)
        good: dict[str, tuple[int, np.ndarray]] = {}
        for job, (ok, value) in zip(jobs, results):
            if ok:
                good[job.track] = (job.label, value)
            else:
                skipped.append((job.source, value))
        if not good:
            raise DataError(
                f"none of the {len(jobs)} {name} track(s) could be used; skipped: "
                + "; ".join(f"{p}: {r}" for p, r in skipped[:5])
            )
        tracks = list(good)
        assignment = assign(tracks, [good[t][0] for t in tracks])
        parts = {s: [(t, good[t][0], good.pop(t)[1]) for t in assignment[s]] for s in SPLIT_NAMES}
        audio = None
        if audio_fn is not None:
            test = parts[AUDIO_SPLIT]
            audio = _test_audio(
                name=name, tracks=[t for t, _, _ in test], counts=[seg.shape[0] for _, _, seg in test],
                **audio_kwargs,
            )
        built_info = {
            **info,
            "tracks": {s: len(parts[s]) for s in SPLIT_NAMES},
            "cache_key": key,
        }
        write_cache(
            folder=folder, key=key, name=name, genres=GENRES, parts=parts, skipped=skipped,
            missing=missing, info=built_info, params=params.as_dict(),
            build_seconds=time.perf_counter() - t0, audio=audio,
        )
        del parts
        cached = read_cache(folder=folder, key=key, n_classes=len(GENRES))
        if cached is None:
            raise DataError(f"the feature cache just written to {str(folder)!r} cannot be read back")
    _warn_skipped(cached.skipped)
    _warn_missing(cached.missing)
    return Dataset(
        name=name,
        genres=GENRES,
        train=cached.splits["train"],
        val=cached.splits["val"],
        test=cached.splits["test"],
        skipped=cached.skipped,
        missing=cached.missing,
        cache_dir=folder,
        from_cache=from_cache,
        seconds=time.perf_counter() - t0,
        params=params,
        info={**cached.info, **info, "build_seconds": cached.build_seconds},
    )
