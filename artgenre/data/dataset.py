"""Containers for prepared data: one `Split` per partition, bundled in a `Dataset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artgenre.data.features import DEFAULT_FEATURES, FeatureParams

GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop",
    "jazz", "metal", "pop", "reggae", "rock",
)


@dataclass(frozen=True)
class Split:
    """Segments of one partition.

    Attributes
    ----------
    x : np.ndarray, shape (N, 1, 128, 128), float32 in [0, 1]
        Log-mel segments (may be a read-only memory map of the cache).
    y : np.ndarray, shape (N,), int64
        Genre index into `Dataset.genres`.
    track : np.ndarray, shape (N,), str
        Track id of each segment (e.g. ``"blues.00012"``); segments of one track share it.
    audio : np.ndarray, shape (N, L), float32 in [-1, 1], or None
        The audio window each segment's frames depend on (`artgenre.data.windows`;
        ``L = (frames - 1) * hop_length + n_fft``, 67,072 by default); may be a read-only
        memory map. Kept for the test split only (None for train and val).
    audio_ref : np.ndarray, shape (N,), float32 >= 0, or None
        Reference power (clean maximum mel power) of each segment's clip; set with ``audio``.
    """

    x: np.ndarray
    y: np.ndarray
    track: np.ndarray
    audio: np.ndarray | None = None
    audio_ref: np.ndarray | None = None

    def __post_init__(self) -> None:
        from artgenre.errors import DataError

        if (self.audio is None) != (self.audio_ref is None):
            raise DataError("Split.audio and Split.audio_ref must be given together (or both None)")
        if self.audio is not None and not (
            self.audio.ndim == 2 and self.audio.shape[0] == self.audio_ref.shape[0] == self.y.shape[0]
        ):
            raise DataError(
                f"Split.audio {self.audio.shape} and audio_ref {self.audio_ref.shape} do not fit "
                f"{self.y.shape[0]} segments; expected shapes (N, L) and (N,)"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, index) -> "Split":
        """A new split with the segments at ``index`` (array of ints or a slice)."""
        audio = ref = None
        if self.audio is not None:
            audio, ref = np.asarray(self.audio[index]), np.asarray(self.audio_ref[index])
        return Split(
            x=np.asarray(self.x[index]), y=self.y[index], track=self.track[index], audio=audio, audio_ref=ref
        )


@dataclass(frozen=True)
class Dataset:
    """A prepared dataset: three track-disjoint splits plus provenance.

    Attributes
    ----------
    name : str
        Registry name (``"synth"``, ``"gtzan"``).
    genres : tuple of str
        Class names; label ``i`` is ``genres[i]``.
    train, val, test : Split
    skipped : tuple of (path, reason)
        Audio files that were found but not used (undecodable, empty, too short).
    missing : tuple of str
        Tracks named by a split list but not found on disk.
    cache_dir : Path or None
        Folder holding the cached feature arrays.
    from_cache : bool
        True when the arrays were loaded from the cache rather than computed.
    seconds : float
        Wall-clock time taken by `load_dataset`.
    params : FeatureParams
    info : dict
        Extra facts for summaries (root, split scheme, seed, clip counts, ...).
    """

    name: str
    genres: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    skipped: tuple[tuple[str, str], ...] = ()
    missing: tuple[str, ...] = ()
    cache_dir: Path | None = None
    from_cache: bool = False
    seconds: float = 0.0
    params: FeatureParams = DEFAULT_FEATURES
    info: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.genres)

    def split(self, name: str) -> Split:
        """Return the split called ``"train"``, ``"val"`` or ``"test"``."""
        from artgenre.errors import check_choice

        check_choice("split", name, ("train", "val", "test"))
        return getattr(self, name)
