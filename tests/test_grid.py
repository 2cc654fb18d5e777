"""The pipeline as a unit graph: serial and Ray executors give the same results; seeds; failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from artgenre.executors import UnitsFailedError
from artgenre.grid import build_units, seed_folders
from artgenre.pipeline import make_pipeline_config, run_pipeline

TINY = {"clips_per_genre": 5, "clip_seconds": 3.5}
# ``reused_adversarial`` says where a cell's adversarial set came from: a driver killed after an
# attack unit stored a set but before it wrote its result leaves the set to the rerun, which
# reads it instead of crafting it again (the cell's numbers are compared as usual).
VOLATILE = ("seconds", "meta", "created", "ms_per_sample", "calibration_seconds", "reused_adversarial",
            "passes")  # a cell read from the store was not crafted here, so it counts no passes


def tiny(tmp_path: Path, out: str, **overrides):
    values = dict(data_options=TINY, cache_dir=str(tmp_path / "cache"), models=("cnn",), epochs=1,
                  attacks=("fgsm", "pgd"), eps=(0.0, 0.03), transfer_attacks=(), defenses=("squeeze",),
                  defense_models=("cnn",), defense_eps=(0.03,), limit=6, waveform_attacks=(),
                  out=str(tmp_path / out))
    values.update(overrides)
    return make_pipeline_config(**values)


def _normalise(value, root: str):
    if isinstance(value, dict):
        return {k: _normalise(v, root) for k, v in value.items() if not any(s in k for s in VOLATILE)}
    if isinstance(value, list):
        return [_normalise(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<out>")
    return value


def results(folder: Path) -> dict:
    return {str(p.relative_to(folder)): _normalise(json.loads(p.read_text()), str(folder))
            for p in sorted(folder.rglob("*.json")) if p.name not in ("pipeline.json", "report.json")}


def test_graph_of_the_default_config_and_seed_folders(tmp_path):
    cfg = make_pipeline_config(out=str(tmp_path / "r"), seeds=(0, 1))
    names = [u.name for u in build_units(cfg, cpus=1)]
    assert names[0] == "prepare"
    assert "train cnn [seed 1]" in names and "transfer cnn->resnet18 [seed 0]" in names
    units = {u.name: u for u in build_units(cfg, cpus=1)}
    assert set(units["transfer cnn->resnet18 [seed 1]"].deps) == {"train cnn [seed 1]", "train resnet18 [seed 1]"}
    assert units["defend cnn adv-mixed [seed 0]"].deps == ("train cnn [seed 0]",)
    assert [str(p.relative_to(tmp_path)) for _, p in seed_folders(cfg)] == ["r/seed-0", "r/seed-1"]
    assert [p for _, p in seed_folders(make_pipeline_config(out=str(tmp_path / "r")))] == [tmp_path / "r"]


@pytest.mark.slow
def test_a_failing_unit_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    import artgenre.defenses as defenses

    def broken(config, **kwargs):
        raise RuntimeError("defense exploded")

    monkeypatch.setattr(defenses, "run_defense", broken)
    cfg = tiny(tmp_path, "r")
    with pytest.raises(UnitsFailedError, match="defend cnn squeeze: failed.*defense exploded"):
        run_pipeline(cfg, progress=False, cpus_per_unit=1)
    out = Path(cfg.out)
    status = json.loads((out / "pipeline.json").read_text())
    by_name = {s["stage"]: s for s in status["stages"]}
    assert by_name["defend cnn squeeze"]["status"] == "failed" and by_name["defend cnn squeeze"]["attempts"] == 2
    assert by_name["attack cnn"]["status"] == "done" and status["finished"] is False
    assert (out / "attack-cnn.json").exists() and (out / "report" / "report.md").exists()


@pytest.mark.slow
def test_ray_executor_gives_the_serial_results_and_resumes_after_a_killed_driver(tmp_path):
    pytest.importorskip("ray")
    serial = tiny(tmp_path, "serial")
    run_pipeline(serial, progress=False, cpus_per_unit=1)

    ray_out = tmp_path / "ray"
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        'models = ["cnn"]\nepochs = 1\nattacks = ["fgsm", "pgd"]\neps = [0.0, 0.03]\ntransfer_attacks = []\n'
        'defenses = ["squeeze"]\ndefense_models = ["cnn"]\ndefense_eps = [0.03]\nlimit = 6\nwaveform_attacks = []\n'
        f'cache_dir = "{tmp_path / "cache"}"\nout = "{ray_out}"\n'
        "[data_options]\nclips_per_genre = 5\nclip_seconds = 3.5\n"
    )
    cmd = [sys.executable, "-m", "artgenre", "run", "--config", str(toml), "--executor", "ray",
           "--cpus-per-unit", "1"]
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    # Kill the driver once the first unit's result exists, then rerun: it must resume.
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    deadline = time.time() + 600
    while not (ray_out / "train-cnn.json").exists() and driver.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=60)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    got, want = results(ray_out), results(Path(serial.out))
    assert sorted(got) == sorted(want)
    assert [d for name in want for d in differences(got[name], want[name], name)] == []


def differences(a, b, path: str) -> list[str]:
    """Where two JSON values differ (paths), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:80]} != {str(b)[:80]}"]

