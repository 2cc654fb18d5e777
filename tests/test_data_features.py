"""Log-mel segments: shapes, dtype, range, segment counts and the dB map."""

from __future__ import annotations

import numpy as np
import pytest

from artgenre.data.features import (
    DEFAULT_FEATURES,
    db_to_x,
    logmel,
    n_segments,
    unit_to_db,
    waveform_to_segments,
    x_to_db,
)
from artgenre.errors import DataError

from conftest import SR, tone

HOP = DEFAULT_FEATURES.hop_length


def test_segments_shape_dtype_and_range():
    y = tone(seconds=6.5, freq=330.0)
    segs = waveform_to_segments(y, DEFAULT_FEATURES)
    assert segs.shape == (2, 1, 128, 128)
    assert segs.dtype == np.float32 and segs.flags.c_contiguous
    assert segs.min() >= 0.0 and segs.max() <= 1.0
    assert np.isclose(segs.max(), 1.0)  # ref=max: the loudest bin of the clip maps to 1


@pytest.mark.parametrize(
    "n_samples, expected",
    [(30 * SR, 10), (int(6.5 * SR), 2), (127 * HOP, 1), (127 * HOP - 1, 0), (255 * HOP, 2), (255 * HOP - 1, 1)],
)
def test_segment_count_for_known_lengths(n_samples, expected):
    assert n_segments(n_samples) == expected
    y = np.random.default_rng(0).standard_normal(n_samples).astype(np.float32) * 0.1
    assert waveform_to_segments(y).shape[0] == expected


def test_segments_are_consecutive_blocks_of_the_whole_clip_spectrogram():
    y = tone(seconds=9.0, freq=200.0, seed=4)
    spec = logmel(y)
    segs = waveform_to_segments(y)
    assert segs.shape[0] == spec.shape[1] // 128
    for i in range(segs.shape[0]):
        np.testing.assert_array_equal(segs[i, 0], spec[:, i * 128:(i + 1) * 128])


def test_silence_maps_to_zeros_and_stereo_is_refused():
    assert not waveform_to_segments(np.zeros(4 * SR, np.float32)).any()
    with pytest.raises(DataError, match="mono"):
        logmel(np.zeros((SR, 2), np.float32))


def test_db_map_round_trips():
    x = np.linspace(0, 1, 11, dtype=np.float32)
    np.testing.assert_allclose(db_to_x(x_to_db(x)), x, atol=1e-6)
    assert unit_to_db(0.01) == pytest.approx(0.8) and unit_to_db(0.1) == pytest.approx(8.0)
