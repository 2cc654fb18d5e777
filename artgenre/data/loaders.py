"""Dataset loaders registered in `artgenre.data.DATASETS` (``synth`` and ``gtzan``).

Both take the keyword arguments of `artgenre.data.load_dataset` (minus ``name``) plus their
own options, describe their tracks as jobs and hand over to
`artgenre.data.pipeline.build_or_load`.
"""

from __future__ import annotations

import os
from functools import partial

import numpy as np

from artgenre.data.dataset import GENRES, Dataset
from artgenre.data.extract import DEFAULT_WORKERS, check_workers
from artgenre.data.features import DEFAULT_FEATURES, FeatureParams
from artgenre.data.gtzan import load_audio, scan_gtzan
from artgenre.data.pipeline import TrackJob, build_or_load, check_seed, segments_from_waveform
from artgenre.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_SCHEMES,
    check_fractions,
    filtered_split,
    random_split,
)
from artgenre.data.synth import (
    DEFAULT_CLIP_SECONDS,
    DEFAULT_CLIPS_PER_GENRE,
    SYNTH_VERSION,
    SynthOptions,
    synthesize_clip,
)
from artgenre.data.windows import segment_windows
from artgenre.errors import DataError, ParameterError


def _gtzan_job(payload: tuple[str, FeatureParams]) -> np.ndarray:
    path, params = payload
    return segments_from_waveform(load_audio(path=path, sr=params.sr), params)


def _synth_job(payload: tuple[str, int, int, float, FeatureParams]) -> np.ndarray:
    genre, seed, index, seconds, params = payload
    return segments_from_waveform(
        synthesize_clip(genre=genre, seed=seed, index=index, seconds=seconds, sr=params.sr), params
    )


def _gtzan_audio_job(payload: tuple[str, FeatureParams]) -> tuple[np.ndarray, float]:
    path, params = payload
    return segment_windows(y=load_audio(path=path, sr=params.sr), params=params)


def _synth_audio_job(payload: tuple[str, int, int, float, FeatureParams]) -> tuple[np.ndarray, float]:
    genre, seed, index, seconds, params = payload
    y = synthesize_clip(genre=genre, seed=seed, index=index, seconds=seconds, sr=params.sr)
    return segment_windows(y=y, params=params)


def _random_assign(tracks, labels, *, seed, fractions):
    return random_split(tracks=tracks, labels=labels, seed=seed, fractions=fractions)


def _fixed_assign(tracks, labels, *, lists):
    have = set(tracks)
    return {s: tuple(t for t in ids if t in have) for s, ids in lists.items()}


def _common(split_scheme, seed, workers, fractions):
    SPLIT_SCHEMES[split_scheme]  # noqa: B018 - raises ParameterError listing the schemes
    seed = check_seed(seed)
    workers = check_workers(workers)
    if fractions is not None and split_scheme != "random":
        raise ParameterError(
            f"fractions={fractions!r} only apply to split_scheme='random', not {split_scheme!r}"
        )
    fr = check_fractions(DEFAULT_FRACTIONS if fractions is None else fractions)
    return seed, workers, fr


def load_synth(
    *,
    root: str | os.PathLike | None = None,
    split_scheme: str = "random",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    clips_per_genre: int = DEFAULT_CLIPS_PER_GENRE,
    clip_seconds: float = DEFAULT_CLIP_SECONDS,
    fractions=None,
    workers: int = DEFAULT_WORKERS,
) -> Dataset:
    """The built-in synthetic dataset (see `artgenre.data.synth`).

    Parameters
    ----------
    root : None
        Must be None: the data are generated, not read.
    split_scheme : {"random"}
        ``"filtered"`` names GTZAN tracks and is refused here.
    seed : int
        Seeds both the clips and the split.
    cache_dir : path or None
        Cache root override.
    progress : bool
        Show a progress bar while computing.
    clips_per_genre : int
        Clips per class (default 20).
    clip_seconds : float
        Clip length in seconds (default 12, i.e. 4 segments).
    fractions : (train, val, test) or None
        Track fractions of the random split; None means (0.8, 0.1, 0.1).
    workers : int
        Processes for synthesis and features (default 2).

    Returns
    -------
    Dataset

    Raises
    ------
    ParameterError
        ``root`` given, scheme other than ``random``, bad seed, size or fractions.
    """
    if root is not None:
        raise ParameterError(
            f"root={str(root)!r} is not used by dataset 'synth' (it is generated in memory); "
            "leave root unset, or use dataset 'gtzan' to read audio files"
        )
    seed, workers, fr = _common(split_scheme, seed, workers, fractions)
    if split_scheme != "random":
        raise ParameterError(
            f"split_scheme={split_scheme!r} names GTZAN tracks and only applies to dataset 'gtzan'; "
            "use split_scheme='random' with 'synth'"
        )
    opts = SynthOptions(clips_per_genre=clips_per_genre, clip_seconds=clip_seconds)
    params = DEFAULT_FEATURES
    jobs = [
        TrackJob(
            track=f"{genre}.{i:05d}", label=g, source=f"synth:{genre}.{i:05d}",
            payload=(genre, seed, i, opts.clip_seconds, params),
        )
        for g, genre in enumerate(GENRES)
        for i in range(opts.clips_per_genre)
    ]
    info = {
        "root": None, "split_scheme": split_scheme, "seed": seed, "fractions": list(fr),
        "clips_per_genre": opts.clips_per_genre, "clip_seconds": opts.clip_seconds,
        "synth_version": SYNTH_VERSION,
    }
    key_inputs = {
        k: info[k]
        for k in ("split_scheme", "seed", "fractions", "clips_per_genre", "clip_seconds", "synth_version")
    }
    return build_or_load(
        name="synth", key_inputs=key_inputs, cache_dir=cache_dir, jobs=jobs, fn=_synth_job,
        assign=partial(_random_assign, seed=seed, fractions=fr), params=params, info=info,
        show_progress=progress, workers=workers, audio_fn=_synth_audio_job,
    )


