"""Shared fixtures: an isolated feature cache and tiny GTZAN-layout folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from artgenre.data.dataset import GENRES

SR = 22050
REPO = Path(__file__).resolve().parents[1]
# Real GTZAN excerpt (10 clips, one per genre) kept beside the repository, when present.
GTZAN_EXCERPT = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-excerpt"


@pytest.fixture(autouse=True, scope="session")
def _isolated_feature_cache(tmp_path_factory):
    """Point the default feature cache at a session temp folder so no test writes to ~/.cache."""
    old = os.environ.get("ARTGENRE_CACHE")
    os.environ["ARTGENRE_CACHE"] = str(tmp_path_factory.mktemp("artgenre-cache"))
    yield
    if old is None:
        os.environ.pop("ARTGENRE_CACHE", None)
    else:
        os.environ["ARTGENRE_CACHE"] = old


def tone(*, seconds: float, sr: int = SR, freq: float = 220.0, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A few harmonics with a pulsing envelope plus a little noise; shape (n,) or (n, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    y = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3, 5))
    y = y * (0.6 + 0.4 * np.sin(2 * np.pi * 2.0 * t)) + 0.01 * rng.standard_normal(t.size)
    y = (0.3 * y / np.abs(y).max()).astype(np.float32)
    if channels == 1:
        return y
    # Channels differ so a test can tell a proper down-mix from taking one channel.
    return np.stack([y * (1.0 - 0.5 * c / channels) for c in range(channels)], axis=1)


def write_gtzan_root(
    root: Path,
    *,
    layout: str = "genres_original",
    ext: str = ".wav",
    tracks_per_genre: int = 2,
    seconds: float = 6.5,
    odd_formats: bool = True,
    bad_files: bool = False,
    extra_folder: bool = False,
) -> dict:
    """Write a tiny GTZAN-style folder and describe what is in it.

    Parameters
    ----------
    root : Path
        Folder to create the layout in.
    layout : str
        Subfolder holding the genre folders ("genres", "genres_original", or "." for none).
    ext : {".wav", ".au"}
    tracks_per_genre : int
        Good tracks per genre (``<genre>.000NN``, NN from 0).
    seconds : float
        Length of each good track (6.5 s gives 2 segments).
    odd_formats : bool
        Make ``blues.00000`` stereo and ``classical.00000`` 44100 Hz.
    bad_files : bool
        Add an undecodable ``jazz.00054``, an empty ``blues.00099`` and a 1 s ``rock.00098``.
    extra_folder : bool
        Add an unknown folder ``not_a_genre/`` with an audio file in it.

    Returns
    -------
    dict
        ``root``, ``base`` (folder with the genre folders), ``good`` (track ids), ``bad``
        (file name -> expected reason keyword), ``stereo``, ``resampled`` (paths).
    """
    import soundfile as sf

    base = root if layout == "." else root / layout
    fmt = {".wav": "WAV", ".au": "AU"}[ext]
    good, bad = [], {}
    stereo = resampled = None
    for g, genre in enumerate(GENRES):
        folder = base / genre
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(tracks_per_genre):
            track = f"{genre}.{i:05d}"
            path = folder / f"{track}{ext}"
            sr, channels = SR, 1
            if odd_formats and track == "blues.00000":
                channels, stereo = 2, path
            if odd_formats and track == "classical.00000":
                sr, resampled = 44100, path
            y = tone(seconds=seconds, sr=sr, freq=110.0 * 2 ** (g / 4 + i / 12), seed=g * 100 + i, channels=channels)
            sf.write(str(path), y, sr, format=fmt, subtype="PCM_16")
            good.append(track)
    if bad_files:
        corrupt = base / "jazz" / f"jazz.00054{ext}"
        corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio" * 8)
        empty = base / "blues" / f"blues.00099{ext}"
        empty.write_bytes(b"")
        short = base / "rock" / f"rock.00098{ext}"
        sf.write(str(short), tone(seconds=1.0), SR, format=fmt, subtype="PCM_16")
        bad = {corrupt.name: "decode", empty.name: "empty", short.name: "too short"}
    if extra_folder:
        (base / "not_a_genre").mkdir(parents=True, exist_ok=True)
        sf.write(str(base / "not_a_genre" / f"x.00000{ext}"), tone(seconds=3.5), SR, format=fmt, subtype="PCM_16")
    return {"root": root, "base": base, "good": good, "bad": bad, "stereo": stereo, "resampled": resampled}


@pytest.fixture
def gtzan_factory(tmp_path):
    """Callable ``(**write_gtzan_root options) -> description``; each call uses a new folder."""
    counter = iter(range(1000))

    def make(**kwargs) -> dict:
        return write_gtzan_root(tmp_path / f"gtzan{next(counter)}", **kwargs)

    return make


@pytest.fixture
def small_gtzan_root(gtzan_factory) -> Path:
    """A clean tiny GTZAN folder (``genres_original/<genre>/<genre>.0000N.wav``, 2 tracks of 6.5 s
    per genre, one stereo and one 44.1 kHz file); returns the root path."""
    return gtzan_factory()["root"]
