"""Track-level splits: random (stratified, seeded) and the fault-filtered GTZAN lists."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artgenre.data.splits import (
    FILTERED_SIZES,
    check_fractions,
    filtered_lists,
    filtered_split,
    parse_split_list,
    random_split,
)
from artgenre.errors import DataError, ParameterError


def _tracks(per_genre):
    tracks, labels = [], []
    for g, n in enumerate(per_genre):
        for i in range(n):
            tracks.append(f"g{g}.{i:05d}")
            labels.append(g)
    return tracks, labels


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    per_genre=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=10),
)
def test_random_split_is_a_track_partition_for_any_seed(seed, per_genre):
    tracks, labels = _tracks(per_genre)
    if len(tracks) < 3:
        with pytest.raises(DataError):
            random_split(tracks=tracks, labels=labels, seed=seed)
        return
    parts = random_split(tracks=tracks, labels=labels, seed=seed)
    sets = {k: set(v) for k, v in parts.items()}
    assert sets["train"].isdisjoint(sets["val"])
    assert sets["train"].isdisjoint(sets["test"])
    assert sets["val"].isdisjoint(sets["test"])
    assert sets["train"] | sets["val"] | sets["test"] == set(tracks)
    n = len(tracks)
    assert len(parts["val"]) == max(1, round(n * 0.1))
    assert len(parts["test"]) == max(1, round(n * 0.1))
    assert parts == random_split(tracks=tracks, labels=labels, seed=seed)


def test_random_split_is_stratified_and_seed_dependent():
    tracks, labels = _tracks([20] * 10)
    a = random_split(tracks=tracks, labels=labels, seed=0)
    b = random_split(tracks=tracks, labels=labels, seed=1)
    assert a != b
    for split, want in (("train", 16), ("val", 2), ("test", 2)):
        genres = [t.split(".")[0] for t in a[split]]
        assert all(genres.count(f"g{g}") == want for g in range(10)), (split, genres)


def test_random_split_honours_custom_fractions():
    tracks, labels = _tracks([10] * 4)
    parts = random_split(tracks=tracks, labels=labels, seed=3, fractions=(0.5, 0.25, 0.25))
    assert [len(parts[s]) for s in ("train", "val", "test")] == [20, 10, 10]
    parts = random_split(tracks=tracks, labels=labels, seed=3, fractions=(1.0, 0.0, 0.0))
    assert len(parts["train"]) == 40 and parts["val"] == () and parts["test"] == ()


@pytest.mark.parametrize(
    "bad", [(0.8, 0.1), (0.8, 0.1, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), ("a", 0.1, 0.1), None, 0.8]
)
def test_bad_fractions_are_parameter_errors(bad):
    with pytest.raises(ParameterError):
        check_fractions(bad)


def test_filtered_lists_have_the_published_sizes_and_are_disjoint():
    lists = filtered_lists()
    assert {k: len(v) for k, v in lists.items()} == FILTERED_SIZES == {"train": 443, "val": 197, "test": 290}
    all_ids = [t for ids in lists.values() for t in ids]
    assert len(set(all_ids)) == 930
    assert all(t.count(".") == 1 and t.split(".")[1].isdigit() for t in all_ids)
    assert "blues.00029" in lists["train"]


def test_filtered_split_matches_by_track_id_only():
    lists = filtered_lists()
    have = [lists["train"][0], lists["val"][5], lists["test"][7], "blues.99999"]
    parts, missing, excluded = filtered_split(tracks=have)
    assert parts == {"train": (lists["train"][0],), "val": (lists["val"][5],), "test": (lists["test"][7],)}
    assert excluded == ("blues.99999",)
    assert len(missing) == 927 and lists["train"][0] not in missing


def test_parse_split_list_rejects_malformed_lines():
    assert parse_split_list("blues/blues.00001.wav\n\njazz/jazz.00054.au\n") == ("blues.00001", "jazz.00054")
    with pytest.raises(DataError, match="line|form"):
        parse_split_list("blues/rock.00001.wav")
    with pytest.raises(DataError, match="more than once"):
        parse_split_list("blues/blues.00001.wav\nblues/blues.00001.wav")


def test_split_members_are_whole_tracks_in_a_loaded_dataset(tmp_path):
    from artgenre.data import load_dataset

    data = load_dataset(name="synth", clips_per_genre=2, clip_seconds=6.5, cache_dir=tmp_path, progress=False)
    seen = {}
    for name in ("train", "val", "test"):
        for t in np.unique(data.split(name).track):
            assert t not in seen, f"track {t} in {seen.get(t)} and {name}"
            seen[t] = name
    # every track keeps all of its segments inside its split
    for name in ("train", "val", "test"):
        _, counts = np.unique(data.split(name).track, return_counts=True)
        assert set(counts.tolist()) <= {2}
