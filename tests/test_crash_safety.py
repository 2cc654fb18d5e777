"""Crash safety: kill -9 the pipeline at many points (mid-write included), rerun, compare.

A child process runs a tiny pipeline with `os.replace` wrapped: at the first atomic write whose
target matches the trial's pattern it SIGKILLs itself *before* the rename, i.e. with the
temporary file written and the target not yet replaced — the worst moment for a writer. The
trials run one after another on the same results folder (each rerun resumes the previous
one's leftovers), then a last rerun without a fault must finish with results identical to an
uninterrupted run in another folder, and leave no temporary file anywhere.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CHILD = r"""
import os, signal, sys
out, cache, pattern = sys.argv[1], sys.argv[2], sys.argv[3]
real = os.replace
def replace(src, dst, *a, **k):
    if pattern and any(p in str(dst) for p in pattern.split("|")):
        sys.stderr.write(f"KILLED before writing {dst}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
from artgenre.pipeline import make_pipeline_config, run_pipeline
cfg = make_pipeline_config(
    data_options={"clips_per_genre": 5, "clip_seconds": 3.5}, cache_dir=cache, models=("cnn",),
    epochs=1, attacks=("fgsm", "pgd"), eps=(0.0, 0.03), transfer_attacks=(), defenses=("squeeze",),
    defense_models=("cnn",), defense_eps=(0.03,), limit=6, waveform_attacks=(), out=out)
run_pipeline(cfg, progress=False)
"""

#: ``|`` separates alternatives: the child dies at the first write matching any of them.
#: One kill point per stage: the feature cache, the checkpoint, an attack result, a defense
#: result, a report file, the pipeline's own status file.
KILL_POINTS = ("manifest.json", "checkpoints/cnn.pt", "attack-cnn.json", "defense-cnn-squeeze.json",
               "report.md", "pipeline.json")
VOLATILE = ("seconds", "meta", "created", "ms_per_sample", "calibration_seconds")


def _child(out: Path, cache: Path, pattern: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, str(out), str(cache), pattern],
                          capture_output=True, text=True, timeout=900)


def _normalise(value, roots):
    if isinstance(value, dict):
        return {k: _normalise(v, roots) for k, v in value.items() if not any(s in k for s in VOLATILE)}
    if isinstance(value, list):
        return [_normalise(v, roots) for v in value]
    if isinstance(value, str):
        # Longest first: ".../ref" is a prefix of ".../ref-cache".
        for root in sorted(map(str, roots), key=len, reverse=True):
            value = value.replace(root, "<root>")
    return value


def _results(folder: Path, roots) -> dict:
    files = {}
    for path in sorted(folder.rglob("*.json")):
        # The report states provenance (times, git state) of its own making; results are compared.
        if path.name == "pipeline.json" or "report" in path.relative_to(folder).parts:
            continue
        files[str(path.relative_to(folder))] = _normalise(json.loads(path.read_text()), roots)
    return files


def _temps(*folders: Path) -> list[Path]:
    return [p for f in folders for p in f.rglob(".*.tmp")]


@pytest.mark.slow
def test_kill_anywhere_then_rerun_gives_the_uninterrupted_results(tmp_path):
    ref_out, ref_cache = tmp_path / "ref", tmp_path / "ref-cache"
    done = _child(ref_out, ref_cache, "")
    assert done.returncode == 0, done.stderr[-3000:]

    out, cache = tmp_path / "run", tmp_path / "cache"
    killed_at = []
    for pattern in KILL_POINTS:
        proc = _child(out, cache, pattern)
        assert proc.returncode == -signal.SIGKILL, (pattern, proc.returncode, proc.stderr[-3000:])
        killed_at.append(pattern)
    assert _temps(out, cache), "no kill left a temporary file behind: the trials did not hit a write"
    final = _child(out, cache, "")
    assert final.returncode == 0, final.stderr[-3000:]

    assert _temps(out, cache) == []
    roots = (ref_out, ref_cache, out, cache)
    got, want = _results(out, roots), _results(ref_out, roots)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
    for npz in sorted(ref_out.glob("*.npz")):
        a, b = np.load(npz), np.load(out / npz.name)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{npz.name}:{key}")
    assert len(killed_at) >= 5


@pytest.mark.slow
def test_moved_results_folder_resumes_without_recomputing(tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    first = _child(out, cache, "")
    assert first.returncode == 0, first.stderr[-3000:]
    moved = tmp_path / "elsewhere" / "copied-run"
    shutil.copytree(out, moved)
    shutil.rmtree(out)
    # Any atomic write of a checkpoint or result would mean something was recomputed.
    again = _child(moved, cache, "checkpoints/|train-cnn.json|attack-cnn.json|defense-cnn-squeeze.json")
    assert again.returncode == 0, again.stderr[-3000:]
    report = (moved / "report" / "report.md").read_text()
    assert "Table 1" in report
