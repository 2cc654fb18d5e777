"""Built-in synthetic dataset: determinism, seeds, sizes, style tables, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from artgenre.data import GENRES, load_dataset
from artgenre.data import synth_score as score
from artgenre.data import synth_sound as sound
from artgenre.data import synth_styles as styles
from artgenre.data.synth import SynthOptions, synthesize_clip
from artgenre.errors import ParameterError

SMALL = dict(name="synth", clips_per_genre=2, clip_seconds=3.5, progress=False)


def test_clip_is_a_pure_function_of_its_arguments():
    a = synthesize_clip(genre="jazz", seed=3, index=1, seconds=3.0)
    b = synthesize_clip(genre="jazz", seed=3, index=1, seconds=3.0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (int(round(3.0 * 22050)),) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and np.isclose(np.abs(a).max(), 0.9, atol=1e-5)
    for other in (
        synthesize_clip(genre="jazz", seed=4, index=1, seconds=3.0),
        synthesize_clip(genre="jazz", seed=3, index=2, seconds=3.0),
        synthesize_clip(genre="metal", seed=3, index=1, seconds=3.0),
    ):
        assert not np.allclose(a, other)


def test_dataset_is_deterministic_for_a_seed_and_differs_across_seeds(tmp_path):
    a = load_dataset(cache_dir=tmp_path / "a", seed=5, **SMALL)
    b = load_dataset(cache_dir=tmp_path / "b", seed=5, **SMALL)  # separate cache: recomputed
    c = load_dataset(cache_dir=tmp_path / "c", seed=6, **SMALL)
    assert not a.from_cache and not b.from_cache
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(a.split(split).x, b.split(split).x)
        np.testing.assert_array_equal(a.split(split).track, b.split(split).track)
    xa = np.concatenate([a.train.x, a.val.x, a.test.x])
    xc = np.concatenate([c.train.x, c.val.x, c.test.x])
    assert xa.shape == xc.shape and not np.allclose(np.sort(xa.ravel()), np.sort(xc.ravel()))


def test_sizes_labels_and_ranges(tmp_path):
    data = load_dataset(cache_dir=tmp_path, name="synth", clips_per_genre=3, clip_seconds=6.5, progress=False)
    total = len(data.train) + len(data.val) + len(data.test)
    assert total == 10 * 3 * 2  # 6.5 s -> 2 segments per clip
    assert (len(set(data.val.track)), len(set(data.test.track))) == (3, 3)
    for split in (data.train, data.val, data.test):
        assert split.x.shape[1:] == (1, 128, 128) and split.x.dtype == np.float32
        assert split.y.dtype == np.int64 and split.track.shape == split.y.shape
        assert float(split.x.min()) >= 0.0 and float(split.x.max()) <= 1.0
        for t, y in zip(split.track, split.y):
            assert t.startswith(GENRES[y] + ".")
    assert data.genres == GENRES and data.info["clips_per_genre"] == 3


def test_every_style_component_renders():
    # Rare draws must not hide a typo: build every instrument, pattern and progression once.
    rng = np.random.default_rng(0)
    for style in styles.STYLES.values():
        for key in ("bass_inst", "comp_inst", "lead_inst"):
            for kind in style[key]:
                inst = sound.make_inst(kind, rng)
                assert inst.table.shape == (sound.TABLE,) and np.all(np.isfinite(inst.table))
        for pattern in style["drums"]:
            assert pattern in styles.PATTERNS
        for kit in style["kit"]:
            voices = sorted({v for p in styles.PATTERNS.values() for v in p})
            samples = sound.drum_kit(kit, voices, 22050, rng)
            assert all(np.all(np.isfinite(s)) and s.size for s in samples.values())
        for name in style["harmony"]:
            h = score.Harmony(name, 0, rng)
            assert len(h.chord(3, 5)[1]) >= 3
    assert set(styles.STYLES) == set(GENRES) == set(styles.NEIGHBOURS)
    for genre in GENRES:
        grid = score.Grid(0.5, 0.6, -0.3, 16, 0.0, rng)
        h = score.Harmony(styles.STYLES[genre]["harmony"][0], 2, rng)
        for kind in ("bass", "comp", "lead"):
            fn = {"bass": score.bass_events, "comp": score.comp_events, "lead": score.lead_events}[kind]
            for style_name in styles.STYLES[genre][kind]:
                events = fn(style_name, grid, h, rng, 48)
                assert style_name == "none" or events


@pytest.mark.parametrize("kwargs", [{"clips_per_genre": 0}, {"clips_per_genre": 1.5}, {"clip_seconds": 0},
                                    {"clip_seconds": 1000}, {"clips_per_genre": True}])
def test_bad_sizes_are_parameter_errors(kwargs):
    with pytest.raises(ParameterError):
        SynthOptions(**kwargs)


def test_clip_shorter_than_a_segment_is_refused_as_no_usable_track(tmp_path):
    from artgenre.errors import DataError

    with pytest.raises(DataError, match="too short"):
        load_dataset(cache_dir=tmp_path, name="synth", clips_per_genre=1, clip_seconds=1.0, progress=False)


def test_prepare_cli_on_a_tiny_synth(tmp_path):
    import artgenre.cli  # noqa: F401 - attaches the commands
    from typer.testing import CliRunner

    from artgenre.cli.app import app

    args = ["prepare", "--clips-per-genre", "2", "--clip-seconds", "3.5", "--data-seed", "2",
            "--cache-dir", str(tmp_path)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "total" in first.output and "16 / 16" in first.output  # 16 train tracks, 1 segment each
    assert "computed now" in first.output
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "loaded from cache: yes" in second.output
