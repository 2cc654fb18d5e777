"""Run-time plumbing: the in-process allocator setting and the provenance in result metadata."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from artgenre.runtime import LOCK_FILE, run_metadata

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A few training steps of a tiny CNN after warm-up, then the minor page faults they caused:
# with glibc's defaults every step maps its large activation buffers afresh and faults them in.
_PROBE = """
import json, resource
import artgenre
from artgenre._alloc import allocator_mode
import torch
from artgenre.models import build_model
torch.manual_seed(0)
model = build_model(name="cnn", input_size=64)
x = torch.rand(32, 1, 64, 64)
def step():
    model.zero_grad()
    model(x).sum().backward()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step(); step()
before = faults()
for _ in range(3):
    step()
print(json.dumps({"mode": allocator_mode(), "faults": faults() - before}))
"""


_MODE_PROBE = "import json, artgenre._alloc as a; print(json.dumps({'mode': a.allocator_mode()}))"


def _probe(code: str = _PROBE, **env) -> dict:
    full = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the allocator setting applies to Linux + glibc only")
def test_import_keeps_freed_buffers_and_the_env_var_turns_it_off():
    kept, system = _probe(), _probe(ARTGENRE_MALLOC="system")
    assert kept["mode"] == "retain" and system["mode"] == "system"
    # Measured ~11x fewer faults with the setting; 3x leaves room for allocator noise.
    assert kept["faults"] * 3 < system["faults"]


def test_glibc_variables_and_bad_values_leave_the_defaults_alone():
    assert _probe(_MODE_PROBE, MALLOC_MMAP_MAX_="65536")["mode"] in ("glibc-env", "unsupported")
    assert _probe(_MODE_PROBE, ARTGENRE_MALLOC="bogus")["mode"] == "system"


def test_this_process_was_configured_at_import():
    from artgenre._alloc import allocator_mode

    assert allocator_mode() in ("retain", "system", "glibc-env", "unsupported")


def test_lock_file_pins_every_package_and_meta_names_it():
    lines = [ln.strip() for ln in LOCK_FILE.read_text(encoding="utf-8").splitlines()]
    pins = [ln for ln in lines if ln and not ln.startswith("#")]
    assert pins and all("==" in ln and ";" not in ln for ln in pins)
    names = {ln.split("==")[0].lower() for ln in pins}
    assert {"torch", "torchvision", "adversarial-robustness-toolbox", "numpy"} <= names
    meta = run_metadata()
    assert len(meta["lock"]) == 16 and meta["malloc"] is not None
