"""All-class gradients for DeepFool: artgenre's ``class_gradient`` versus ART's default.

ART's ``PyTorchClassifier.class_gradient(x)`` runs one forward pass and then one backward pass
per class (``retain_graph``); `artgenre.art_adapter.ArtGenreClassifier` takes all class
gradients from batched passes, with the weights frozen, and computes them only when read
(ART's ``DeepFool`` asks for one set per sample more than it reads). Both sides wrap the same
model: with ``--results`` (a finished ``make run``), the trained checkpoints and the first
``--samples`` correctly classified test segments of the built-in dataset; else the models of
`build_model` at random init on random inputs (DeepFool then often stalls at the decision
boundary, where float rounding decides how many iterations it takes; the iteration counts
printed show it). Printed per model:

- ``class_gradient`` alone, at ``--batch`` samples: median seconds per call of ART's path with
  frozen weights and with trainable weights (ART used on its own), artgenre's path (computed),
  and the speed-ups; calls alternate so that other load hits both sides alike;
- ART's ``DeepFool`` end to end, one sample per call, the three arms alternating per sample:
  seconds, class-gradient sets requested, the speed-ups, and the largest difference between the
  two sides' adversarial examples (must be <= 1e-5), over the samples on which both took the
  same number of iterations;
- artgenre's one-sample calls run side by side, one per CPU thread, each on one torch thread
  (`artgenre.attacks.cells.generate_chunks` with ``workers``: how `artgenre.attacks.minimal`
  runs DeepFool on a CPU), on all samples in one go after the arms above: seconds, the speed-up over ART's default path (ART's classifier, one sample
  after another on every thread) and over artgenre's one after another, and whether the
  examples equal the one-after-another ones bit for bit. ART's own classifier cannot run this
  way (its ``class_gradient`` calls ``model.zero_grad()``, which two threads race on).

Usage::

    python benchmarks/deepfool_gradients.py [--results results] [--batch 1] [--repeats 3]
                                            [--samples 16] [--max-iter 50] [--models cnn resnet18]
                                            [--device auto]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from artgenre.art_adapter import as_art_classifier
from artgenre.attacks.cells import generate_chunks
from artgenre.models import build_model
from artgenre.runtime import resolve_device


def _reference(model, device):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 128, 128),
                             nb_classes=10, clip_values=(0.0, 1.0),
                             device_type="gpu" if device.type == "cuda" else "cpu")


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _set_trainable(model, flag: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(flag)


def _model_and_inputs(*, name: str, device, results: str | None, samples: int, rng):
    """The model (eval mode) and ``samples`` inputs: trained + real test segments, or random."""
    if results:
        from artgenre.checkpoint import load_checkpoint
        from artgenre.evaluation import predict_logits
        from artgenre.runs import load_checkpoint_data

        ckpt = load_checkpoint(Path(results) / "checkpoints" / f"{name}.pt", device=str(device), expected_model=name)
        data = load_checkpoint_data(checkpoint=ckpt, progress=False)
        x, y = np.asarray(data.test.x, dtype=np.float32), np.asarray(data.test.y)
        clf = as_art_classifier(ckpt.model, device=str(device))
        right = np.flatnonzero(predict_logits(clf, x, batch_size=64).argmax(axis=1) == y)
        return ckpt.model.eval(), x[right[:samples]], "trained checkpoint, correct test segments"
    torch.manual_seed(0)
    model = build_model(name=name).to(device).eval()
    return model, rng.random((samples, 1, 128, 128), dtype=np.float32), "random init, random inputs"


def _counting(clf):
    """Wrap ``clf.class_gradient`` to count calls (the sets of gradients DeepFool requests)."""
    calls = [0]
    inner = clf.class_gradient

    def class_gradient(*args, **kwargs):
        calls[0] += 1
        return inner(*args, **kwargs)

    clf.class_gradient = class_gradient
    return calls


class _Plain:
    """An ART attack as `generate_chunks` expects it (labels ignored: DeepFool needs none)."""

    def __init__(self, attack) -> None:
        self.attack = attack

    def generate(self, x, y=None):
        return self.attack.generate(x)

    def weights_frozen(self):
        return contextlib.nullcontext()


def bench_model(*, name: str, device, batch: int, repeats: int, samples: int, max_iter: int,
                results: str | None = None) -> dict:
    """Timings and the equality check for one model (see the module docstring)."""
    from art.attacks.evasion import DeepFool

    rng = np.random.default_rng(0)
    model, xs, source = _model_and_inputs(name=name, device=device, results=results, samples=max(samples, batch),
                                          rng=rng)
    fast = as_art_classifier(model, device=str(device))
    ref = _reference(model, device)
    model.eval()
    x = xs[:batch]

    arms = {
        "art_frozen": (ref, False),
        "art_trainable": (ref, True),
        "artgenre": (fast, False),
    }
    times: dict[str, list[float]] = {k: [] for k in arms}
    for k, (clf, trainable) in arms.items():  # warm-up
        _set_trainable(model, trainable)
        np.asarray(clf.class_gradient(x))
    for _ in range(repeats):
        for k, (clf, trainable) in arms.items():
            _set_trainable(model, trainable)
            times[k].append(_seconds(lambda: np.asarray(clf.class_gradient(x))))
    med = {k: statistics.median(v) for k, v in times.items()}

    xs = xs[:samples]
    workers = torch.get_num_threads() if device.type == "cpu" else 1
    seq_arms = dict(arms)
    # Not ART's classifier: its class_gradient calls model.zero_grad(), which two threads race
    # on (with trainable weights the run failed, with frozen ones after it the process crashed).
    par_arms = {"artgenre_side_by_side": (fast, False)}
    arms = {**seq_arms, **par_arms}
    out = {k: np.empty_like(xs) for k in arms}
    secs = {k: np.zeros(len(xs)) for k in arms}
    calls = {k: np.zeros(len(xs), dtype=int) for k in seq_arms}
    counters = {id(ref): _counting(ref), id(fast): _counting(fast)}
    attacks = {k: DeepFool(clf, max_iter=max_iter, epsilon=0.02, nb_grads=10, batch_size=1, verbose=False)
               for k, (clf, _) in arms.items()}
    for k, (clf, trainable) in arms.items():  # warm-up
        _set_trainable(model, trainable)
        attacks[k].generate(xs[:1])
    for i in range(len(xs)):  # alternate per sample, as above
        for k, (clf, trainable) in seq_arms.items():
            _set_trainable(model, trainable)
            counter = counters[id(clf)]
            before = counter[0]
            t0 = time.perf_counter()
            out[k][i:i + 1] = attacks[k].generate(xs[i:i + 1])
            secs[k][i] = time.perf_counter() - t0
            calls[k][i] = counter[0] - before
    for k, (clf, trainable) in par_arms.items():
        # All samples in one go, as the pipeline hands them over: in smaller blocks a thread whose
        # sample flips early would wait for the others' (load imbalance the run does not have).
        _set_trainable(model, trainable)
        t0 = time.perf_counter()
        out[k] = generate_chunks(_Plain(attacks[k]), xs, np.zeros(len(xs), dtype=np.int64), 1, lambda n: None,
                                 workers=workers)
        secs[k][0] = time.perf_counter() - t0
    _set_trainable(model, True)
    same = (calls["artgenre"] == calls["art_frozen"]) & (calls["artgenre"] == calls["art_trainable"])
    diff = float(np.abs(out["art_trainable"][same] - out["artgenre"][same]).max()) if same.any() else float("nan")
    return {"cg": med, "source": source, "n": len(xs), "same": int(same.sum()), "workers": workers,
            "deepfool": {k: float(v[same].sum()) for k, v in secs.items() if k in seq_arms},
            "side_by_side": {k: float(secs[k].sum()) for k in par_arms}, "one_after_another": float(
                secs["art_trainable"].sum()), "artgenre_all": float(secs["artgenre"].sum()),
            "side_by_side_equal": bool(np.array_equal(out["artgenre_side_by_side"], out["artgenre"])),
            "calls": {k: int(v[same].sum()) for k, v in calls.items()}, "diff": diff,
            "moved": float(np.abs(out["art_trainable"] - xs).max()) if len(xs) else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", default=None, help="results folder of a finished run (trained models)")
    parser.add_argument("--samples", type=int, default=16, help="DeepFool end-to-end samples (0: skip)")
    parser.add_argument("--max-iter", type=int, default=50)
    parser.add_argument("--models", nargs="+", default=["cnn", "resnet18"])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, class_gradient batch {args.batch}, "
          f"{args.repeats} alternating repeats; DeepFool on {args.samples} samples, one per call")
    for name in args.models:
        r = bench_model(name=name, device=device, batch=args.batch, repeats=args.repeats,
                        samples=args.samples, max_iter=args.max_iter, results=args.results)
        cg = r["cg"]
        print(f"{name}: class_gradient s/call  ART frozen {cg['art_frozen']:.3f}  ART trainable "
              f"{cg['art_trainable']:.3f}  artgenre {cg['artgenre']:.3f}  speed-up "
              f"{cg['art_frozen'] / cg['artgenre']:.2f}x (vs frozen), "
              f"{cg['art_trainable'] / cg['artgenre']:.2f}x (vs trainable)")
        if args.samples:
            d, c = r["deepfool"], r["calls"]
            print(f"{name}: DeepFool end to end ({r['source']}; {r['same']} of {r['n']} samples with equal "
                  f"iteration counts)  ART trainable {d['art_trainable']:.2f} s  ART frozen {d['art_frozen']:.2f} s"
                  f"  artgenre {d['artgenre']:.2f} s  ({c['artgenre']} gradient sets requested)  speed-up "
                  f"{d['art_trainable'] / d['artgenre']:.2f}x vs ART's default, "
                  f"{d['art_frozen'] / d['artgenre']:.2f}x vs frozen; max |x_adv difference| {r['diff']:.2e} "
                  f"(<= 1e-5: {'yes' if r['diff'] <= 1e-5 else 'NO'}), max |x_adv - x| {r['moved']:.3f}")
            p = r["side_by_side"]
            print(f"{name}: DeepFool {r['workers']} samples side by side, one torch thread each (all {r['n']} "
                  f"samples)  artgenre {p['artgenre_side_by_side']:.2f} s  speed-up "
                  f"{r['one_after_another'] / p['artgenre_side_by_side']:.2f}x vs ART's default path one after "
                  f"another ({r['one_after_another']:.2f} s), {r['artgenre_all'] / p['artgenre_side_by_side']:.2f}x "
                  f"vs artgenre's one after another ({r['artgenre_all']:.2f} s); "
                  f"examples equal to one after another bit for bit: {'yes' if r['side_by_side_equal'] else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
