"""Allocator churn: step time and kernel (system) time with and without `artgenre._alloc`.

For each model (``cnn``, ``resnet18`` at 128x128) two steps are timed: a training step (forward,
backward, Adam update in training mode, batch ``--batch``) and an attack step (one input
gradient through the ART classifier in eval mode with frozen weights, as PGD takes it). Each
arm runs in its own subprocess: ``ARTGENRE_MALLOC=system`` (glibc's defaults: big buffers are
``mmap``'d and returned on every free) and the default ``retain`` (what ``import artgenre``
sets). Arms alternate (system, retain, system, ...) so that load from other processes hits both
alike. Printed per step: wall and CPU seconds per step, the system-time share of CPU time
(``stime / (utime + stime)`` from ``getrusage``), minor page faults per step, and the ratios
without/with from this one run.

Usage::

    python benchmarks/allocator.py [--batch 32] [--steps 4] [--repeats 2] [--models cnn resnet18]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ARMS = ("system", "retain")


def _usage() -> tuple[float, float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime, r.ru_stime, r.ru_minflt


def _measure(step, steps: int) -> dict:
    step()  # warm-up: first-touch faults and lazy initialisation belong to neither arm
    w0, u0, s0, f0 = _usage()
    for _ in range(steps):
        step()
    w1, u1, s1, f1 = _usage()
    cpu = (u1 - u0) + (s1 - s0)
    return {"seconds": (w1 - w0) / steps, "cpu": cpu / steps, "sys_share": (s1 - s0) / cpu if cpu > 0 else 0.0,
            "faults": (f1 - f0) / steps}


def child(*, models: list[str], batch: int, steps: int) -> dict:
    """Run in a subprocess whose ``ARTGENRE_MALLOC`` picks the arm; returns per-step numbers."""
    import artgenre  # noqa: F401  (applies the allocator setting before torch allocates)
    import numpy as np
    import torch

    from artgenre._alloc import allocator_mode
    from artgenre.art_adapter import as_art_classifier
    from artgenre.models import build_model

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 128, 128), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    onehot = np.eye(10, dtype=np.float32)[y]
    out = {"mode": allocator_mode()}
    for name in models:
        model = build_model(name=name)
        clf = as_art_classifier(model, device="cpu")
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def train_step():
            model.train()
            clf.optimizer.zero_grad()
            loss = clf.loss(model(xt), yt)
            loss.backward()
            clf.optimizer.step()

        def attack_step():
            clf.loss_gradient(x, onehot)

        out[f"{name} train"] = _measure(train_step, steps)
        for p in model.parameters():
            p.requires_grad_(False)
        out[f"{name} attack"] = _measure(attack_step, steps)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per phase (after one warm-up)")
    parser.add_argument("--repeats", type=int, default=2, help="subprocess pairs (system, retain)")
    parser.add_argument("--models", nargs="+", default=["cnn", "resnet18"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(models=args.models, batch=args.batch, steps=args.steps)))
        return 0

    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for _ in range(args.repeats):
        for arm in ARMS:
            env = {**os.environ, "ARTGENRE_MALLOC": arm}
            for var in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):
                env.pop(var, None)
            cmd = [sys.executable, __file__, "--child", "--batch", str(args.batch), "--steps",
                   str(args.steps), "--models", *args.models]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[arm].append(json.loads(done.stdout.strip().splitlines()[-1]))

    modes = {arm: runs[arm][0]["mode"] for arm in ARMS}
    print(f"batch {args.batch}, {args.steps} timed steps per phase, {args.repeats} run(s) per arm, "
          f"arms: without = {modes['system']}, with = {modes['retain']}")
    print(f"{'step':<18}{'s/step without':>15}{'with':>8}{'ratio':>7}{'CPU s without':>15}{'with':>8}{'ratio':>7}"
          f"{'sys% without':>14}{'with':>7}{'faults/step without':>21}{'with':>8}")
    keys = [k for k in runs["system"][0] if k != "mode"]
    for key in keys:
        med = {arm: {f: statistics.median(r[key][f] for r in runs[arm]) for f in ("seconds", "cpu", "sys_share", "faults")}
               for arm in ARMS}
        a, b = med["system"], med["retain"]
        print(f"{key:<18}{a['seconds']:>15.3f}{b['seconds']:>8.3f}{a['seconds'] / b['seconds']:>7.2f}"
              f"{a['cpu']:>15.3f}{b['cpu']:>8.3f}{a['cpu'] / b['cpu']:>7.2f}"
              f"{100 * a['sys_share']:>13.1f}%{100 * b['sys_share']:>6.1f}%{a['faults']:>21.0f}{b['faults']:>8.0f}")
    print("ratio = per step without / with (> 1: the fix is faster; wall time is at the mercy of other load,\n"
          "CPU time less so); target: sys% with <= 5 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
