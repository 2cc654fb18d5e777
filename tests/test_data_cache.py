"""Feature cache: reuse without recomputation, validation, rebuild of damaged entries, keys."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

from artgenre.data import features, load_dataset
from artgenre.data.cache import MANIFEST, cache_key, default_cache_root, resolve_cache_root
from artgenre.errors import DataError

TINY = dict(name="synth", clips_per_genre=2, clip_seconds=3.5, progress=False, workers=1)


class _Counter:
    """Wraps the feature function and counts calls."""

    def __init__(self):
        self.calls = 0
        self.real = features.waveform_to_segments

    def __call__(self, y, params=features.DEFAULT_FEATURES):
        self.calls += 1
        return self.real(y, params)


def _forbid(*args, **kwargs):
    raise AssertionError("features were recomputed although the cache is valid")


def _arrays(data):
    return {
        f"{s}_{a}": np.array(getattr(data.split(s), a))
        for s in ("train", "val", "test")
        for a in ("x", "y", "track")
    }


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_second_load_reads_the_cache_without_computing(tmp_path, monkeypatch):
    counter = _Counter()
    monkeypatch.setattr(features, "waveform_to_segments", counter)
    first = load_dataset(cache_dir=tmp_path, **TINY)
    assert not first.from_cache and counter.calls == 20
    monkeypatch.setattr(features, "waveform_to_segments", _forbid)
    second = load_dataset(cache_dir=tmp_path, **TINY)
    assert second.from_cache and second.cache_dir == first.cache_dir
    _assert_same(_arrays(first), _arrays(second))
    assert isinstance(second.train.x, np.memmap) and not second.train.x.flags.writeable


def test_truncated_array_is_detected_and_rebuilt(tmp_path, monkeypatch, caplog):
    first = load_dataset(cache_dir=tmp_path, **TINY)
    expected = _arrays(first)
    x_file = first.cache_dir / "train_x.npy"
    size = x_file.stat().st_size
    with open(x_file, "r+b") as fh:
        fh.truncate(size - 5000)
    counter = _Counter()
    monkeypatch.setattr(features, "waveform_to_segments", counter)
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        again = load_dataset(cache_dir=tmp_path, **TINY)
    assert counter.calls == 20 and not again.from_cache
    assert any("damaged" in r.getMessage() and "train_x.npy" in r.getMessage() for r in caplog.records)
    assert x_file.stat().st_size == size
    _assert_same(expected, _arrays(again))


def test_corrupt_labels_fail_the_checksum_and_are_rebuilt(tmp_path, caplog):
    first = load_dataset(cache_dir=tmp_path, **TINY)
    expected = _arrays(first)
    y_file = first.cache_dir / "val_y.npy"
    raw = bytearray(y_file.read_bytes())
    raw[-1] ^= 0x01  # same size, different content
    y_file.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        again = load_dataset(cache_dir=tmp_path, **TINY)
    assert not again.from_cache
    assert any("checksum" in r.getMessage() for r in caplog.records)
    _assert_same(expected, _arrays(again))


def test_entry_without_manifest_counts_as_unfinished(tmp_path):
    first = load_dataset(cache_dir=tmp_path, **TINY)
    (first.cache_dir / MANIFEST).unlink()
    again = load_dataset(cache_dir=tmp_path, **TINY)
    assert not again.from_cache and (first.cache_dir / MANIFEST).is_file()
    manifest = json.loads((first.cache_dir / MANIFEST).read_text())
    assert manifest["splits"]["train"]["x"]["shape"] == list(again.train.x.shape)


def test_rebuild_removes_the_temporary_files_of_a_killed_writer(tmp_path):
    first = load_dataset(cache_dir=tmp_path, **TINY)
    folder = first.cache_dir
    # What a writer killed inside `atomic_path` leaves: a half-written temp, no manifest.
    stale = [folder / ".train_x.npy.k1ll3d.tmp", folder / ".manifest.json.x7.tmp"]
    for path in stale:
        path.write_bytes(b"half written")
    (folder / MANIFEST).unlink()
    keep = folder / "notes.txt"  # not a temp file of ours
    keep.write_text("user file")
    again = load_dataset(cache_dir=tmp_path, **TINY)
    assert not again.from_cache and again.cache_dir == folder
    assert not any(p.exists() for p in stale) and keep.is_file()
    assert not list(folder.glob(".*.tmp"))


def test_key_depends_on_options_seed_and_files(tmp_path, small_gtzan_root):
    a = load_dataset(cache_dir=tmp_path, **TINY)
    b = load_dataset(cache_dir=tmp_path, **{**TINY, "clip_seconds": 4.0})
    c = load_dataset(cache_dir=tmp_path, seed=1, **TINY)
    assert len({a.cache_dir, b.cache_dir, c.cache_dir}) == 3
    g1 = load_dataset(name="gtzan", root=small_gtzan_root, cache_dir=tmp_path, progress=False)
    some = next((small_gtzan_root / "genres_original" / "pop").iterdir())
    st = some.stat()
    os.utime(some, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    g2 = load_dataset(name="gtzan", root=small_gtzan_root, cache_dir=tmp_path, progress=False)
    assert g1.cache_dir != g2.cache_dir and not g2.from_cache


def test_cache_key_is_canonical():
    assert cache_key(inputs={"a": 1, "b": [1, 2]}) == cache_key(inputs={"b": (1, 2), "a": 1})
    assert cache_key(inputs={"a": 1}) != cache_key(inputs={"a": 2})


def test_default_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTGENRE_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_root() == tmp_path / "env-cache"
    data = load_dataset(**TINY)
    assert data.cache_dir.parent == tmp_path / "env-cache"
    monkeypatch.delenv("ARTGENRE_CACHE")
    assert default_cache_root() == default_cache_root().home() / ".cache" / "artgenre"
    assert resolve_cache_root(cache_dir=tmp_path / "x") == tmp_path / "x"


def test_cache_dir_that_is_a_file_is_a_data_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(cache_dir=blocker, **TINY)


def test_parallel_and_in_process_extraction_agree(tmp_path, monkeypatch):
    from artgenre.data import extract

    one = load_dataset(cache_dir=tmp_path / "a", **TINY)
    monkeypatch.setattr(extract, "MIN_JOBS_PER_WORKER", 1)  # use the pool even for 20 jobs
    two = load_dataset(cache_dir=tmp_path / "b", **{**TINY, "workers": 2})
    _assert_same(_arrays(one), _arrays(two))


_PARENT_PID = os.getpid()


def _dies_in_workers(item):
    if os.getpid() != _PARENT_PID:
        os._exit(3)  # simulate a worker that cannot start (e.g. an unguarded __main__)
    return np.full((1, 1, 2, 2), float(item), np.float32)


def test_broken_worker_pool_falls_back_to_this_process(caplog):
    from artgenre.data.extract import run_jobs

    with caplog.at_level(logging.WARNING, logger="artgenre"):
        out = run_jobs(fn=_dies_in_workers, items=list(range(40)), workers=2, show_progress=False)
    assert [float(v[0, 0, 0, 0]) for ok, v in out if ok] == [float(i) for i in range(40)]
    assert any("worker processes failed" in r.getMessage() for r in caplog.records)


def test_writers_of_one_entry_take_turns_and_clean_up_after_the_lock(tmp_path, monkeypatch):
    import threading

    from artgenre.data import cachedir

    first = load_dataset(cache_dir=tmp_path, **TINY)
    folder = first.cache_dir
    (folder / MANIFEST).unlink()
    stale = folder / ".train_x.npy.killed.tmp"
    stale.write_bytes(b"half written")
    reached = threading.Event()
    real_prepare = cachedir.prepare_entry

    def prepare(*, folder):
        real_prepare(folder=folder)
        reached.set()  # the writer is about to take the lock

    monkeypatch.setattr(cachedir, "prepare_entry", prepare)
    out = {}
    with cachedir.entry_lock(folder=folder):
        worker = threading.Thread(target=lambda: out.update(data=load_dataset(cache_dir=tmp_path, **TINY)))
        worker.start()
        assert reached.wait(timeout=60)
        worker.join(timeout=1.0)
        # While another writer holds the lock, nothing in the folder is touched.
        assert worker.is_alive() and stale.exists() and not (folder / MANIFEST).exists()
    worker.join(timeout=60)
    assert not worker.is_alive() and not out["data"].from_cache
    assert not stale.exists() and (folder / MANIFEST).is_file()
