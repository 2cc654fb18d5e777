"""GTZAN reader: layouts, decoding, bad files, real excerpt, filtered split, CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from artgenre.data import GENRES, load_dataset
from artgenre.data.gtzan import SkipTrack, find_genre_base, load_audio, scan_gtzan
from artgenre.data.splits import filtered_lists
from artgenre.errors import DataError

from conftest import GTZAN_EXCERPT, SR


def _all_tracks(data) -> np.ndarray:
    return np.concatenate([data.train.track, data.val.track, data.test.track])


def _load(root, tmp_path, **kw):
    return load_dataset(name="gtzan", root=root, cache_dir=tmp_path / "cache", progress=False, **kw)


def test_wav_layout_loads_good_files_and_reports_exactly_the_bad_ones(gtzan_factory, tmp_path, caplog):
    desc = gtzan_factory(bad_files=True, extra_folder=True)
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        data = _load(desc["root"], tmp_path)
    assert sorted(set(_all_tracks(data))) == sorted(desc["good"])
    skipped = {Path(p).name: reason for p, reason in data.skipped}
    assert set(skipped) == set(desc["bad"])
    for name, keyword in desc["bad"].items():
        assert keyword in skipped[name], (name, skipped[name])
    skip_warnings = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skip_warnings) == 1
    for name in desc["bad"]:
        assert name in skip_warnings[0].getMessage()
    assert any("not_a_genre" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "not_a_genre" not in " ".join(_all_tracks(data))


def test_au_original_layout_two_segments_per_track(gtzan_factory, tmp_path):
    desc = gtzan_factory(layout="genres", ext=".au")
    data = _load(desc["root"], tmp_path)
    tracks, counts = np.unique(_all_tracks(data), return_counts=True)
    assert sorted(tracks) == sorted(desc["good"])
    assert set(counts.tolist()) == {2}  # 6.5 s -> 280 frames -> 2 whole segments
    for split in (data.train, data.val, data.test):
        for t, y in zip(split.track, split.y):
            assert t.split(".")[0] == GENRES[y]


@pytest.mark.parametrize("layout", ["genres", "genres_original", "."])
def test_every_layout_finds_the_genre_folders(gtzan_factory, layout):
    desc = gtzan_factory(layout=layout, tracks_per_genre=1, seconds=3.5, odd_formats=False)
    assert find_genre_base(root=desc["root"]) == desc["base"].resolve()
    # Pointing at the folder that holds the genre folders works too.
    assert find_genre_base(root=desc["base"]) == desc["base"].resolve()


def test_scan_lists_one_file_per_track_and_flags_duplicates(gtzan_factory):
    import soundfile as sf

    desc = gtzan_factory(tracks_per_genre=1, seconds=3.5, odd_formats=False)
    dup = desc["base"] / "pop" / "pop.00000.au"
    sf.write(str(dup), np.zeros(SR * 4, np.float32), SR, format="AU", subtype="PCM_16")
    scan = scan_gtzan(root=desc["root"])
    assert [f.track for f in scan.files] == [f"{g}.00000" for g in GENRES]
    assert len(scan.skipped) == 1 and "duplicate" in scan.skipped[0][1]


def test_stereo_is_averaged_and_other_rates_are_resampled(gtzan_factory):
    import soundfile as sf

    desc = gtzan_factory(tracks_per_genre=1)
    stereo, _ = sf.read(str(desc["stereo"]), dtype="float32")
    mono = load_audio(path=desc["stereo"], sr=SR)
    assert mono.ndim == 1 and mono.dtype == np.float32
    np.testing.assert_allclose(mono, stereo.mean(axis=1), atol=1e-6)
    assert sf.info(str(desc["resampled"])).samplerate == 44100
    y = load_audio(path=desc["resampled"], sr=SR)
    assert abs(len(y) - int(6.5 * SR)) <= 2


def test_load_audio_rejects_empty_and_corrupt_files(tmp_path):
    empty = tmp_path / "e.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "c.wav"
    corrupt.write_bytes(b"RIFF0000WAVEjunk" * 10)
    with pytest.raises(SkipTrack, match="empty"):
        load_audio(path=empty, sr=SR)
    with pytest.raises(SkipTrack, match="decode"):
        load_audio(path=corrupt, sr=SR)


def test_root_without_genre_folders_is_a_data_error(tmp_path):
    (tmp_path / "music").mkdir()
    with pytest.raises(DataError) as err:
        scan_gtzan(root=tmp_path)
    assert "genres_original" in str(err.value) and "genres/" in str(err.value)


def test_filtered_scheme_follows_the_lists_and_reports_missing(gtzan_factory, tmp_path, caplog):
    import soundfile as sf

    lists = filtered_lists()
    chosen = {"train": lists["train"][:3], "val": lists["val"][:2], "test": lists["test"][:2]}
    root = tmp_path / "fake"
    for ids in chosen.values():
        for t in ids:
            genre = t.split(".")[0]
            (root / "genres" / genre).mkdir(parents=True, exist_ok=True)
            y = (0.1 * np.sin(np.arange(SR * 4) * 0.05)).astype(np.float32)
            sf.write(str(root / "genres" / genre / f"{t}.au"), y, SR, format="AU", subtype="PCM_16")
    listed = set().union(*lists.values())
    unlisted = next(f"{g}.{i:05d}" for g in GENRES for i in range(100) if f"{g}.{i:05d}" not in listed)
    genre = unlisted.split(".")[0]
    (root / "genres" / genre).mkdir(parents=True, exist_ok=True)
    sf.write(str(root / "genres" / genre / f"{unlisted}.au"), np.full(SR * 4, 0.1, np.float32), SR, format="AU")
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        data = _load(root, tmp_path, split_scheme="filtered")
    for split, ids in chosen.items():
        assert sorted(set(data.split(split).track)) == sorted(ids)
    assert unlisted not in set(_all_tracks(data))
    assert len(data.missing) == 930 - 7
    assert set(data.missing).isdisjoint(set(_all_tracks(data)))
    assert any("not on disk" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not GTZAN_EXCERPT.is_dir(), reason="real GTZAN excerpt not available")
def test_real_gtzan_excerpt_gives_ten_segments_per_clip(tmp_path):
    data = _load(GTZAN_EXCERPT, tmp_path)
    tracks, counts = np.unique(_all_tracks(data), return_counts=True)
    assert sorted(tracks) == [f"{g}.00000" for g in GENRES]
    assert counts.tolist() == [10] * 10
    assert data.skipped == ()
    for split in (data.train, data.val, data.test):
        assert split.x.shape[1:] == (1, 128, 128) and split.x.dtype == np.float32
        if len(split):
            assert 0.0 <= float(split.x.min()) and float(split.x.max()) <= 1.0


def test_prepare_cli_on_a_gtzan_folder(gtzan_factory, tmp_path):
    import artgenre.cli  # noqa: F401 - attaches the commands
    from typer.testing import CliRunner

    from artgenre.cli.app import app

    desc = gtzan_factory(bad_files=True, tracks_per_genre=2)
    result = CliRunner().invoke(
        app, ["prepare", "--dataset", "gtzan", "--root", str(desc["root"]), "--cache-dir", str(tmp_path / "c")]
    )
    assert result.exit_code == 0, result.output
    assert "jazz.00054.wav" in result.output  # skipped files are listed
    for genre in GENRES:
        assert genre in result.output
