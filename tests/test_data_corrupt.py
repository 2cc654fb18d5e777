"""Audio files that are not what they claim to be never reach the features."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from artgenre.data import GENRES, load_dataset
from artgenre.data.audiofile import MIN_READ_FRACTION, SAMPLE_RATE_RANGE, header_frames
from artgenre.data.gtzan import SkipTrack, load_audio

from conftest import GTZAN_EXCERPT, SR, tone

sf = pytest.importorskip("soundfile")


def _random_bytes(path: Path, n: int = 50_000, seed: int = 0) -> Path:
    path.write_bytes(np.random.default_rng(seed).bytes(n))
    return path


def _truncate(path: Path, fraction: float) -> None:
    """Cut the file's audio data to ``fraction`` of it, keeping the header's length claim."""
    data = path.read_bytes()
    header = len(data) - sf.info(str(path)).frames * 2  # PCM_16 mono: 2 bytes a frame
    path.write_bytes(data[: header + int((len(data) - header) * fraction)])


def test_random_bytes_named_au_are_not_read_as_raw_audio(tmp_path):
    path = _random_bytes(tmp_path / "x.au")
    # The trap: libsndfile opens these bytes as headerless audio and would return noise.
    assert sf.info(str(path)).format != "AU"
    with pytest.raises(SkipTrack, match=r"not an AU file: libsndfile detected RAW"):
        load_audio(path=path, sr=SR)


def test_random_bytes_named_wav_cannot_be_decoded(tmp_path):
    with pytest.raises(SkipTrack, match="cannot decode"):
        load_audio(path=_random_bytes(tmp_path / "x.wav"), sr=SR)


@pytest.mark.parametrize(("real", "named"), [("WAV", ".au"), ("AU", ".wav"), ("WAV", ".flac")])
def test_another_container_under_a_known_extension_is_skipped(tmp_path, real, named):
    path = tmp_path / f"x{named}"
    sf.write(str(path), tone(seconds=4.0), SR, format=real, subtype="PCM_16")
    with pytest.raises(SkipTrack, match=rf"not an? \w+ file: libsndfile detected {real}"):
        load_audio(path=path, sr=SR)


def test_mp3_renamed_wav_is_skipped(tmp_path):
    mp3 = tmp_path / "x.mp3"
    try:
        sf.write(str(mp3), tone(seconds=4.0), SR, format="MP3")
    except (sf.LibsndfileError, ValueError, TypeError) as exc:
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write MP3: {exc}")
    path = mp3.rename(tmp_path / "x.wav")
    with pytest.raises(SkipTrack, match=r"not a WAV file: libsndfile detected MP3"):
        load_audio(path=path, sr=SR)


@pytest.mark.parametrize("fmt", ["WAV", "WAVEX", "AU"])
def test_truncated_file_is_skipped_although_libsndfile_reads_what_is_left(tmp_path, fmt):
    path = tmp_path / ("x.au" if fmt == "AU" else "x.wav")
    sf.write(str(path), tone(seconds=30.0), SR, format=fmt, subtype="PCM_16")
    assert header_frames(path=path, container=sf.info(str(path)).format) == 30 * SR
    _truncate(path, 0.1)
    assert abs(sf.read(str(path))[0].shape[0] - 3 * SR) <= 1  # shortened without an error
    with pytest.raises(SkipTrack, match=r"truncated: the header announces 661500 frames \(30\.00 s\)"):
        load_audio(path=path, sr=SR)


def test_slightly_short_file_is_still_used(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(str(path), tone(seconds=10.0), SR, format="WAV", subtype="PCM_16")
    keep = (1 + MIN_READ_FRACTION) / 2  # above the limit
    _truncate(path, keep)
    assert load_audio(path=path, sr=SR).shape[0] == int(10 * SR * keep)


def test_truncated_flac_is_skipped(tmp_path):
    path = tmp_path / "x.flac"
    sf.write(str(path), tone(seconds=30.0), SR, format="FLAC", subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 10])
    with pytest.raises(SkipTrack, match="cannot decode|truncated"):
        load_audio(path=path, sr=SR)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_skipped(tmp_path, bad):
    y = tone(seconds=4.0)
    y[1000:1010] = bad
    path = tmp_path / "x.wav"
    sf.write(str(path), y, SR, format="WAV", subtype="FLOAT")
    with pytest.raises(SkipTrack, match=r"non-finite samples \(NaN or inf\): 10 of"):
        load_audio(path=path, sr=SR)


@pytest.mark.parametrize("rate", [SAMPLE_RATE_RANGE[0] // 2, SAMPLE_RATE_RANGE[1] * 2])
def test_implausible_sample_rate_is_skipped(tmp_path, rate):
    path = tmp_path / "x.wav"
    sf.write(str(path), tone(seconds=4.0, sr=rate), rate, format="WAV", subtype="PCM_16")
    with pytest.raises(SkipTrack, match=rf"implausible sample rate {rate} Hz"):
        load_audio(path=path, sr=SR)


def test_gtzan_reader_skips_random_bytes_jazz_00054_with_a_reason(gtzan_factory, tmp_path, caplog):
    desc = gtzan_factory(layout="genres", ext=".au", tracks_per_genre=1, odd_formats=False)
    bad = _random_bytes(desc["base"] / "jazz" / "jazz.00054.au")
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        data = load_dataset(name="gtzan", root=desc["root"], cache_dir=tmp_path / "c", progress=False)
    tracks = set(np.concatenate([data.train.track, data.val.track, data.test.track]))
    assert tracks == set(desc["good"])
    assert len(data.skipped) == 1
    path, reason = data.skipped[0]
    assert Path(path).name == bad.name and "not an AU file: libsndfile detected RAW" in reason
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1 and bad.name in warnings[0] and "RAW" in warnings[0]


@pytest.mark.skipif(not GTZAN_EXCERPT.is_dir(), reason="real GTZAN excerpt not available")
@pytest.mark.parametrize("genre", GENRES)
def test_real_gtzan_excerpt_passes_the_checks_unchanged(genre):
    path = GTZAN_EXCERPT / "genres_original" / genre / f"{genre}.00000.wav"
    info = sf.info(str(path))
    assert header_frames(path=path, container=info.format) == info.frames
    plain, rate = sf.read(str(path), dtype="float32")
    assert rate == SR
    # The checks only decide whether a file is used; what is used is what soundfile decodes.
    assert np.array_equal(load_audio(path=path, sr=SR), plain)
