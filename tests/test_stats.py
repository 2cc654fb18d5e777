"""Intervals: Wilson for independent trials, the track bootstrap for segments of shared tracks."""

from __future__ import annotations

import numpy as np
import pytest

from artgenre.stats import proportion, segment_proportion, track_bootstrap_interval, wilson_interval


def _clustered(rng, n_tracks=20, per_track=4, p=0.6):
    # Whole tracks are right or wrong: the extreme of within-track correlation.
    return np.repeat(rng.random(n_tracks) < p, per_track), np.repeat(np.arange(n_tracks), per_track)


def test_bootstrap_is_wider_than_wilson_when_segments_of_a_track_agree():
    correct, track = _clustered(np.random.default_rng(0))
    lo, hi = track_bootstrap_interval(correct, track)
    w_lo, w_hi = wilson_interval(int(correct.sum()), correct.size)
    assert lo <= w_lo and hi >= w_hi
    assert (hi - lo) > 1.3 * (w_hi - w_lo)


def test_bootstrap_covers_the_true_rate_of_clustered_data():
    # Wilson on the 80 segments under-covers here; the track bootstrap must not.
    rng = np.random.default_rng(1)
    hits_boot = hits_wilson = 0
    trials = 200
    for _ in range(trials):
        correct, track = _clustered(rng, p=0.6)
        lo, hi = track_bootstrap_interval(correct, track, n_resamples=1000, seed=int(rng.integers(1 << 30)))
        hits_boot += lo <= 0.6 <= hi
        w_lo, w_hi = wilson_interval(int(correct.sum()), correct.size)
        hits_wilson += w_lo <= 0.6 <= w_hi
    assert hits_boot / trials >= 0.88
    assert hits_boot > hits_wilson


def test_same_seed_same_interval_and_shape_of_the_dict():
    correct, track = _clustered(np.random.default_rng(2))
    a = segment_proportion(correct, track, seed=3)
    b = segment_proportion(correct, track, seed=3)
    assert a == b
    assert a["k"] == int(correct.sum()) and a["n"] == correct.size and a["n_tracks"] == 20
    assert a["ci_low"] <= a["value"] <= a["ci_high"]
    assert set(proportion(1, 2)) <= set(a)


@pytest.mark.parametrize("value", [0, 1])
def test_extremes_keep_the_wilson_width(value):
    correct = np.full(40, bool(value))
    track = np.repeat(np.arange(10), 4)
    lo, hi = track_bootstrap_interval(correct, track)
    assert (lo, hi) == pytest.approx(wilson_interval(int(correct.sum()), 40))


def test_one_track_and_no_segments():
    assert track_bootstrap_interval([True, False], ["a", "a"]) == pytest.approx(wilson_interval(1, 2))
    assert track_bootstrap_interval([], []) == (0.0, 1.0)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="shape"):
        track_bootstrap_interval([True, False], ["a"])
