"""Reading a GTZAN folder: layout discovery, track listing and audio decoding.

Two layouts are in circulation and both are accepted, as is a root that already is the folder
holding the ten genre folders::

    <root>/genres/<genre>/<genre>.000NN.au            (original tarball)
    <root>/genres_original/<genre>/<genre>.000NN.wav  (common re-distribution)
    <root>/Data/genres_original/<genre>/...           (same, as unpacked from some archives)
    <root>/<genre>/...

Audio is decoded by `artgenre.data.audiofile.load_audio` (soundfile; the container must
match the extension, the rate be plausible, the clip complete and finite), down-mixed to mono
and resampled to the feature rate with soxr when a file differs. The track id is the file stem
(``"blues.00012"``), the genre is the folder name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Decoding lives in `audiofile`; re-exported because loaders and feature jobs use these names.
from artgenre.data.audiofile import ACCEPTED_FORMATS, SkipTrack, load_audio  # noqa: F401
from artgenre.data.dataset import GENRES
from artgenre.errors import DataError
from artgenre.runtime import log

# One list of what is read: each extension comes with the containers it may hold.
AUDIO_EXTENSIONS: tuple[str, ...] = tuple(ACCEPTED_FORMATS)
# Relative folders searched, in order, for the genre folders.
LAYOUTS: tuple[str, ...] = (".", "genres", "genres_original", "Data/genres_original")


@dataclass(frozen=True)
class TrackFile:
    """One audio file of a GTZAN folder.

    Attributes
    ----------
    track : str
        Track id, the file stem (``"blues.00012"``).
    genre : str
        Genre folder name (one of `GENRES`).
    path : str
        Absolute path of the file.
    rel : str
        Path relative to the genre-folder parent (``"blues/blues.00012.wav"``).
    size : int
        File size in bytes.
    mtime_ns : int
        Modification time in nanoseconds.
    """

    track: str
    genre: str
    path: str
    rel: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class GtzanScan:
    """Result of `scan_gtzan`.

    Attributes
    ----------
    base : Path
        The folder that holds the genre folders.
    files : tuple of TrackFile
        Usable candidate files, sorted by genre order then track id; one per track id.
    skipped : tuple of (path, reason)
        Files rejected without decoding (duplicate track id).
    ignored : tuple of str
        Unknown folders next to the genre folders.
    absent_genres : tuple of str
        Genres without a folder.
    """

    base: Path
    files: tuple[TrackFile, ...]
    skipped: tuple[tuple[str, str], ...]
    ignored: tuple[str, ...]
    absent_genres: tuple[str, ...]


def find_genre_base(*, root: str | os.PathLike) -> Path:
    """Locate the folder that holds the genre folders under ``root``.

    Parameters
    ----------
    root : path
        A GTZAN folder in any of the layouts in `LAYOUTS`.

    Returns
    -------
    Path
        The first candidate (in `LAYOUTS` order) that has at least one genre folder.

    Raises
    ------
    DataError
        ``root`` is not a folder, or no layout has a genre folder; the message lists the
        layouts that were looked for.
    """
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise DataError(f"GTZAN root {str(root_path)!r} is not an existing folder")
    for rel in LAYOUTS:
        cand = root_path / rel
        if cand.is_dir() and any((cand / g).is_dir() for g in GENRES):
            return cand.resolve()
    looked = ", ".join(
        f"{rel if rel != '.' else '<root>'}/<genre>/<genre>.000NN.{{au,wav}}" for rel in LAYOUTS
    )
    raise DataError(
        f"no GTZAN genre folder ({', '.join(GENRES)}) found under {str(root_path)!r}; "
        f"looked for the layouts {looked} (original 'genres/*.au' and common "
        "'genres_original/*.wav')"
    )


def scan_gtzan(*, root: str | os.PathLike) -> GtzanScan:
    """List the audio files of a GTZAN folder without decoding them.

    Unknown folders beside the genre folders are ignored with one warning; hidden files and
    non-audio files are ignored. When one track id appears twice (``.au`` and ``.wav`` copies
    in the same folder), the first in sorted order is kept and the other is recorded as
    skipped.

    Parameters
    ----------
    root : path
        See `find_genre_base`.

    Returns
    -------
    GtzanScan

    Raises
    ------
    DataError
        See `find_genre_base`.
    """
    base = find_genre_base(root=root)
    ignored = tuple(
        sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in GENRES and not p.name.startswith("."))
    )
    if ignored:
        log.warning(
            "ignoring %d unknown folder(s) in %s (not a GTZAN genre): %s",
            len(ignored), base, ", ".join(ignored),
        )
    absent = tuple(g for g in GENRES if not (base / g).is_dir())
    if absent:
        log.warning("GTZAN folder %s has no folder for genre(s): %s", base, ", ".join(absent))
    files: list[TrackFile] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for genre in GENRES:
        folder = base / genre
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            # macOS AppleDouble files ("._x.wav") and other hidden files are not audio.
            if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            track = p.stem
            if track in seen:
                skipped.append((str(p), f"duplicate track id {track!r} (already read {seen[track]})"))
                continue
            st = p.stat()
            seen[track] = str(p)
            files.append(
                TrackFile(
                    track=track, genre=genre, path=str(p.resolve()), rel=f"{genre}/{p.name}",
                    size=int(st.st_size), mtime_ns=int(st.st_mtime_ns),
                )
            )
    return GtzanScan(
        base=base, files=tuple(files), skipped=tuple(skipped), ignored=ignored, absent_genres=absent
    )
