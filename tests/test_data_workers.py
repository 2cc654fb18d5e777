"""Feature-pool workers end with their parent (Linux: PR_SET_PDEATHSIG in the initializer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl (Linux)")


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (2nd field) may hold spaces; the fields after ")" are fixed.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent has not reaped it


def test_pool_workers_die_when_the_parent_is_killed(tmp_path):
    script = tmp_path / "extract.py"
    # Enough clips (>= MIN_JOBS_PER_WORKER per worker) to use the pool and run for seconds.
    script.write_text(textwrap.dedent(f"""
        from artgenre.data import load_dataset
        load_dataset(name="synth", clips_per_genre=8, clip_seconds=12.0, workers=2,
                     cache_dir={str(tmp_path / "cache")!r}, progress=False)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 30
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            workers |= _children(proc.pid)
            time.sleep(0.05)
        assert len(workers) >= 2, f"no pool workers appeared (rc={proc.poll()}, {proc.stderr.read()!r})"
        time.sleep(0.5)  # let them get into a job
        assert proc.poll() is None, "the extraction finished before the parent could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = sorted(w for w in workers if _alive(w))
        assert not survivors, f"worker(s) {survivors} outlived their killed parent"
    finally:
        for pid in [proc.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stderr.close()