def load_gtzan(
    *,
    root: str | os.PathLike | None = None,
    split_scheme: str = "random",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    fractions=None,
    workers: int = DEFAULT_WORKERS,
) -> Dataset:
    """GTZAN read from ``root`` (see `artgenre.data.gtzan` for the accepted layouts).

    Parameters
    ----------
    root : path
        Required; the folder holding ``genres/`` or ``genres_original/`` (or the genre
        folders themselves).
    split_scheme : {"random", "filtered"}
        ``random``: stratified by genre over the usable tracks, seeded. ``filtered``: the
        fault-filtered 443/197/290 partition; listed tracks absent on disk end up in
        `Dataset.missing`, tracks on disk that no list names are left out.
    seed : int
        Seeds the random split.
    cache_dir : path or None
        Cache root override.
    progress : bool
        Show a progress bar while decoding.
    fractions : (train, val, test) or None
        Random-split fractions; None means (0.8, 0.1, 0.1).
    workers : int
        Processes for decoding and features (default 2).

    Returns
    -------
    Dataset
        Files that could not be used are in ``skipped`` as (path, reason).

    Raises
    ------
    ParameterError
        No ``root``, unknown scheme, bad seed or fractions.
    DataError
        ``root`` has no genre folder (the message lists the layouts looked for) or no
        audio file at all.
    """
    if root is None:
        raise ParameterError(
            "dataset 'gtzan' needs root=<folder holding genres/ or genres_original/>; "
            "or use dataset 'synth', which needs no files"
        )
    seed, workers, fr = _common(split_scheme, seed, workers, fractions)
    scan = scan_gtzan(root=root)
    if not scan.files:
        raise DataError(f"GTZAN folder {str(scan.base)!r} has genre folders but no .au/.wav/.flac files")
    params = DEFAULT_FEATURES
    files = scan.files
    missing: tuple[str, ...] = ()
    info = {"root": str(root), "base": str(scan.base), "split_scheme": split_scheme}
    if split_scheme == "filtered":
        lists, missing, excluded = filtered_split(tracks=[f.track for f in files])
        listed = set().union(*lists.values())
        files = tuple(f for f in files if f.track in listed)
        assign = partial(_fixed_assign, lists=lists)
        info["excluded"] = len(excluded)
        key_extra = {}
    else:
        assign = partial(_random_assign, seed=seed, fractions=fr)
        info.update(seed=seed, fractions=list(fr))
        key_extra = {"seed": seed, "fractions": list(fr)}
    label = {g: i for i, g in enumerate(GENRES)}
    jobs = [TrackJob(track=f.track, label=label[f.genre], source=f.path, payload=(f.path, params)) for f in files]
    key_inputs = {
        "split_scheme": split_scheme,
        **key_extra,
        "files": [[f.rel, f.size, f.mtime_ns] for f in scan.files],
    }
    return build_or_load(
        name="gtzan", key_inputs=key_inputs, cache_dir=cache_dir, jobs=jobs, fn=_gtzan_job,
        assign=assign, params=params, info=info, pre_skipped=scan.skipped, missing=missing,
        show_progress=progress, workers=workers, audio_fn=_gtzan_audio_job,
    )
